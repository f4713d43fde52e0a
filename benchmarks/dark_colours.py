"""Flat colour patches under clipped noise: does the model undo the clipping bias?

Run:  python benchmarks/dark_colours.py [--sigma 10 25] [--weights default fast] [--no-write]

Noise added to a dark or saturated colour is clipped at 0 (and at 255 near white), so the noisy
patch's mean is lifted (or lowered) in the clipped channels; a good denoiser puts it back. For a
few flat 96×96 patches (gray levels and saturated colours, RGB) it adds white Gaussian noise,
clips and rounds to uint8, and reports the per-channel mean of the noisy patch and of each
model's output (one float32 pass, ``strength=1``), and the largest channel error in 8-bit levels.
The ``regions`` benchmark shows where this matters on photos (the dark red of ``coffee``).

Writes ``results/dark_colours.json`` and the ``dark_colours`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402

import cvdenoise  # noqa: E402

#: RGB patch colours: gray levels near both ends, saturated colours with clipped channels, and
#: full-scale ones with a channel clipped at each end (a yellow sign, a magenta logo)
COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (20, 20, 20), (128, 128, 128), (250, 250, 250),
    (60, 5, 0), (120, 10, 10), (10, 90, 20), (0, 40, 120), (200, 200, 10),
    (255, 255, 0), (255, 0, 255), (0, 200, 255),
)
SIDE = 96


def patch(colour: tuple[int, int, int], sigma: float, seed: int) -> np.ndarray:
    """``(SIDE,SIDE,3)`` uint8: a flat RGB patch plus white Gaussian noise, clipped and rounded."""
    rng = np.random.default_rng(seed)
    clean = np.broadcast_to(np.array(colour, np.float64), (SIDE, SIDE, 3))
    return np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)


def _means(img: np.ndarray) -> str:
    return " / ".join(f"{v:.1f}" for v in img.reshape(-1, 3).mean(0))


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--sigma", type=float, nargs="+", default=[10.0, 25.0])
    args = parse_models_args(ap)

    models = {w: cvdenoise.load(w, half=False, ensemble=1, strength=1.0) for w in args.weights}
    header = ["σ", "colour (RGB)", "noisy mean"] + [f"{m} mean (worst channel error)" for m in models]
    rows, data = [], []
    for sigma in args.sigma:
        for k, colour in enumerate(COLOURS):
            noisy = patch(colour, sigma, seed=k)
            outs = {m: d(noisy) for m, d in models.items()}
            errs = {m: float(np.abs(o.reshape(-1, 3).mean(0) - np.array(colour)).max()) for m, o in outs.items()}
            rows.append([f"{sigma:g}", "(" + ", ".join(map(str, colour)) + ")", _means(noisy)]
                        + [f"{_means(o)} ({errs[m]:.1f})" for m, o in outs.items()])
            data.append({"sigma": sigma, "colour": list(colour),
                         "noisy_mean": noisy.reshape(-1, 3).mean(0).tolist(),
                         "mean": {m: o.reshape(-1, 3).mean(0).tolist() for m, o in outs.items()},
                         "worst_channel_error": errs})
        worst = {m: max(r["worst_channel_error"][m] for r in data if r["sigma"] == sigma) for m in models}
        rows.append([f"{sigma:g}", "**worst**", ""] + [f"{worst[m]:.1f}" for m in models])
    publish("dark_colours", "Clipped noise on flat colours (`python benchmarks/dark_colours.py`)",
            f"{SIDE}×{SIDE} flat RGB patches plus white Gaussian noise, clipped to [0, 255] and rounded; "
            f"per-channel mean of the noisy patch and of each output (one float32 pass, strength 1), and the "
            f"largest channel error of that mean (8-bit levels). Machine: {machine()}.",
            header, rows, {"machine": machine(), "side": SIDE, "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
