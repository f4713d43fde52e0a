"""Input checks shared by the entry points (:class:`cvdenoise.Denoiser`, :mod:`cvdenoise.noise`)."""

from __future__ import annotations

import torch

#: float images may overshoot ``[0, 1]`` by this much (rounding in the caller's pipeline)
FLOAT_TOL = 1e-3


def check_float_range(x: torch.Tensor, tol: float = FLOAT_TOL) -> None:
    """Refuse a float image with NaN/inf values or values more than ``tol`` outside ``[0, 1]``
    (``ValueError``)."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError("image contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -tol or hi > 1 + tol:
        raise ValueError(
            f"float images must be in [0, 1]; got values in [{lo:.4g}, {hi:.4g}] "
            "(divide uint8 data by 255, or pass the integer array)"
        )
