"""s59: how far from the edge a raw run of the network without the 16-px mirrored border (docs/export.md, "The
context border") differs from load(): max and mean |difference| (8-bit levels) at each distance from the edge.

    python runs/s59/edge_border.py   (log: runs/s59/edge_border.log)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.weights import load_model  # noqa: E402

torch.set_num_threads(1)
rng = np.random.default_rng(0)
net = load_model("color-fast").eval()
den = cvdenoise.load("fast", half=False)
rows: dict[int, list[tuple[float, float]]] = {}
for img in list(photos(400, False).values())[:3]:
    crop = img[:359, :381]  # odd sizes, as a raw session would get them
    noisy = np.clip(crop + rng.normal(0, 20, crop.shape), 0, 255).round().astype(np.float32) / 255
    x = torch.from_numpy(noisy).permute(2, 0, 1)[None]
    with torch.inference_mode():
        raw = net(x)
    ref = den(x, strength=1.0)
    d = ((raw - ref).abs()[0].amax(0) * 255).numpy()
    h, w = d.shape
    yy, xx = np.mgrid[:h, :w]
    dist = np.minimum(np.minimum(yy, h - 1 - yy), np.minimum(xx, w - 1 - xx))
    for k in (0, 1, 2, 4, 8, 16, 24, 32, 48, 64, 96):
        rows.setdefault(k, []).append((float(d[dist == k].max()), float(d[dist == k].mean())))
print("distance from the edge (px) | max |diff| (levels, worst of 3 photos) | mean |diff|")
for k, v in rows.items():
    print(f"{k:3d} | {max(m for m, _ in v):6.2f} | {np.mean([a for _, a in v]):.3f}")
