"""Enlarged images: what each model does to a photo shrunk and enlarged back, by interpolation.

Run:  python benchmarks/upscale.py [--weights default fast] [--factors 1.5 2] [--crop 320] [--no-write]

A digital zoom or a small image resized up has no finest-scale detail of its own. The quality
benchmark's six photos (centre crops, never trained on) are shrunk by each factor (``INTER_AREA``)
and enlarged back with OpenCV's bilinear, bicubic and Lanczos interpolations; the table gives the
mean PSNR (dB) against the original crop of the enlarged input, of each model's plain output
(one float32 pass, ``strength=1``) and of ``strength="auto"`` (with its mean strength). Training
enlarged its shrunk crops bilinearly until the ``camera-mix-linear-resample`` mix
(``cvdenoise/degrade.py``, ``weights/RECIPE.md`` stage 33), so this is the check for a model
trained on it. Weights files are taken as well as shipped names.

Writes ``results/upscale.json`` and the ``upscale`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402

#: OpenCV's enlarging interpolations, by the name the table gives them
ENLARGE = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "Lanczos": cv2.INTER_LANCZOS4}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of uint8 ``a`` against the original ``b`` (as ``quality.py`` scores)."""
    return float(peak_signal_noise_ratio(b, a, data_range=255))


def enlarged(img: np.ndarray, factor: float, interpolation: int) -> np.ndarray:
    """``img`` shrunk by ``factor`` (``INTER_AREA``) and enlarged back to its size."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=interpolation)


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--factors", type=float, nargs="+", default=[1.5, 2.0])
    ap.add_argument("--crop", type=int, default=320)
    args = parse_models_args(ap)

    imgs = list(photos(args.crop, False).values())
    models = {w: cvdenoise.load(w, half=False, ensemble=1) for w in args.weights}
    header = ["enlargement", "input"] + [f"{m}: plain / auto (mean s)" for m in models]
    rows, data = [], []
    for factor in args.factors:
        for name, interpolation in ENLARGE.items():
            inputs = [enlarged(im, factor, interpolation) for im in imgs]
            entry: dict = {"factor": factor, "interpolation": name,
                           "input": float(np.mean([psnr(x, im) for x, im in zip(inputs, imgs)]))}
            cells = []
            for m, den in models.items():
                plain, auto, strength = [], [], []
                for x, im in zip(inputs, imgs):
                    plain.append(psnr(den(x, strength=1.0), im))
                    auto.append(psnr(den(x), im))
                    strength.append(den.last_strength[0])
                entry[m] = {"plain": float(np.mean(plain)), "auto": float(np.mean(auto)),
                            "auto_strength": float(np.mean(strength))}
                cells.append(f"{np.mean(plain):.2f} / {np.mean(auto):.2f} ({np.mean(strength):.2f})")
            rows.append([f"{factor:g}× {name}", f"{entry['input']:.2f}"] + cells)
            data.append(entry)
    publish("upscale", "Enlarged images (`python benchmarks/upscale.py`)",
            f"The quality benchmark's {len(imgs)} photos ({args.crop}² centre crops, not used in training) shrunk "
            "(`INTER_AREA`) and enlarged back; mean PSNR (dB) against the original crop of the enlarged input, of "
            "each model's plain output (one float32 pass, strength 1) and of `strength=\"auto\"` (its mean "
            f"strength in brackets). Machine: {machine()}.",
            header, rows, {"machine": machine(), "crop": args.crop, "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
