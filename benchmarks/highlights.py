"""Near-white areas under light noise: does the model blow them out to white?

Run:  python benchmarks/highlights.py [--weights default fast] [--no-write]

For flat near-white RGB patches (96×96) under white Gaussian noise (clipped and rounded to
uint8) and a 225→255 horizontal ramp under σ=4 noise, it reports the output's mean (8-bit
levels) and its share of pure-white pixels, and for the ramp the largest error of a column's
mean — for each model's one float32 pass at strength 1, with and without
:func:`cvdenoise.highlights.keep_highlight_level` (which ``Denoiser`` applies to every output).
A true white plate under σ=10 (half of it clipped) must stay white.

Writes ``results/highlights.json`` and the ``highlights`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402

import cvdenoise  # noqa: E402
import cvdenoise.denoiser as denoiser_module  # noqa: E402
from cvdenoise.highlights import keep_highlight_level  # noqa: E402

#: (level, σ) of the flat patches; the last is a white plate whose noise is half clipped
PATCHES: tuple[tuple[int, float], ...] = ((250, 1.0), (248, 2.0), (248, 5.0), (240, 5.0), (255, 10.0))
SIDE = 96


def _patch(level: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(level + rng.normal(0, sigma, (SIDE, SIDE, 3))), 0, 255).astype(np.uint8)


def _ramp() -> tuple[np.ndarray, np.ndarray]:
    """``(clean, noisy)``: a 225→255 ramp across 256 columns, σ=4 noise."""
    clean = np.tile(np.linspace(225, 255, 256)[None, :, None], (64, 1, 3))
    noisy = np.clip(np.rint(clean + np.random.default_rng(99).normal(0, 4, clean.shape)), 0, 255).astype(np.uint8)
    return clean, noisy


def main() -> int:
    ap = models_parser(__doc__)
    args = parse_models_args(ap)
    models = {w: cvdenoise.load(w, half=False, ensemble=1, strength=1.0) for w in args.weights}
    variants = {"without": lambda noisy, denoised, inplace=False: denoised, "with": keep_highlight_level}
    header = ["case", "noisy mean (white %)"] + [f"{m} {v} hold" for m in models for v in variants]
    rows, data = [], []
    cases = [(f"flat {lvl}, σ={s:g}", _patch(lvl, s, seed=k), None) for k, (lvl, s) in enumerate(PATCHES)]
    ramp_clean, ramp_noisy = _ramp()
    cases.append(("ramp 225→255, σ=4", ramp_noisy, ramp_clean))
    try:
        for name, noisy, clean in cases:
            row = [name, f"{noisy.mean():.1f} ({100 * (noisy == 255).mean():.0f} %)"]
            record: dict[str, object] = {"case": name, "noisy_mean": float(noisy.mean())}
            for m, den in models.items():
                for v, hold in variants.items():
                    denoiser_module.keep_highlight_level = hold  # type: ignore[assignment]
                    out = den(noisy)
                    if clean is None:
                        row.append(f"{out.mean():.1f} ({100 * (out == 255).mean():.0f} %)")
                        record[f"{m}/{v}"] = {"mean": float(out.mean()), "white_share": float((out == 255).mean())}
                    else:
                        worst = float((out.mean(axis=(0, 2)) - clean[0, :, 0]).max())
                        row.append(f"worst column +{worst:.1f}")
                        record[f"{m}/{v}"] = {"worst_column_error": worst}
            rows.append(row)
            data.append(record)
    finally:
        denoiser_module.keep_highlight_level = keep_highlight_level  # type: ignore[assignment]
    publish("highlights", "Near-white areas (`python benchmarks/highlights.py`)",
            f"{SIDE}×{SIDE} flat RGB patches and a 225→255 ramp plus white Gaussian noise, clipped and rounded; "
            "mean of each output (and its share of pure white), or for the ramp the largest error of a column's "
            "mean, in 8-bit levels; one float32 pass at strength 1, without and with the highlight hold "
            f"(`cvdenoise.highlights`). Machine: {machine()}.",
            header, rows, {"machine": machine(), "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
