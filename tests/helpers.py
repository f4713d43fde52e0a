"""Helpers shared by the tests."""

from __future__ import annotations

import numpy as np


def add_noise(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """AWGN of ``sigma`` (in 8-bit units), clipped, same dtype as ``img``."""
    rng = np.random.default_rng(seed)
    scale = 255.0 if img.dtype == np.uint8 else 65535.0 if img.dtype == np.uint16 else 1.0
    x = img.astype(np.float64) + rng.normal(0, sigma / 255.0 * scale, img.shape)
    return np.clip(np.rint(x) if scale > 1 else x, 0, scale).astype(img.dtype)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(mse, 1e-12)))
