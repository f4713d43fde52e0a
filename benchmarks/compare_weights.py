"""Quick PSNR comparison of weight files on the quality benchmark's own noisy pairs.

Run:  python benchmarks/compare_weights.py WEIGHTS [WEIGHTS ...]
      (shipped names or .safetensors files, e.g. runs/x/color-default.safetensors)

Uses the photos, presets and seeds of ``benchmarks/quality.py`` (so the figures match its
table) without the peers or timing: a few seconds per model, for choosing between training
checkpoints. Colour weights are scored on the colour presets, gray weights (or a gray family
member) on the grayscale AWGN pairs. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table  # noqa: E402
from quality import PRESETS, gray_pairs, noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.weights import load_model  # noqa: E402

GRAY_SIGMAS = (15, 25, 50)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--crop", type=int, default=320)
    args = ap.parse_args()
    imgs = list(photos(args.crop, False).values())
    color = {p: [(c, noisy_copy(c, p, i)) for i, c in enumerate(imgs)] for p in PRESETS}
    gray = {s: gray_pairs(imgs, s) for s in GRAY_SIGMAS}
    crows, grows = [], []
    for w in args.weights:
        channels = load_model(w).config.channels
        den = cvdenoise.load(w)
        if channels == 3:
            psnr = [np.mean([peak_signal_noise_ratio(c, den(n), data_range=255) for c, n in color[p]]) for p in PRESETS]
            crows.append([w] + [f"{x:.2f}" for x in psnr])
        else:
            psnr = [np.mean([peak_signal_noise_ratio(g, den(n), data_range=255) for g, n in gray[s]]) for s in GRAY_SIGMAS]
            grows.append([w] + [f"{x:.2f}" for x in psnr])
        print(f"{w}: " + " ".join(f"{x:.2f}" for x in psnr), flush=True)
    if crows:
        print(markdown_table(["colour weights"] + PRESETS, crows))
    if grows:
        print(markdown_table(["gray weights"] + [f"σ={s}" for s in GRAY_SIGMAS], grows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
