"""s56: does the shipped model's handling of an enlarged image depend on the enlargement's interpolation?

The quality benchmark's six photos (320² centre crops, not used in training): shrunk 2× (INTER_AREA),
enlarged back with each OpenCV interpolation. Mean PSNR (dB) against the original crop for the input,
the plain output (strength 1) and strength "auto" (its mean strength too).
Training's resize step enlarges with INTER_LINEAR only (cvdenoise/degrade.py `_resize`).
    python runs/s56/upscale_interp.py [weights ...]
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, "benchmarks")
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402

torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "2")))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / mse)


imgs = list(photos(320, False).values())
INTERP = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4, "area": cv2.INTER_AREA,
          "nearest": cv2.INTER_NEAREST}
for name in sys.argv[1:] or ["default", "fast"]:
    den = cvdenoise.load(name, half=False, ensemble=1)
    print(f"\n{name}: factor | up-interp | input | plain | auto (mean s)")
    for f in (1.5, 2.0):
        for iname, interp in INTERP.items():
            r = []
            for im in imgs:
                h, w = im.shape[:2]
                small = cv2.resize(im, (round(w / f), round(h / f)), interpolation=cv2.INTER_AREA)
                x = cv2.resize(small, (w, h), interpolation=interp)
                plain = den(x, strength=1.0)
                auto = den(x)
                r.append((psnr(x, im), psnr(plain, im), psnr(auto, im), den.last_strength[0]))
            a = np.mean(r, 0)
            print(f"{f:4.1f} {iname:8s} {a[0]:6.2f} {a[1]:6.2f} {a[2]:6.2f} ({a[3]:.2f})", flush=True)
