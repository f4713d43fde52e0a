"""Blind noise-level estimation (for gating clean frames and reporting).

:func:`estimate_sigma` is the robust median-absolute-deviation estimator of Donoho & Johnstone
applied to the finest diagonal Haar wavelet band: ``σ ≈ median(|HH|) / 0.6745``. The HH band of
a natural image is mostly noise, and the median ignores the few edge coefficients. It needs no
model, but it sees only the finest scale: a camera's demosaiced noise, correlated between
neighbouring pixels, reads at about 0.4 of its standard deviation.

:func:`residual_sigma` measures what a denoiser removed instead (the same robust estimate on
``noisy − denoised``): it reads correlated camera noise at 0.7–0.8 of its standard deviation,
white noise at about 0.9, and clean or JPEG-compressed photos at about 1 level, which is what
:class:`cvdenoise.FrameFilter`'s gate uses (``python benchmarks/gate.py`` compares the two).

Both skip pixels the input holds at the ends of its range (0 or full scale): there the noise was
clipped away, and an image that is mostly black or white (a night frame, a silhouette, a scan)
would otherwise read as clean however noisy its other pixels are.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["estimate_sigma", "residual_sigma"]

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
    x, batched = _as_float_batch(image)
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"image too small or malformed for noise estimation: {tuple(image.shape)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    blocks = (x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2])
    hh = (blocks[0] - blocks[1] - blocks[2] + blocks[3]) / 2
    unclipped = torch.stack([_unclipped(b) for b in blocks]).all(0)  # 2×2 blocks without a clipped pixel
    sigma = _masked_median(hh.abs(), unclipped).mean(1) * _MAD_TO_SIGMA * 255.0
    return sigma if batched else float(sigma[0])


def residual_sigma(noisy: np.ndarray | torch.Tensor, denoised: np.ndarray | torch.Tensor) -> float | torch.Tensor:
    """Noise standard deviation that a denoiser removed, in 8-bit units (0–255 scale).

    The robust (median absolute deviation) standard deviation of ``noisy − denoised``, per
    channel, averaged. Give it float images (a denoiser's float output) rather than rounded
    integers: rounding quantises the median to steps of 1.5 levels.

    Args:
        noisy: as :func:`estimate_sigma`.
        denoised: the denoiser's output for ``noisy``, same shape (any accepted dtype).

    Returns:
        a float, or a ``(B,)`` tensor for ``(B,C,H,W)`` batches.
    """
    x, batched = _as_float_batch(noisy)
    y, _ = _as_float_batch(denoised)
    if x.shape != y.shape:
        raise ValueError(f"noisy and denoised differ in shape: {tuple(noisy.shape)} vs {tuple(denoised.shape)}")
    r = x - y.to(x.device)
    keep = _unclipped(x)
    med = _masked_median(r, keep)
    mad = _masked_median((r - med[..., None, None]).abs(), keep)
    sigma = mad.mean(1) * _MAD_TO_SIGMA * 255.0
    return sigma if batched else float(sigma[0])


def _unclipped(x: torch.Tensor) -> torch.Tensor:
    """Pixels strictly inside ``(0, 1)``: at 0 or 1 any noise was clipped away."""
    return (x > 0) & (x < 1)


def _masked_median(v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Median over ``H, W`` of the kept elements of ``(B,C,H,W)`` ``v`` → ``(B,C)``; 0 where none is kept."""
    m = torch.where(keep, v, torch.full_like(v, float("nan"))).flatten(2).nanmedian(dim=2).values
    return torch.nan_to_num(m, nan=0.0)


def _as_float_batch(image: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
    """numpy ``(H,W[,C])`` or tensor ``(C,H,W)``/``(B,C,H,W)`` → float ``(B,C,H,W)`` in [0,1]."""
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
    if x.ndim != 4:
        raise ValueError(f"image malformed for noise estimation: {tuple(image.shape)}")
    return x, batched
