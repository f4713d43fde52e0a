"""Temporal smoothing of denoised video: less frame-to-frame flicker, no ghosting.

A single-frame denoiser leaves a little residual noise that changes from frame to frame, which
shows as flicker in static regions (and as jitter in a detector's boxes). A motion-adaptive
recursive filter removes it: each output pixel is blended with the previous *output* pixel,
with a weight that falls to zero where the two differ by more than ``threshold`` — i.e. where
something moved — so moving objects are not smeared::

    m  = mean_c |box5x5(current - previous)|                   # local mean change, 8-bit units
    t  = mean_c box5x5(|current - previous|) - threshold / 2   # local texture change
    d  = max(m, t)
    a  = weight * clip(1 - d / threshold, 0, 1)               # per-pixel weight of the past
    out = current + a * (previous - current)

The mean change averages residual noise out; moving *texture* keeps its local mean (a striped
shirt, foliage, a checker moving by a stripe), so its absolute change counts as well, less the
half threshold that residual noise stays under (mean |difference| of two frames with 2 levels of
residual noise each: about 2.3 levels).

:func:`temporal_blend` is the pure function; :class:`TemporalSmoother` holds the previous
frame for a stream; :func:`flicker` measures what it removes.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ._checks import is_real

__all__ = ["temporal_blend", "TemporalSmoother", "flicker"]

#: default motion threshold in 8-bit units (scaled by 257 for uint16 frames)
DEFAULT_THRESHOLD = 10.0


def _scale(dtype: np.dtype) -> float:
    return 257.0 if np.dtype(dtype) == np.uint16 else 1.0


def _channel_mean(x: np.ndarray) -> np.ndarray:
    """``(H,W)`` mean over the channels of an ``(H,W[,C])`` float32 array."""
    if x.ndim == 2:
        return x
    c = x.shape[2]
    return cv2.transform(x, np.full((1, c), 1.0 / c, np.float32)) if c <= 4 else x.mean(axis=2)


def temporal_blend(current: np.ndarray, previous: np.ndarray, weight: float, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Blend ``current`` towards ``previous`` where the scene did not move.

    Args:
        current: this frame's denoised image, ``(H,W)`` or ``(H,W,C)``, any numeric dtype.
        previous: the previous *output* frame, same shape (float32 keeps sub-level precision).
        weight: ``0..1``, the weight of the past in static regions (0 = off).
        threshold: local change (8-bit units; ×257 for uint16 input) at which blending stops.

    Returns:
        ``float32`` array shaped like ``current``, in ``current``'s value units.
    """
    if current.shape != previous.shape:
        raise ValueError(f"frame shapes differ: {current.shape} vs {previous.shape}")
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"temporal weight must be in [0, 1), got {weight}")
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    cur = current.astype(np.float32, copy=False)
    prev = previous.astype(np.float32, copy=False)
    limit = threshold * _scale(current.dtype)
    change = cv2.subtract(cur, prev)
    # local mean change: noise averages out, motion does not (OpenCV, multithreaded: ~4× numpy's time)
    diff = _channel_mean(np.abs(cv2.blur(change, (5, 5))))
    # local absolute change: moving texture, whose local mean may not change (less residual noise)
    texture = _channel_mean(cv2.blur(np.abs(change), (5, 5)))
    texture -= 0.5 * limit
    np.maximum(diff, texture, out=diff)
    a = np.multiply(diff, -1.0 / limit, out=diff)
    a += 1.0
    np.clip(a, 0.0, 1.0, out=a)
    a *= weight
    if cur.ndim == 3:
        a = a.reshape(*a.shape[:2], 1)
    out = np.subtract(prev, cur, dtype=np.float32)
    out *= a
    out += cur
    return out


class TemporalSmoother:
    """Stateful :func:`temporal_blend` over a stream of frames (resets when the size changes).

    Example:
        >>> import numpy as np
        >>> s = TemporalSmoother(0.5)
        >>> a = s(np.full((8, 8), 100, np.uint8)); b = s(np.full((8, 8), 102, np.uint8))
        >>> int(b[0, 0])  # static: pulled towards the previous output
        101
    """

    def __init__(self, weight: float = 0.5, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not is_real(weight) or not 0.0 <= float(weight) < 1.0:
            raise ValueError(f"temporal weight must be a number in [0, 1), got {weight!r}")
        if not is_real(threshold) or not 0 < float(threshold) < math.inf:
            raise ValueError(f"threshold must be a number > 0, got {threshold!r}")
        self.weight, self.threshold = float(weight), float(threshold)
        self._prev: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (call between unrelated clips)."""
        self._prev = None

    def observe(self, frame: np.ndarray) -> None:
        """Take ``frame`` as the previous output without changing it (e.g. a passed-through frame)."""
        self._prev = frame.astype(np.float32)

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """Smooth one frame; returns a new array of the same shape and dtype (never ``frame``
        itself nor the state kept for the next frame, so drawing on it changes neither).
        ``strength`` (0–1) scales the weight: a frame the denoiser changed little (a clean one,
        its strength low) has little flicker to remove and keeps its own pixels (moving fine
        detail above all)."""
        if not is_real(strength) or not 0.0 <= float(strength) <= 1.0:
            raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
        weight = self.weight * float(strength)
        if self._prev is None or self._prev.shape != frame.shape or weight == 0.0:
            self.observe(frame)
            return frame.copy()
        out = temporal_blend(frame, self._prev, weight, self.threshold)
        self._prev = out
        if np.issubdtype(frame.dtype, np.integer):
            info = np.iinfo(frame.dtype)
            return np.clip(np.rint(out), info.min, info.max).astype(frame.dtype)
        return out.astype(frame.dtype)  # (a copy also for float32: `out` is the state)


def flicker(frames: Sequence[np.ndarray], mask: np.ndarray | None = None) -> float:
    """Mean absolute change between consecutive frames (in the frames' units).

    On a static scene every change is flicker. ``mask`` (``(H,W)`` bool) restricts the
    measure to some pixels, e.g. the static background of a clip with a moving object.
    """
    if len(frames) < 2:
        raise ValueError("flicker needs at least two frames")
    diffs = []
    for a, b in zip(frames[:-1], frames[1:]):
        d = np.abs(b.astype(np.float32) - a.astype(np.float32))
        if d.ndim == 3:
            d = d.mean(axis=2)
        diffs.append(float(d[mask].mean() if mask is not None else d.mean()))
    return float(np.mean(diffs))
