"""Full-white lights on a dark background: is the background beside them kept, or darkened?

Run:  python benchmarks/lights.py [--weights color-default color-fast gray-default gray-fast] [--no-write]

A flat gray background (levels 10–128) with one full-white (255) line 2, 4 or 8 px wide, vertical
or horizontal — a street lamp, a headlight, a star trail, a text overlay on a dark frame — plus white
Gaussian noise σ=10 or 20, clipped and rounded to uint8 (160×160; the output averaged over 6 noise
seeds; one float32 pass, ``strength=1``; colour models get the gray image as three equal planes).
The error that matters is the background's in the 6 pixels on each side of the line: the models
learned, from blurred training pairs, to take the glow around a saturated light for blur and
remove it, and took it out of sharp noisy lights too — a dark band beside them (up to 19 levels
on a background of 20 before the stage-30 weights, ``weights/RECIPE.md``). Each cell: the mean
error of the two sides over the widths and orientations, and in brackets the worst side (8-bit
levels; 0 is right). The last row: the mean |error| over every side and the worst.

Writes ``results/lights.json`` and the ``lights`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402

import cvdenoise  # noqa: E402

SIZE, COL, SIDE, SEEDS = 160, 76, 6, 6
LEVELS = (10, 20, 30, 60, 128)
SIGMAS = (10.0, 20.0)
WIDTHS = (2, 4, 8)


def side_errors(den: cvdenoise.Denoiser, level: int, width: int, sigma: float, vertical: bool) -> tuple[float, float]:
    """Mean error (levels) of the ``SIDE`` background pixels left and right of (or above and below) the line."""
    img = np.full((SIZE, SIZE), float(level))
    img[:, COL:COL + width] = 255
    im = img if vertical else img.T.copy()
    outs = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        noisy = np.clip(np.rint(im + rng.normal(0, sigma, im.shape)), 0, 255).astype(np.uint8)
        if 1 in den.channels:
            out = den(noisy).astype(np.float64)
        else:
            out = den(np.repeat(noisy[..., None], 3, 2)).astype(np.float64).mean(2)
        outs.append(out if vertical else out.T)
    err = np.mean(outs, 0) - img
    rows = slice(20, SIZE - 20)
    return float(err[rows, COL - SIDE:COL].mean()), float(err[rows, COL + width:COL + width + SIDE].mean())


def main() -> int:
    ap = models_parser(__doc__)
    ap.set_defaults(weights=["color-default", "color-fast", "gray-default", "gray-fast"])  # (a family would take the gray image to its gray model)
    args = parse_models_args(ap)

    models = {w: cvdenoise.load(w, half=False, ensemble=1, strength=1.0) for w in args.weights}
    sides: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    for m, den in models.items():
        for level in LEVELS:
            for sigma in SIGMAS:
                sides[m][f"{level}/{sigma:g}"] = [e for w in WIDTHS for v in (True, False)
                                                  for e in side_errors(den, level, w, sigma, v)]

    def cell(values: list[float]) -> str:
        worst = values[int(np.argmax(np.abs(values)))]
        return f"{np.mean(values):+.1f} ({worst:+.1f})"

    header = ["background", "σ"] + [f"{m}: mean (worst side)" for m in models]
    rows = [[str(level), f"{sigma:g}"] + [cell(sides[m][f"{level}/{sigma:g}"]) for m in models]
            for level in LEVELS for sigma in SIGMAS]
    summary = {m: {"mean_abs": float(np.mean(np.abs(all_))), "worst": float(all_[int(np.argmax(np.abs(all_)))])}
               for m in models for all_ in [np.concatenate(list(sides[m].values()))]}
    rows.append(["**all**", "", *(f"\\|{summary[m]['mean_abs']:.1f}\\| ({summary[m]['worst']:+.1f})" for m in models)])
    publish("lights", "Full-white lights on a dark background (`python benchmarks/lights.py`)",
            f"A {SIZE}×{SIZE} flat background with one full-white line ({'/'.join(map(str, WIDTHS))} px, vertical or "
            f"horizontal) plus white Gaussian noise, clipped and rounded; the mean error of the background in the "
            f"{SIDE} pixels beside the line, over {SEEDS} noise seeds (one float32 pass, strength 1; 8-bit levels, "
            f"0 is right): mean over widths, orientations and sides, and the worst side. Last row: mean |error| "
            f"and the worst over all. Machine: {machine()}.",
            header, rows, {"machine": machine(), "sides": sides, "summary": summary}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
