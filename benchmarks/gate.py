"""How the noise gate of FrameFilter reads clean, compressed, white-noise and camera-noise photos.

Run:  python benchmarks/gate.py [--weights fast default] [--crop 384]

The six benchmark photos of ``quality.py`` (never trained on), cropped to ``--crop``², each
degraded by: nothing, JPEG quality 70, white Gaussian noise σ = 2/4/6/10, the camera noise of
``cvdenoise.degrade`` (shot + read noise on a Bayer mosaic, demosaiced, white balance and colour
matrix as the ``camera`` preset) at four shot-noise scales, and the second camera level followed by
JPEG quality 85 (a compressed camera frame). For each case it reports the true noise standard
deviation (``noisy − clean``, 8-bit levels) and two estimates, averaged over the photos:

* ``HH``: :func:`cvdenoise.noise.estimate_sigma` (finest diagonal wavelet band, no model),
* ``residual <w>``: :func:`cvdenoise.noise.residual_sigma` of what model ``w`` removes (the
  estimate FrameFilter's gate uses),

the gate strength each gives with the default thresholds (σ 3 → 6: 0 = passed through,
1 = fully denoised), and the PSNR (dB, against the clean photo) of the first model's output
blended by the strength from each estimate. A second table reads three clean gray textures of
scikit-image (grass, gravel, brick), whose fine detail the wavelet band takes for noise. Writes
``results/gate.json`` and the ``gate`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, photo_args, write_section  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import PRESETS, Degrader  # noqa: E402
from cvdenoise.noise import estimate_sigma, residual_sigma  # noqa: E402
from cvdenoise.video import DEFAULT_GATE  # noqa: E402


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """An RGB ``uint8`` image through a JPEG at ``quality`` (OpenCV's codec takes and gives BGR)."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _camera(scale: float, read: float) -> Degrader:
    """The ``camera`` preset (its white balance and colour matrix) at another noise level."""
    return Degrader(replace(PRESETS["camera"], camera_scale=(scale, scale), camera_read=(read / 255, read / 255)))


def cases() -> dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]:
    def awgn(s: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
        return lambda im, rng: np.clip(im + rng.normal(0, s, im.shape), 0, 255).round().astype(np.uint8)

    out: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
        "clean": lambda im, rng: im,
        "JPEG q70": lambda im, rng: _jpeg(im, 70),
    }
    out.update({f"white σ={s}": awgn(s) for s in (2, 4, 6, 10)})
    cams = {"camera 1": (0.0005, 1.0), "camera 2": (0.001, 1.5), "camera 3": (0.002, 2.0), "camera 4": (0.005, 3.0)}
    for name, (scale, read) in cams.items():
        out[name] = lambda im, rng, d=_camera(scale, read): d(im, rng)
    out["camera 2 + JPEG q85"] = lambda im, rng, d=_camera(*cams["camera 2"]): _jpeg(d(im, rng), 85)
    return out


def _psnr(x: np.ndarray, clean: np.ndarray) -> float:
    """PSNR (dB) of float ``x`` in [0,1], rounded to uint8, against the uint8 ``clean`` (inf if equal)."""
    mse = np.mean((np.rint(np.clip(x, 0, 1) * 255) - clean.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def strength(sigma: float) -> float:
    lo, hi = DEFAULT_GATE
    return float(np.clip((sigma - lo) / (hi - lo), 0.0, 1.0))


HEADING = "## FrameFilter's noise gate (`python benchmarks/gate.py`)"


def main() -> None:
    args = photo_args(__doc__, crop=384)
    imgs = list(photos(args.crop, quick=False).values())
    models = {w: cvdenoise.load(w, strength=1.0) for w in args.weights}  # the gate blends the plain output
    first = args.weights[0]
    header = ["case", "true σ", "HH", *(f"residual {w}" for w in models), "gate HH", *(f"gate {w}" for w in models),
              "PSNR input", f"PSNR {first} gated by HH", f"PSNR {first} gated by residual"]
    rows, data = [], {}
    for name, make in cases().items():
        rng = np.random.default_rng(0)
        true, hh, res = [], [], {w: [] for w in models}
        psnr_in, psnr_hh, psnr_res = [], [], []
        for im in imgs:
            noisy = make(im, rng)
            true.append(float((noisy.astype(np.float64) - im).std()))
            hh.append(float(estimate_sigma(noisy)))
            x = noisy.astype(np.float32) / 255.0
            for w, den in models.items():
                with torch.inference_mode():
                    y = den(x)
                res[w].append(float(residual_sigma(x, y)))
                if w == first:
                    psnr_in.append(_psnr(x, im))
                    psnr_hh.append(_psnr(x + strength(hh[-1]) * (y - x), im))
                    psnr_res.append(_psnr(x + strength(res[w][-1]) * (y - x), im))
        means = [float(np.mean(true)), float(np.mean(hh)), *(float(np.mean(v)) for v in res.values())]
        gates = [float(np.mean([strength(s) for s in hh])), *(float(np.mean([strength(s) for s in v])) for v in res.values())]
        psnrs = [float(np.mean(v)) for v in (psnr_in, psnr_hh, psnr_res)]
        rows.append([name, *means, *gates, *psnrs])
        data[name] = {"true": true, "hh": hh, "residual": res, "psnr_input": psnr_in,
                      "psnr_gated_hh": psnr_hh, "psnr_gated_residual": psnr_res}
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else v for v in rows[-1]), flush=True)
    table = markdown_table(header, rows)
    print(table)
    tex_rows = []
    for name in ("grass", "gravel", "brick"):
        im = getattr(skdata, name)()[: args.crop, : args.crop]
        x = im.astype(np.float32) / 255.0
        wavelet = float(estimate_sigma(im))
        with torch.inference_mode():
            est = [float(residual_sigma(x, den(x))) for den in models.values()]
        tex_rows.append([f"{name} (clean, gray)", wavelet, *est, strength(wavelet), *(strength(e) for e in est)])
        data[f"texture {name}"] = {"hh": tex_rows[-1][1], "residual": dict(zip(models, est))}
    tex_table = markdown_table(["texture", "HH", *(f"residual {w}" for w in models), "gate HH",
                                *(f"gate {w}" for w in models)], tex_rows)
    print(tex_table)
    if args.no_write:
        return
    md = (
        f"{HEADING}\n\n{len(imgs)} benchmark photos ({args.crop}² crops), noise σ in 8-bit levels (mean over the photos); "
        f"gate = strength with the default thresholds σ {DEFAULT_GATE[0]:g} → {DEFAULT_GATE[1]:g} "
        "(0 = passed through, 1 = fully denoised). Machine: " + machine() + "\n\n" + table + "\n\n" + tex_table
    )
    write_section("gate", md, {"crop": args.crop, "gate": DEFAULT_GATE, "cases": data})


if __name__ == "__main__":
    main()
