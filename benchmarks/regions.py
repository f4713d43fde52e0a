"""Where the error is: flat against textured regions, ours against FFDNet.

Run:  python benchmarks/regions.py [--sigma 15 25] [--weights default fast]

On the six photos and the AWGN pairs of ``benchmarks/quality.py`` (same crops, same seeds) it
splits every photo into *flat* pixels (the clean luma's standard deviation over a 9×9 window
below 2 levels of 255) and *textured* ones, and reports the mean squared error (8-bit levels²)
of each model on each part, and FFDNet's given the true σ. A model that loses to FFDNet on the
textured part but not on the flat one is losing fine detail, not leaving noise in smooth areas.
Our models run as ``cvdenoise.load(name, half=False, ensemble=1)`` (one float32 pass).

Writes ``results/regions.json`` and the ``regions`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402
from quality import Peers, noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402

FLAT_STD = 2.0  # 8-bit levels: below this local standard deviation a pixel counts as flat
WINDOW = 9


def flat_mask(clean_rgb: np.ndarray) -> np.ndarray:
    """``(H,W)`` bool: pixels whose clean luma varies by less than :data:`FLAT_STD` around them."""
    g = cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(g, (WINDOW, WINDOW))
    var = cv2.blur(g * g, (WINDOW, WINDOW)) - mean * mean
    return np.sqrt(np.maximum(var, 0.0)) < FLAT_STD


def region_errors(out: np.ndarray, clean: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel squared errors (8-bit levels², mean over channels) of the flat and the textured pixels."""
    se = ((out.astype(np.float32) - clean.astype(np.float32)) ** 2).mean(axis=2)
    return se[flat], se[~flat]


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


def _json(flat: float, textured: float) -> dict[str, float | None]:
    """JSON has no NaN: a region a photo does not have is ``null``."""
    return {k: None if np.isnan(v) else v for k, v in (("flat", flat), ("textured", textured))}


def _cell(flat: float, textured: float) -> str:
    return " / ".join("-" if np.isnan(v) else f"{v:.1f}" for v in (flat, textured))


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--sigma", type=int, nargs="+", default=[15, 25], choices=[15, 25, 50])
    ap.add_argument("--crop", type=int, default=320)
    args = parse_models_args(ap)

    models = {w: cvdenoise.load(w, half=False, ensemble=1) for w in args.weights}
    peers = Peers()
    imgs = photos(args.crop, quick=False)
    header = ["σ", "photo", "flat %"] + [f"{m} flat / textured" for m in [*models, "ffdnet"]]
    rows, data = [], []
    for sigma in args.sigma:
        pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}  # model → [flat errors, textured errors] of every photo
        for i, (name, clean) in enumerate(imgs.items()):
            noisy = noisy_copy(clean, f"gaussian{sigma}", i)
            flat = flat_mask(clean)
            outs = {m: d(noisy) for m, d in models.items()} | {"ffdnet": peers.ffdnet(noisy, sigma / 255)}
            errs = {m: region_errors(o, clean, flat) for m, o in outs.items()}
            for m, (ef, et) in errs.items():
                pooled.setdefault(m, ([], []))[0].append(ef)
                pooled[m][1].append(et)
            mse = {m: (_mean(ef), _mean(et)) for m, (ef, et) in errs.items()}
            rows.append([sigma, name, f"{100 * flat.mean():.0f}"] + [_cell(f, t) for f, t in mse.values()])
            data.append({"sigma": sigma, "photo": name, "flat_fraction": float(flat.mean()),
                         "mse": {m: _json(f, t) for m, (f, t) in mse.items()}})
        tot = {m: (_mean(np.concatenate(f)), _mean(np.concatenate(t))) for m, (f, t) in pooled.items()}
        rows.append([sigma, "**all**", ""] + [_cell(f, t) for f, t in tot.values()])
        data.append({"sigma": sigma, "photo": "all", "mse": {m: _json(f, t) for m, (f, t) in tot.items()}})
    publish("regions", "Error by region (`python benchmarks/regions.py`)",
            f"The photos and AWGN pairs of the quality benchmark; mean squared error (8-bit levels², lower is "
            f"better) over *flat* pixels (clean luma's {WINDOW}×{WINDOW} standard deviation < {FLAT_STD:g}) / "
            f"*textured* pixels. Ours: one float32 pass, blind; FFDNet given the true σ. Machine: {machine()}.",
            header, rows, {"machine": machine(), "flat_std": FLAT_STD, "window": WINDOW, "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
