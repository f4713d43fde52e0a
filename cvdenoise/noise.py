"""Blind noise-level estimation (for gating clean frames and reporting).

:func:`estimate_sigma` is the robust median-absolute-deviation estimator of Donoho & Johnstone
applied to the finest diagonal Haar wavelet band: ``σ ≈ median(|HH|) / 0.6745``. The HH band of
a natural image is mostly noise, and the median ignores the few edge coefficients.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["estimate_sigma"]

_MAD_TO_SIGMA = 1.0 / 0.6745


def estimate_sigma(image: np.ndarray | torch.Tensor) -> float | torch.Tensor:
    """Noise standard deviation of an image, in 8-bit units (0–255 scale).

    Args:
        image: numpy ``(H,W)`` / ``(H,W,C)`` (uint8, uint16 or float in ``[0,1]``), or a torch
            tensor ``(C,H,W)`` / ``(B,C,H,W)`` (same dtypes).

    Returns:
        a float for numpy input and for ``(C,H,W)`` tensors, a ``(B,)`` tensor for batches.
        Channels are estimated separately and averaged.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> flat = np.full((128, 128), 0.5) + rng.normal(0, 10 / 255, (128, 128))
        >>> round(estimate_sigma(flat.astype(np.float32)))
        10
    """
    batched = isinstance(image, torch.Tensor) and image.ndim == 4
    if isinstance(image, np.ndarray):
        a = image if image.ndim == 3 else image[:, :, None]
        scale = 255.0 if a.dtype == np.uint8 else 65535.0 if a.dtype == np.uint16 else 1.0
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / scale
    elif isinstance(image, torch.Tensor):
        t = image if image.ndim == 4 else image[None]
        scale = 255.0 if t.dtype == torch.uint8 else 65535.0 if t.dtype == torch.uint16 else 1.0
        x = t.float() / scale
    else:
        raise TypeError(f"expected a numpy array or torch tensor, got {type(image).__name__}")
    if x.ndim != 4 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"image too small or malformed for noise estimation: {tuple(image.shape)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    hh = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    sigma = hh.abs().flatten(2).median(dim=2).values.mean(1) * _MAD_TO_SIGMA * 255.0
    return sigma if batched else float(sigma[0])
