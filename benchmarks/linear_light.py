"""Shot + read noise clipped in linear light: are dark regions brought down, not lifted?

Run:  python benchmarks/linear_light.py [--weights default fast] [--crop 320] [--no-write]

A raw frame developed without noise reduction, or a simulation in linear light, carries shot and
read noise drawn per pixel and channel on the *linear* intensities and clipped at 0 there; after
the sRGB curve the clipped read noise lifts everything near black (the noisy mean of a dark
region is several levels above the clean one). A denoiser should bring such regions back down;
``color-default`` before stage 26 (weights/RECIPE.md) lifted them further, to a milky gray.

On the six benchmark photos of ``quality.py`` (never trained on; ``--crop``² centre crops) each
case decodes the photo with the sRGB curve, draws Poisson counts at ``peak`` photons for white
plus Gaussian read noise of ``read`` photons (seed fixed per photo), clips to [0, 1] and encodes
again (uint8) — the ``linear`` noise kind of ``cvdenoise.degrade`` — and the same on their luma
(``gray`` rows: the family's gray model). Reported: mean PSNR (dB
against the clean photo) of the input and of each model as ``cvdenoise.load(w, half=False,
ensemble=1)`` gives it (``strength="auto"``), and the mean shift of all the photos' dark pixels
(clean luma < 50, pooled) in 8-bit levels. Writes the ``linear_light`` section
of RESULTS.md and ``results/linear_light.json``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio as psnr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import PRESETS, Degrader  # noqa: E402

#: (photons at white, read noise in photons)
CASES: tuple[tuple[float, float], ...] = ((60, 2), (150, 2), (300, 1), (1000, 3))
DARK = 50  # clean luma below this: a dark pixel


def noisy_copy(clean: np.ndarray, peak: float, read: float, seed: int) -> np.ndarray:
    """``clean`` (H,W,3) or (H,W) uint8 with the ``linear`` noise kind of :mod:`cvdenoise.degrade` (the one
    stage 26 trained on) at ``peak`` photons for white and ``read`` photons of read noise, uint8."""
    config = replace(PRESETS["camera"], noise_kinds=(("linear", 1.0),), camera_scale=(1 / peak, 1 / peak),
                     linear_read=(read / peak, read / peak))
    return Degrader(config)(clean, np.random.default_rng(seed))


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--crop", type=int, default=320)
    args = parse_models_args(ap)

    imgs = photos(args.crop, quick=False)
    luma = {k: cv2.cvtColor(v, cv2.COLOR_RGB2GRAY) for k, v in imgs.items()}
    models = {w: cvdenoise.load(w, half=False, ensemble=1) for w in args.weights}
    header = ["photos, peak / read (photons)", "input PSNR (dark shift)"] + [f"{w} PSNR (dark shift)" for w in models]
    rows, data = [], []
    for kind, peak, read in [(k, p, r) for k in ("colour", "gray") for p, r in CASES]:
        c = 3 if kind == "colour" else 1  # (a single weights file runs one kind: the other's rows show "-")
        names = ["input", *(w for w, d in models.items() if c in d.channels)]
        psnrs: dict[str, list[float]] = {w: [] for w in names}
        shifts: dict[str, list[np.ndarray]] = {w: [] for w in names}  # every dark pixel's shift, pooled over the photos
        for i, (name, colour) in enumerate(imgs.items()):
            clean = colour if kind == "colour" else luma[name]  # (gray: the family's gray model)
            noisy = noisy_copy(clean, peak, read, seed=2000 + i)
            dark = luma[name] < DARK
            outs = {"input": noisy, **{w: models[w](noisy) for w in names[1:]}}
            for w, out in outs.items():
                psnrs[w].append(float(psnr(clean, out, data_range=255)))
                shifts[w].append(out[dark].astype(np.float64) - clean[dark])
        mean = {w: (float(np.mean(psnrs[w])), float(np.concatenate(shifts[w]).mean())) for w in names}
        rows.append([f"{kind}, {peak:g} / {read:g}"] + [f"{mean[w][0]:.2f} ({mean[w][1]:+.1f})" if w in mean else "-"
                                                        for w in ("input", *models)])
        data.append({"photos": kind, "peak": peak, "read": read, "psnr_db": {w: m[0] for w, m in mean.items()},
                     "dark_shift": {w: m[1] for w, m in mean.items()}})
    publish("linear_light", "Shot + read noise clipped in linear light (`python benchmarks/linear_light.py`)",
            f"The {len(imgs)} benchmark photos ({args.crop}² centre crops, never trained on), sRGB-decoded, Poisson "
            f"shot noise at `peak` photons for white plus Gaussian read noise of `read` photons drawn per pixel and "
            f"channel, clipped to [0, 1] in linear light and encoded again (uint8); `gray`: the same on their luma "
            f"(the family's gray model). Mean PSNR (dB) and, in "
            f"brackets, the mean shift of all the dark pixels (clean luma < {DARK}, pooled; 8-bit levels). Ours: "
            f"`cvdenoise.load(w, half=False, ensemble=1)` (automatic strength). Machine: {machine()}.",
            header, rows, {"machine": machine(), "crop": args.crop, "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
