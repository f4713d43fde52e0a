"""How the noise gate of FrameFilter reads clean, compressed, white-noise and camera-noise photos.

Run:  python benchmarks/gate.py [--weights fast default] [--crop 384]
      python benchmarks/gate.py --calibrate [--photos .gpudata] [--sets more:1] [--weights gray-fast gray-default]

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
scikit-image (grass, gravel, brick), whose fine detail the wavelet band takes for noise. A third
reads the photos' luma (gray frames, which the gray twins denoise): clean, JPEG q70 and white
noise, the residual σ and the σ the gate reads from it through the model card's ``gate_reading``.
Writes ``results/gate.json`` and the ``gate`` section of RESULTS.md.

``--calibrate`` measures, for each of ``--weights`` (the gray models by default: a colour model
reads white noise at 0.9–1.06 of its σ, a gray one at 0.3–0.8), the mean residual σ it removes
from the luma of its *training* photos (256² centre crops, as ``strength.py --calibrate``; by
default the clean high-resolution ones, ``more``: the JPEG'd OpenCV samples of ``photos`` carry
artifacts a model removes as well, so their residual reads 1–2 levels high even without noise)
under white noise of σ in :data:`CALIBRATION_SIGMAS`, and writes the pairs to the model card as
``gate_reading`` (:class:`cvdenoise.noise.GateReading`), through which FrameFilter's gate reads
a frame's residual as the white-noise σ it stands for.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import argparse
import json

import cv2
import numpy as np
import torch
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, training_crops, write_section  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import PRESETS, Degrader  # noqa: E402
from cvdenoise.noise import GateReading, estimate_sigma, residual_sigma  # noqa: E402
from cvdenoise.video import DEFAULT_GATE  # noqa: E402
from cvdenoise.weights import WEIGHTS_DIR  # noqa: E402

#: white-noise σ (8-bit levels) at which --calibrate reads each model's residual
CALIBRATION_SIGMAS = (2, 3, 4, 5, 6, 8, 10, 15, 25)


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


def _awgn(im: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).round().astype(np.uint8)


def _residual(den: cvdenoise.Denoiser, noisy: np.ndarray) -> float:
    """:func:`residual_sigma` (8-bit units) of what ``den`` (strength 1) removes from uint8 ``noisy``."""
    x = noisy.astype(np.float32) / 255.0
    with torch.inference_mode():
        return float(residual_sigma(x, den(x, strength=1.0)))


def calibrate(args: argparse.Namespace) -> None:
    """Fit each model's :class:`GateReading` on the luma of its training photos; write the cards."""
    imgs = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in training_crops(Path(args.photos), args.sets)]
    print(f"{len(imgs)} training crops from {args.photos} (luma)", flush=True)
    for name in args.weights:
        den = cvdenoise.load(name, half=False, ensemble=1)
        rng = np.random.default_rng(0)
        residual = [float(np.mean([_residual(den, _awgn(im, s, rng)) for im in imgs])) for s in CALIBRATION_SIGMAS]
        residual = list(np.maximum.accumulate(np.add(residual, np.arange(len(residual)) * 1e-3)))  # (strictly rising)
        reading = GateReading(tuple(map(float, CALIBRATION_SIGMAS)), tuple(residual))
        print(f"{name}: " + ", ".join(f"σ {s} → {r:.2f}" for s, r in zip(CALIBRATION_SIGMAS, residual)), flush=True)
        if args.no_write:
            continue
        card_path = Path(name).with_suffix(".json") if name.endswith(".safetensors") else WEIGHTS_DIR / f"{name}.json"
        card = json.loads(card_path.read_text())
        card["gate_reading"] = {**reading.to_card(), "fitted_on": f"luma of {len(imgs)} training crops (256²) of "
                                f"{' '.join(args.sets)}, white noise, `python benchmarks/gate.py --calibrate`"}
        card_path.write_text(json.dumps(card, indent=2) + "\n")


def gray_rows(imgs: list[np.ndarray], names: list[str]) -> tuple[list[str], list[list[object]]]:
    """The luma of the photos as gray frames: residual σ, the σ the gate reads, its strength, PSNR gated."""
    lumas = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in imgs]
    dens = {w: cvdenoise.load(w, strength=1.0) for w in names}
    header = ["gray case", "true σ", *(f"{w}: residual → read σ (gate)" for w in names),
              *(f"PSNR input → {w} gated by the residual as is → by the read σ" for w in names)]
    gray_cases: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
        "clean": lambda im, rng: im,
        "JPEG q70": lambda im, rng: cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 70])[1],
                                                 cv2.IMREAD_GRAYSCALE),
    }
    gray_cases.update({f"white σ={s}": (lambda im, rng, s=s: _awgn(im, s, rng)) for s in (2, 3, 4, 6, 10)})
    rows: list[list[object]] = []
    for case, make in gray_cases.items():
        rng = np.random.default_rng(0)
        noisy = [make(im, rng) for im in lumas]
        true = float(np.mean([(n.astype(np.float64) - im).std() for n, im in zip(noisy, lumas)]))
        cells, psnrs = [], []
        for w, den in dens.items():
            reading = den.gate_readings.get(1)
            res, read, p_in, p_raw, p_out = [], [], [], [], []
            for n, im in zip(noisy, lumas):
                x = n.astype(np.float32) / 255.0
                with torch.inference_mode():
                    y = den(x)
                res.append(float(residual_sigma(x, y)))
                read.append(reading.white_sigma(res[-1]) if reading else res[-1])
                p_in.append(_psnr(x, im))
                p_raw.append(_psnr(x + strength(res[-1]) * (y - x), im))
                p_out.append(_psnr(x + strength(read[-1]) * (y - x), im))
            cells.append(f"{np.mean(res):.2f} → {np.mean(read):.2f} ({np.mean([strength(v) for v in read]):.2f})")
            psnrs.append(f"{np.mean(p_in):.2f} → {np.mean(p_raw):.2f} → {np.mean(p_out):.2f}")
        rows.append([case, true, *cells, *psnrs])
        print(" | ".join(map(str, rows[-1])), flush=True)
    return header, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", nargs="+", default=None, help="default: fast default (--calibrate: gray-fast gray-default)")
    ap.add_argument("--crop", type=int, default=384)
    ap.add_argument("--calibrate", action="store_true", help="fit the gray models' gate_reading; write the model cards")
    ap.add_argument("--photos", default=".gpudata", help="--calibrate: training-photo root (scripts/training_photos.py OUT)")
    ap.add_argument("--sets", nargs="+", default=["more:1"], metavar="FOLDER:STEP",
                    help="--calibrate: every STEP-th photo of each FOLDER under --photos")
    add_write_option(ap)
    args = ap.parse_args()
    if args.calibrate:
        args.weights = args.weights or ["gray-fast", "gray-default"]
        return calibrate(args)
    args.weights = args.weights or ["fast", "default"]
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
    gray_header, gray = gray_rows(imgs, args.weights)
    gray_table = markdown_table(gray_header, gray)
    print(gray_table)
    if args.no_write:
        return
    md = (
        f"{HEADING}\n\n{len(imgs)} benchmark photos ({args.crop}² crops), noise σ in 8-bit levels (mean over the photos); "
        f"gate = strength with the default thresholds σ {DEFAULT_GATE[0]:g} → {DEFAULT_GATE[1]:g} "
        "(0 = passed through, 1 = fully denoised). Machine: " + machine() + "\n\n" + table + "\n\n" + tex_table
        + "\n\nGray frames (the photos' luma, denoised by the gray twins): the residual σ, the σ the gate reads "
        "from it through the model card's `gate_reading` (`python benchmarks/gate.py --calibrate`, fitted on training "
        "photos) and its mean strength; PSNR of the input and of the output gated by the residual as it is (the gate "
        "before the reading) and by the read σ (now).\n\n" + gray_table
    )
    write_section("gate", md, {"crop": args.crop, "gate": DEFAULT_GATE, "cases": data,
                               "gray": {"header": gray_header, "rows": gray}})


if __name__ == "__main__":
    main()
