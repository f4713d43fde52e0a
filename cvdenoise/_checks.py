"""Input checks shared by the entry points (:class:`cvdenoise.Denoiser`, :mod:`cvdenoise.noise`)."""

from __future__ import annotations

import numbers
from typing import Sequence, TypeGuard

import numpy as np
import numpy.typing as npt
import torch

#: float images may overshoot ``[0, 1]`` by this much (rounding in the caller's pipeline)
FLOAT_TOL = 1e-3
#: how far outside [0, 1] interpolation overshoot reaches: a hard 0→1 step shrunk, 8 % (bicubic) to 12 % (Lanczos);
#: enlarged, 23 % (bicubic) to 27 % (Lanczos: OpenCV's INTER_LANCZOS4, measured in s59)
OVERSHOOT = 0.3


#: what the range error suggests to an API user
FLOAT_HINT = "divide uint8 data by 255, or pass the integer array"


def not_an_image_hint(obj: object) -> str:
    """A hint for an object given where an image array was expected, for the kinds users pass by mistake
    (``""`` for others): an OpenCV ``UMat``, a list or tuple of images."""
    if type(obj).__name__ == "UMat":
        return " (umat.get() gives its numpy array)"
    if isinstance(obj, (list, tuple)):
        return " (one image per call, or a (B,C,H,W) torch tensor for a batch: torch.stack of (C,H,W) tensors)"
    return ""


def check_float_range(x: torch.Tensor | np.ndarray, tol: float = FLOAT_TOL, hint: str = FLOAT_HINT) -> None:
    """Refuse a float image (tensor or array) with NaN/inf values or values more than ``tol``
    outside ``[0, 1]`` (``ValueError``; ``hint`` says what to do instead)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()  # a tensor that requires grad: no autograd warning from float()
    finite = np.isfinite(x).all() if isinstance(x, np.ndarray) else torch.isfinite(x).all()
    if not bool(finite):
        raise ValueError("image contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    slack = tol + 1e-6  # (the bound itself, also after a cast to float32, is inside)
    if lo < -slack or hi > 1 + slack:
        if hint == FLOAT_HINT and -OVERSHOOT <= lo and hi <= 1 + OVERSHOOT:
            # (arrays and tensors, not files): a little outside is what a cubic/Lanczos resize of float data makes
            hint = ("values a little outside [0, 1] are what a bicubic or Lanczos resize of float data makes: "
                    "clamp to [0, 1] first (x.clamp(0, 1), np.clip(x, 0, 1)), or resize uint8 data")
        elif lo < -tol:  # negative values: most often normalised (mean/std) data, not a 0..255 scale
            hint = "negative values look normalised by mean/std: denoise before Normalize, on data in [0, 1]"
        why = "for rounding" if tol < 0.1 else "for unclipped noise"
        raise ValueError(f"float images must be in [0, 1] (±{tol:g} {why}); got values in [{lo:.6g}, {hi:.6g}] ({hint})")


#: a uint16 image whose values all stay below this is most likely 10/12-bit data held unscaled
LOW_BIT_LIMIT = 4096


def low_bit_uint16(x: torch.Tensor | np.ndarray) -> bool:
    """Whether ``x`` is a non-empty ``uint16`` image (array or tensor) with every value below
    :data:`LOW_BIT_LIMIT`: denoised on the 16-bit scale it is a dark image that comes back nearly unchanged."""
    if isinstance(x, torch.Tensor):
        uint16, empty = x.dtype == torch.uint16, x.numel() == 0
    else:
        uint16, empty = x.dtype == np.uint16, x.size == 0
    if not uint16 or empty:
        return False
    peak = x.to(torch.int32).max() if isinstance(x, torch.Tensor) else x.max()  # (torch has no uint16 max)
    return int(peak) < LOW_BIT_LIMIT


def uint16_scale(peak: float) -> int:
    """The full scale (``uint16`` units) a ``uint16`` image of largest value ``peak`` is taken to use:
    65535 from :data:`LOW_BIT_LIMIT` on (a dark 16-bit image is still 16-bit: the same tolerances as
    its ``uint8`` copy), else the ``2**bits - 1`` of the fewest bits (8 or more) that hold ``peak``
    (10/12-bit samples held unscaled)."""
    level = round(peak)  # (a peak read back from a float copy, as 4095.0001)
    if level >= LOW_BIT_LIMIT:
        return 65535
    return (1 << max(8, level.bit_length())) - 1


def low_bit_message(who: str, what: str = "image", effect: str | None = None) -> str:
    """The warning for :func:`low_bit_uint16` data, said by ``who`` of its ``what`` (image, frame);
    ``effect``: what ``who`` does with such data (default: the Denoiser's)."""
    effect = effect or f"is denoised as a dark 16-bit {what} and comes back nearly unchanged"
    return (f"{who}: uint16 {what} with all values below {LOW_BIT_LIMIT} (10/12-bit data held unscaled?) {effect}; "
            f"pass floats in [0, 1] (the values / 4095 for 12-bit data) or scale it to 16 bits ({what} << 4)")


def is_real(value: object) -> TypeGuard[numbers.Real]:
    """A real number (Python or numpy int/float), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value: object) -> TypeGuard[numbers.Integral]:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def image_hwc(a: np.ndarray) -> np.ndarray:
    """A numpy ``(H,W)`` / ``(H,W,C)`` image as an ``(H,W,C)`` view; ``ValueError`` naming the
    problem for another rank, an empty image or ``C`` not in 1/3/4."""
    if a.ndim not in (2, 3):
        raise ValueError(f"numpy images must be (H,W) or (H,W,C); got {a.ndim} dimensions, shape {a.shape}")
    hwc = a if a.ndim == 3 else a[:, :, None]
    if hwc.shape[0] == 0 or hwc.shape[1] == 0:
        raise ValueError(f"empty image of shape {a.shape}")
    if hwc.shape[2] not in (1, 3, 4):
        hint = "; this looks like (C,H,W): use a.transpose(1, 2, 0)" if a.ndim == 3 and a.shape[0] in (1, 3, 4) else ""
        raise ValueError(f"numpy images need 1, 3 or 4 channels in the last axis (H,W,C); got shape {a.shape}{hint}")
    return hwc


def channels_last_hint(shape: Sequence[int]) -> str:
    """``"; this looks like (H,W,C): use t.permute(2, 0, 1)"`` (or its batched form) for a tensor
    shape whose channels seem to be last, else ``""``."""
    if len(shape) < 3 or shape[-1] not in (1, 3, 4):
        return ""
    lead = ", ".join(map(str, range(len(shape) - 3)))
    order = f"{lead}, {len(shape) - 1}, {len(shape) - 3}, {len(shape) - 2}" if lead else "2, 0, 1"
    layout = "(H,W,C)" if len(shape) == 3 else "(..., H, W, C)"
    return f"; this looks like {layout}: use t.permute({order})"


def image_bchw(t: torch.Tensor) -> torch.Tensor:
    """A tensor ``(C,H,W)`` / ``(B,C,H,W)`` image as ``(B,C,H,W)``; ``ValueError`` naming the
    problem for another rank, an empty tensor or ``C`` not in 1/3/4."""
    if t.ndim not in (3, 4):
        raise ValueError(f"tensor images must be (C,H,W) or (B,C,H,W); got shape {tuple(t.shape)}")
    x = t if t.ndim == 4 else t[None]
    if x.numel() == 0:
        raise ValueError(f"empty image tensor of shape {tuple(t.shape)}")
    if x.shape[1] not in (1, 3, 4):
        hint = channels_last_hint(t.shape)
        raise ValueError(f"tensor images need 1, 3 or 4 channels in dim -3 (C,H,W); got shape {tuple(t.shape)}{hint}")
    return x


def check_tensor_kind(t: torch.Tensor) -> None:
    """``TypeError`` for a tensor that holds no plain pixel grid: sparse or other non-strided
    layouts, nested tensors and meta tensors (which have no values)."""
    kind = ("nested" if t.is_nested else f"{t.layout} layout" if t.layout != torch.strided
            else "meta (no values)" if t.is_meta else None)
    if kind is not None:
        hint = " (use t.to_dense())" if t.layout != torch.strided and not t.is_nested else ""
        raise TypeError(f"tensor images must be dense strided tensors with values; got a {kind} tensor{hint}")


def check_tensor_dtype(dtype: torch.dtype) -> None:
    """``TypeError`` unless ``dtype`` is one a tensor image may have: uint8, uint16 or float."""
    if dtype not in (torch.uint8, torch.uint16) and not dtype.is_floating_point:
        hint = ""
        if dtype in (torch.int8, torch.int16, torch.int32, torch.int64):  # (PIL mode I after v2.ToImage() is int32)
            hint = (" (an image held as signed integers, e.g. a PIL mode-I image after v2.ToImage(): "
                    "t.to(torch.uint8) for 8-bit values 0..255, t.to(torch.uint16) for 16-bit ones up to 65535)")
        raise TypeError(f"unsupported tensor dtype {dtype}; expected uint8, uint16 or float in [0,1]{hint}")


def check_array_dtype(dtype: np.dtype) -> None:
    """``TypeError`` unless ``dtype`` is one a numpy image may have: uint8, uint16 or float."""
    if dtype not in (np.uint8, np.uint16) and not np.issubdtype(dtype, np.floating):
        hint = ""
        if np.issubdtype(dtype, np.signedinteger):
            hint = " (a.astype(np.uint8) for 8-bit values 0..255, a.astype(np.uint16) for 16-bit ones up to 65535)"
        raise TypeError(f"unsupported image dtype {dtype}; expected uint8, uint16 or float (16/32/64 bit) in [0,1]{hint}")


def from_float(image: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """float ``[0, 1]`` → ``dtype`` (rounded and clipped for integer types)."""
    dtype = np.dtype(dtype)
    x = np.clip(image, 0.0, 1.0)
    if dtype == np.uint8:
        return np.rint(x * 255.0).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(x * 65535.0).astype(np.uint16)
    return x.astype(dtype, copy=False)
