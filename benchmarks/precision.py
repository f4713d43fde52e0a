"""Reduced precision against float32: how far ``half=True`` (bfloat16 on a CPU) moves the output.

Run:  python benchmarks/precision.py [--weights default fast] [--presets gaussian25 camera] [--no-write]

On the quality benchmark's photos (320² centre crops) and noise presets, each model runs once in
float32 and once in reduced precision (``half=True``: bfloat16 on CPUs with AMX or AVX512-BF16
units, float16 on CUDA with ``--device cuda``), one pass each (``ensemble=1``, ``strength=1``), and
the table gives the mean and largest absolute difference of the uint8 outputs (8-bit levels) and
the PSNR of each against the clean photo. Needs a device with a half type in hardware (else it says so).

Writes ``results/precision.json`` and the ``precision`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402
from quality import noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402


def _psnr(a: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - ref) ** 2)))


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--presets", nargs="+", default=["gaussian25", "camera"])
    ap.add_argument("--crop", type=int, default=320)
    ap.add_argument("--device", default="cpu")
    args = parse_models_args(ap)
    try:
        probe = cvdenoise.load("fast", device=args.device, half=True)
    except ValueError as e:
        print(f"precision.py: no reduced precision here ({e})")
        return 1
    imgs = photos(args.crop, False)
    header = ["weights", "preset", "precision", "mean difference half − fp32 (levels)", "largest (levels)", "PSNR fp32", "PSNR half"]
    rows, data = [], []
    for w in args.weights:
        full = cvdenoise.load(w, device=args.device, half=False, ensemble=1, strength=1.0)
        half = cvdenoise.load(w, device=args.device, half=True, ensemble=1, strength=1.0)
        for preset in args.presets:
            diffs, peaks, p_full, p_half = [], [], [], []
            for i, clean in enumerate(imgs.values()):
                noisy = noisy_copy(clean, preset, i)
                a, b = full(noisy), half(noisy)
                d = np.abs(a.astype(np.int16) - b)
                diffs.append(float(d.mean()))
                peaks.append(int(d.max()))
                p_full.append(_psnr(a, clean))
                p_half.append(_psnr(b, clean))
            r = {"weights": w, "preset": preset, "precision": half.precision, "mean_abs_diff": float(np.mean(diffs)),
                 "max_abs_diff": max(peaks), "psnr_fp32": float(np.mean(p_full)), "psnr_half": float(np.mean(p_half))}
            data.append(r)
            rows.append([w, preset, r["precision"], f"{r['mean_abs_diff']:.2f}", f"{r['max_abs_diff']}",
                         f"{r['psnr_fp32']:.2f}", f"{r['psnr_half']:.2f}"])
    publish("precision", "Reduced precision against float32 (`python benchmarks/precision.py`)",
            f"{len(imgs)} benchmark photos ({args.crop}² centre crops), the quality benchmark's noisy copies; one "
            f"pass each at strength 1 in float32 and with `half=True` ({probe.precision} on {args.device}); "
            f"difference of the uint8 outputs in 8-bit levels, PSNR (dB) against the clean photo. Machine: {machine()}.",
            header, rows, {"machine": machine(), "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
