"""Halo beside thin full-white lines on flat gray (s51 gray audit: gray-default darkened the background).

    python runs/s52/halo.py [WEIGHTS ...]   (names or .safetensors files; default: gray-default gray-fast)

A flat background (levels 30, 60, 128, 200) with one full-white (255) line 2, 4 or 8 px wide, vertical
or horizontal, under white Gaussian noise σ=10 and 20 (8-bit levels), the output averaged over 6 noise
seeds; strength 1, float32.  For each side of the line the mean error of the 6 background pixels
beside it (levels).  Prints the mean |side error|, the worst side error, and the mean error of the
background far from the line (the model's own bias on flat gray).
"""
from __future__ import annotations

import sys

import numpy as np

import cvdenoise

SIZE, COL = 160, 76


def side_errors(den: cvdenoise.Denoiser, level: int, width: int, sigma: float, vertical: bool) -> tuple[float, float, float]:
    img = np.full((SIZE, SIZE), level, np.float64)
    img[:, COL:COL + width] = 255
    im = img if vertical else img.T.copy()
    outs = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        noisy = np.clip(np.round(im + rng.normal(0, sigma, im.shape)), 0, 255).astype(np.uint8)
        if 1 in den.channels:
            out = den(noisy).astype(np.float64)
        else:
            out = den(np.repeat(noisy[..., None], 3, 2)).astype(np.float64).mean(2)
        outs.append(out if vertical else out.T)
    err = np.mean(outs, 0) - img
    rows = slice(20, SIZE - 20)
    left = err[rows, COL - 6:COL].mean()
    right = err[rows, COL + width:COL + width + 6].mean()
    far = err[rows, 10:COL - 30].mean()
    return float(left), float(right), float(far)


def main(names: list[str]) -> None:
    print(f"{'weights':<44}{'mean |side|':>12}{'worst side':>12}{'far':>8}")
    for name in names:
        den = cvdenoise.load(name, strength=1.0, half=False)
        sides, fars = [], []
        for level in (30, 60, 128, 200):
            for width in (2, 4, 8):
                for sigma in (10, 20):
                    for vertical in (True, False):
                        left, right, far = side_errors(den, level, width, sigma, vertical)
                        sides += [left, right]
                        fars.append(far)
        worst = sides[int(np.argmax(np.abs(sides)))]
        print(f"{str(name):<44}{np.mean(np.abs(sides)):>12.2f}{worst:>12.2f}{np.mean(fars):>8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["gray-default", "gray-fast"])
