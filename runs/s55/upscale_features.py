"""s55: what tells a clean upscale from a blurred photo, for the automatic strength of `default`.

Per 256² training crop (P/photos:4 P/more:3) and condition: the finest diagonal Haar level (estimate_sigma),
the next-coarser one, what the plain output removed (residual_sigma) and the best strength against the
reference. Two references: the original photo (blur / shrink+enlarge, as benchmarks/strength.py scores) and,
for "up" conditions (a crop enlarged, then cropped back to 256²), the enlarged input itself (clean: it should
come back unchanged).   python runs/s55/upscale_features.py [weights]
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, "benchmarks")
from _common import training_crops  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.noise import _as_float_batch, _haar_ll_hh, _mad, estimate_sigma, residual_sigma  # noqa: E402

torch.set_num_threads(2)
name = sys.argv[1] if len(sys.argv) > 1 else "default"
den = cvdenoise.load(name, half=False, ensemble=1)
crops = [c for c in training_crops(Path("P"), ["photos:4", "more:3"], crop=384) if min(c.shape[:2]) >= 384]


def coarse_level(im: np.ndarray) -> float:
    x, _ = _as_float_batch(im)
    ll, _ = _haar_ll_hh(x[..., : x.shape[-2] // 4 * 4, : x.shape[-1] // 4 * 4])
    _, hh2 = _haar_ll_hh(ll)  # (orthonormal: white noise reads the same σ at both levels, as noise_profile)
    return float(_mad(hh2[0].flatten(1)).mean()) * 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return min(60.0, 10 * np.log10(255**2 / mse)) if mse else 60.0


def up(f: float):
    def g(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        big = cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        h, w = big.shape[:2]
        y, x = (h - 256) // 2, (w - 256) // 2
        c = np.ascontiguousarray(big[y : y + 256, x : x + 256])
        return c, c  # (the input is its own reference)
    return g


def shrink(f: float):
    def g(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = im[64:320, 64:320]
        small = cv2.resize(c, (round(256 / f),) * 2, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)), c
    return g


def blur(s: float, noise: float = 0.0):
    def g(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = im[64:320, 64:320]
        b = cv2.GaussianBlur(c, (0, 0), s).astype(np.float64)
        if noise:
            b = b + np.random.default_rng(0).normal(0, noise, b.shape)
        return np.clip(b, 0, 255).round().astype(np.uint8), c
    return g


conds = {"clean": lambda im: (im[64:320, 64:320].copy(),) * 2, "up1.5": up(1.5), "up2": up(2.0), "up3": up(3.0),
         "shrink1.5": shrink(1.5), "shrink2": shrink(2.0), "blur0.7": blur(0.7), "blur1.2": blur(1.2), "blur2": blur(2.0),
         "blur1.2+w5": blur(1.2, 5.0), "up2+w3": lambda im: (lambda c: (np.clip(c[0] + np.random.default_rng(1).normal(0, 3, c[0].shape), 0, 255).round().astype(np.uint8), c[1]))(up(2.0)(im))}
S = np.linspace(0, 1, 11)
print(f"{name}: {len(crops)} crops")
print("cond        l1    l2    l2/l1   σr    best_s  dB@1-dB@best  dB@0  (medians; mean dB) ; auto's mean strength")
for cname, fn in conds.items():
    rows = []
    for im in crops:
        x, ref = fn(im)
        y = den(x.astype(np.float32) / 255, strength=1.0) * 255
        l1 = float(estimate_sigma(x)); l2 = coarse_level(x); r = float(residual_sigma(x.astype(np.float32) / 255, y / 255))
        ps = [psnr(np.clip(x + s * (y - x), 0, 255).round(), ref) for s in S]
        den(x, strength="auto")
        rows.append((l1, l2, l2 / max(l1, 1e-3), r, S[int(np.argmax(ps))], ps[-1] - max(ps), ps[0], ps[-1], max(ps),
                     den.last_strength[0]))
    a = np.array(rows)
    med = np.median(a, 0)
    print(f"{cname:10s} {med[0]:5.2f} {med[1]:5.2f} {med[2]:7.2f} {med[3]:5.2f} {med[4]:6.2f} {a[:,5].mean():8.2f}   in {a[:,6].mean():.2f} plain {a[:,7].mean():.2f} best {a[:,8].mean():.2f}  auto s {a[:,9].mean():.2f} (per crop: {' '.join(f'{v:.1f}' for v in a[:,9])})", flush=True)
