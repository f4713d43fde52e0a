"""Does a flat letterbox border change what strength="auto" gives the picture inside it?

The six benchmark photos, shrunk to 640×360, get white noise (or none) and are then padded to
640×640 as YOLO's letterbox does (gray 114; also black 0). For each, the picture's PSNR after
`load(weights)` on the picture alone and on the padded frame (cropped back), with the strengths.
Usage: python runs/s58/letterbox.py [default|fast ...]
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, "benchmarks")
import cvdenoise  # noqa: E402
from quality import photos  # noqa: E402

torch.set_num_threads(1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def main() -> None:
    names = sys.argv[1:] or ["default", "fast"]
    imgs = [cv2.resize(im, (640, 360), interpolation=cv2.INTER_AREA) for im in photos(512, False).values()]
    print("| weights | σ | pad | input dB | alone dB (s) | padded dB (s) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        den = cvdenoise.load(name)
        for sigma in (0, 3, 5, 10, 15, 25):
            for pad in (114, 0):
                rows = []
                for i, clean in enumerate(imgs):
                    rng = np.random.default_rng(i)
                    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).round().astype(np.uint8)
                    frame = np.full((640, 640, 3), pad, np.uint8)
                    frame[140:500] = noisy
                    alone = den(noisy)
                    s_alone = float(den.last_strength[0])
                    padded = den(frame)[140:500]
                    s_padded = float(den.last_strength[0])
                    rows.append((psnr(noisy, clean), psnr(alone, clean), s_alone, psnr(padded, clean), s_padded))
                m = np.mean(rows, axis=0)
                print(f"| {name} | {sigma} | {pad} | {m[0]:.2f} | {m[1]:.2f} ({m[2]:.2f}) | {m[3]:.2f} ({m[4]:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
