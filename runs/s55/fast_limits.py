"""s55 (visual audit): two limits of `fast` against `default` (docs/models.md, "Known weaknesses").

    python runs/s55/fast_limits.py      # needs P/ (scripts/training_photos.py) linked in the repository root

1. A fine regular pattern (P/extra/wp05.jpg, a render with diagonal lines, long side 800 px) under white noise:
   SSIM of each model's output against the clean image.
2. The mean level of a textured gray photo (P/extra/sk_grass.jpg) under white noise σ=25: output mean − clean mean,
   8-bit levels (the noisy input's own shift, from clipping, beside it).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity

import cvdenoise

torch.set_num_threads(2)


def awgn(im: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return np.clip(im + np.random.default_rng(seed).normal(0, sigma, im.shape), 0, 255).round().astype(np.uint8)


wp = cv2.imread("P/extra/wp05.jpg")[..., ::-1]
f = 800 / max(wp.shape[:2])
wp = np.ascontiguousarray(cv2.resize(wp, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
grass = cv2.imread("P/extra/sk_grass.jpg", cv2.IMREAD_GRAYSCALE)
models = {m: cvdenoise.load(m) for m in ("fast", "default")}
for sigma in (15, 25, 50):
    x = awgn(wp, sigma, 1)
    ssim = {m: structural_similarity(d(x), wp, channel_axis=2) for m, d in models.items()}
    print(f"wp05 σ={sigma}: SSIM input {structural_similarity(x, wp, channel_axis=2):.3f}, "
          + ", ".join(f"{m} {v:.3f}" for m, v in ssim.items()))
for sigma in (15, 25):
    x = awgn(grass, sigma, 15)
    shift = {m: float(d(x).mean()) - float(grass.mean()) for m, d in models.items()}
    print(f"sk_grass σ={sigma}: mean shift input {float(x.mean()) - float(grass.mean()):+.2f}, "
          + ", ".join(f"{m} {v:+.2f}" for m, v in shift.items()))
