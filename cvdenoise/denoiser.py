"""The one inference core: :class:`Denoiser` and :func:`load`.

Every entry point (CLI, transforms, video, exports) goes through :meth:`Denoiser.__call__`,
which owns input checking, dtype/range conversion, channel order, alpha, padding, tiling with
blended overlaps, batching, device and half precision.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import threading
import warnings
import weakref
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, Mapping, Sequence, TypeVar, Union, overload

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from ._defaults import DEFAULT_OVERLAP, DEFAULT_TILE
from ._warn import user_stacklevel
from ._checks import (
    check_array_dtype,
    check_float_range,
    check_tensor_dtype,
    check_tensor_kind,
    image_bchw,
    image_hwc,
    is_integer,
    LOW_BIT_LIMIT,
    low_bit_message,
    not_an_image_hint,
    uint16_scale,
)
from .backends import EXPORTED_SUFFIXES
from ._device import (  # re-exported: part of this module's API
    Half, Precision, Runtime, check_half, cpu_bf16_units, cpu_flags, cpu_has_fast_bf16, cpu_runs_two_bf16_passes,
    cpu_vendor, exported_runtime, resolve_device, resolve_precision, resolve_runtime,
)
from .blend import StrengthRule, auto_blend, check_strength, mix
from .noise import GateReading, _border_bands, band_pictures
from .dicom import denoise_dataset, is_dicom_dataset
from .highlights import keep_highlight_level
from .model import CONFIGS, DenoiseAutoencoder, pad_to, symmetric_pad
from .weights import FAMILIES, GRAY_TWINS, WEIGHTS_DIR, WeightsError, load_model, read_card, resolve

__all__ = [
    "Denoiser", "load", "ImageLike", "DEFAULT_OVERLAP", "GRAY_TOLERANCE", "PIL_MODES", "cpu_bf16_units", "cpu_flags",
    "cpu_has_fast_bf16", "cpu_runs_two_bf16_passes", "cpu_vendor", "resolve_device", "resolve_precision", "resolve_runtime",
    "exported_runtime",
    "Runtime",
]

#: most tile pixels one forward pass takes (tiles are batched up to ``batch_size`` within it)
TILE_PIXELS_PER_PASS = 2048 * 2048  # (fixed: not tied to DEFAULT_TILE, so the default tile never changes a pass's memory)

ImageLike = Union[np.ndarray, torch.Tensor, PIL.Image.Image]
_Array = TypeVar("_Array", bound=np.ndarray)  # the caller's array type (dtype, MaskedArray) comes back
_Tensor = TypeVar("_Tensor", bound=torch.Tensor)  # the caller's tensor type (tv_tensors.Image) comes back
if TYPE_CHECKING:
    from pydicom.dataset import Dataset as DicomDataset  # optional dependency: for the type only
#: PIL image modes a :class:`Denoiser` takes (gray, gray + alpha, RGB, RGBA, 16-bit gray in either
#: byte order, and 32-bit integer ``I`` holding 16-bit values, as Pillow < 10 opens 16-bit PNGs):
#: denoised as the numpy array they hold (``I``: as uint16; ``LA``: its gray plane, the alpha
#: plane kept as it is) and returned as a PIL image of the same mode.
PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I;16N", "I")


def _pil_hint(image: PIL.Image.Image) -> str:
    """How to make a PIL image of an unsupported mode acceptable, keeping alpha (also a palette's
    transparency), bit depth and float values where it can."""
    mode = image.mode
    if mode == "F":  # converting to an integer mode would round [0, 1] to 0 and 1
        return "np.asarray(image): a float32 array in [0, 1] is accepted"
    if mode.startswith("I"):
        return "image.convert('I;16')"
    gray = mode == "1" or (mode in ("P", "PA") and _gray_palette(image))  # (bilevel, or a palette of grays)
    if mode == "La":  # premultiplied: Pillow converts it to LA
        return "image.convert('LA')"
    if mode in ("PA", "RGBa") or mode.endswith("A") or "transparency" in image.info:
        return "image.convert('LA')" if gray else "image.convert('RGBA')"
    return "image.convert('L')" if gray else "image.convert('RGB')"


def _gray_palette(image: PIL.Image.Image) -> bool:
    """Whether every palette colour a palette image uses is a gray (``R = G = B``)."""
    palette, used = image.getpalette() or [], image.getcolors(256) or []
    indices = {int(c[0] if isinstance(c, tuple) else c) for _, c in used}  # (a PA image's colours: (index, alpha))
    return bool(indices) and all(len(palette) >= 3 * i + 3 and palette[3 * i] == palette[3 * i + 1] == palette[3 * i + 2]
                                 for i in indices)


def pil_pixels(image: PIL.Image.Image) -> np.ndarray:
    """The pixels of a PIL image of a mode in :data:`PIL_MODES` as the array a :class:`Denoiser`
    takes (``ValueError`` naming a conversion otherwise): ``(H,W[,C])``; mode ``I`` (16-bit data
    in 32-bit integers, as Pillow < 10 opens a 16-bit PNG) as uint16."""
    check_pil_mode(image)
    pixels = np.asarray(image)
    if image.mode == "I":
        if pixels.size and (int(pixels.min()) < 0 or int(pixels.max()) > 65535):
            raise ValueError(f"PIL image of mode 'I' with values in [{int(pixels.min())}, {int(pixels.max())}]: "
                             "only 16-bit data (0..65535) is supported; scale it into that range or pass "
                             "a float32 array in [0, 1]")
        pixels = pixels.astype(np.uint16)
    return pixels


def check_pil_mode(image: PIL.Image.Image) -> None:
    """Raise ``ValueError`` (with a conversion that keeps what it can) unless ``image``'s mode is
    one of :data:`PIL_MODES`, or when it has a transparent colour key (``info["transparency"]``,
    a PNG's ``tRNS``): denoising moves pixels onto and off that colour, so the key cannot be kept."""
    if image.mode not in PIL_MODES:
        raise ValueError(
            f"PIL images of mode {image.mode!r} are not supported; use one of {PIL_MODES} (e.g. {_pil_hint(image)})"
        )
    if "transparency" in image.info and image.mode != "RGBA":
        hint = ("image.convert('RGBA'), which keeps it as an alpha channel" if image.mode in ("L", "RGB")
                else "image.info.pop('transparency') to denoise the values alone")
        raise ValueError(
            f"this {image.mode} image has a transparent colour (info['transparency'] = {image.info['transparency']!r}); "
            f"denoising moves pixels onto and off that colour, so it cannot be kept: use {hint}"
        )


def _swap_red_blue_(x: torch.Tensor) -> torch.Tensor:
    """Swap channels 0 and 2 of ``(B,3,H,W)`` ``x`` in place (BGR ↔ RGB with a one-plane temporary,
    where ``x.flip(1)`` copies all three); returns ``x``."""
    with torch.inference_mode():  # (the model's outputs are inference tensors)
        first = x[:, 0].clone()
        x[:, 0] = x[:, 2]
        x[:, 2] = first
    return x


def _shares_memory(x: torch.Tensor, image: object) -> bool:
    """Whether tensor ``x`` may use the memory of the caller's ``image`` (an array or tensor)."""
    if isinstance(image, np.ndarray):
        return x.device.type == "cpu" and np.shares_memory(x.detach().numpy(), image)
    if isinstance(image, torch.Tensor):
        return x.device == image.device and x.untyped_storage().data_ptr() == image.untyped_storage().data_ptr()
    return True  # (unknown: treated as shared)


def _unchanged_copy(image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``strength=0``'s answer: a copy of the input as any strength returns it (a plain C-order
    array, not a memmap view; a contiguous or, for a channels-last batch, channels-last tensor)."""
    if isinstance(image, np.ndarray):
        return np.array(image, order="C")
    last = image.ndim == 4 and image.shape[1] > 1 and image.is_contiguous(memory_format=torch.channels_last)
    return image.detach().clone(memory_format=torch.channels_last if last else torch.contiguous_format)


def _fill_masked(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``data`` (``(H,W)`` or ``(H,W,C)``) with its masked cells set to their channel's mean over
    the unmasked cells (0 where a channel is masked whole): a masked array's no-data cells (NaN,
    out-of-range fill values) take part in the convolutions, so they get a neutral value."""
    if not mask.any():
        return data
    out = data.copy()
    planes = out.reshape(*out.shape[:2], -1)
    masks = mask.reshape(planes.shape)
    for c in range(planes.shape[-1]):
        valid = planes[..., c][~masks[..., c]]
        fill = float(valid.mean(dtype=np.float64)) if valid.size else 0.0
        planes[..., c][masks[..., c]] = round(fill) if np.issubdtype(out.dtype, np.integer) else fill
    return out


def _rewrap(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``out`` as the tensor subclass of ``like`` where that is a torchvision ``tv_tensors`` type
    (as torchvision's own transforms return it); a plain tensor for any other subclass."""
    tv = sys.modules.get("torchvision.tv_tensors")
    if tv is not None and isinstance(like, tv.TVTensor):
        return tv.wrap(out, like=like)
    return out


def _refuse_targets(t: torch.Tensor) -> None:
    """``TypeError`` for torchvision's target ``tv_tensors`` (``Mask``: class indices, ``BoundingBoxes``,
    ``KeyPoints``): denoised as pixels they would come back silently changed."""
    tv = sys.modules.get("torchvision.tv_tensors")
    if tv is None:  # (no torchvision loaded: no tv_tensors either)
        return
    if isinstance(t, tuple(getattr(tv, name) for name in ("Mask", "BoundingBoxes", "KeyPoints") if hasattr(tv, name))):
        raise TypeError(
            f"tv_tensors.{type(t).__name__} holds targets (labels, boxes or points), not an image: pass "
            "tv_tensors.Image / Video or a plain tensor (in a torchvision v2 pipeline, cvdenoise.transforms.Denoise "
            "denoises the images and leaves the targets as they are)")


_made_a_denoiser = False  # set by Denoiser(): this process has run torch's thread pool


def will_run_models() -> None:
    """Note that this process runs cvdenoise models (a :class:`Denoiser` was made, or a transform
    that loads one lazily): forked children then start with one torch thread."""
    global _made_a_denoiser
    _made_a_denoiser = True


#: every live :class:`Denoiser`, so a forked child can give each a fresh load lock
_LIVE: "weakref.WeakSet[Denoiser]" = weakref.WeakSet()


class _LoadLock:
    """A :class:`Denoiser`'s model-loading lock. It pickles and deep-copies as a fresh, unlocked
    one, once per pickle or copy: Denoisers that share their models (``copy.copy``) and are
    pickled or deep-copied together keep sharing one lock, as they keep sharing the models."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> "_LoadLock":
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_LoadLock, ())


def _one_thread_after_fork() -> None:
    """In a forked child (``multiprocessing.Pool`` on Linux) of a process that made a
    :class:`Denoiser`: one intra-op torch thread. The parent's OpenMP pool does not survive
    ``fork``, so the child's first parallel torch op would wait forever for its threads; torch's
    own DataLoader workers run one thread for that reason. (A process that only imported
    cvdenoise, such as a pre-forking server, keeps its thread count.)

    Every live Denoiser also gets a fresh ``_load_lock``: a fork made while another thread held
    it (lazily loading or placing a model) would leave the child's copy locked for good, and the
    child's first call would wait on it forever (as ``transforms._fresh_load_lock`` does for the
    transforms' lock)."""
    fresh: dict[int, _LoadLock] = {}  # (Denoisers that shared a lock, copies, share the fresh one)
    for den in list(_LIVE):
        den._load_lock = fresh.setdefault(id(den._load_lock), _LoadLock())
    if _made_a_denoiser:
        torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_one_thread_after_fork)


Backend = Callable[[torch.Tensor], torch.Tensor]
#: a strength in ``[0, 1]`` or ``"auto"`` (per image, from the model card's rule: :mod:`cvdenoise.blend`)
Strength = Union[float, np.floating, Literal["auto"]]
#: ``"rgb"`` or ``"bgr"`` (OpenCV) for 3- and 4-channel images
ChannelOrder = Literal["rgb", "bgr"]

#: colour planes that differ by at most this (8-bit levels; 3× at 0.1 % of the pixels) hold gray
#: content: a gray image saved as RGB/BGR (``cv2.imread`` of a gray file) or decoded through a
#: colour codec (:func:`gray_content`)
GRAY_TOLERANCE = 4
#: ... with up to this share of the pixels at most ``GRAY_STRAY_FACTOR`` times as far apart
GRAY_STRAY_SHARE, GRAY_STRAY_FACTOR = 0.001, 3

_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_TORCH_INT_MAX = {torch.uint8: 255.0, torch.uint16: 65535.0}
#: dihedral transforms per ensemble size (bit 0: flip W, bit 1: flip H, bit 2: transpose)
_ENSEMBLES = {1: (0,), 2: (0, 1), 4: (0, 1, 2, 4), 8: tuple(range(8))}


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 4:
        x = x.transpose(-1, -2)
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    return x


def _dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    if k & 4:
        x = x.transpose(-1, -2)
    return x


_V = TypeVar("_V")


class _Fixed(Generic[_V]):
    """A :class:`Denoiser` setting fixed when it is made: read from ``_<name>``; setting it is an
    ``AttributeError`` that says which ``cvdenoise.load`` argument sets it."""

    def __init__(self, argument: str) -> None:
        self.argument = argument

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Fixed[_V]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _V: ...
    def __get__(self, obj: object, owner: type | None = None) -> _V | _Fixed[_V]:
        return self if obj is None else getattr(obj, f"_{self.name}")

    def __set__(self, obj: object, value: object) -> None:
        raise AttributeError(f"a Denoiser's {self.name} is fixed when it is made: cvdenoise.load(..., {self.argument})")


class Denoiser:
    """Denoise images of any supported kind with a loaded model.

    Use :func:`load` to build one. Calling it returns an image of the *same type, shape and
    dtype*:

    * numpy ``(H,W)``, ``(H,W,1)``, ``(H,W,3)`` or ``(H,W,4)`` (alpha kept untouched), dtype
      ``uint8``, ``uint16`` or float in ``[0,1]``; colour order given by ``channel_order``;
    * torch ``(C,H,W)`` or ``(B,C,H,W)`` with ``C`` in 1/3/4 (RGB order by default), dtype
      ``uint8``, ``uint16`` or float in ``[0,1]``, on any device (computed on the model's
      device, returned on the input's);
    * a ``PIL.Image.Image`` of a mode in :data:`PIL_MODES` (always RGB order; returns a new
      image of the same mode and size);
    * a ``pydicom.Dataset`` (returns a copy with denoised pixel data, same bit depth and
      metadata; see :mod:`cvdenoise.dicom`).

    Float images may overshoot ``[0,1]`` by up to ``1e-3`` (rounding in the caller's pipeline;
    the output is clipped to ``[0,1]`` unless ``strength=0``); further out raises ``ValueError``.

    Args:
        models: channel count (1 or 3) → backend ``(B,C,H,W) float32 → (B,C,H,W)``, or, for
            the channel counts named in ``lazy``, a zero-argument loader returning one. An
            ``nn.Module`` given here is used in place, as ``nn.Module.to`` works: at its first
            call it is moved to ``device``, put in eval mode and made float16 (``precision
            "fp16"``) or channels-last (CPU); pass ``copy.deepcopy(module)`` to keep yours as it is.
        multiple: the backends' required size multiple (inputs are padded internally).
        device: where the model runs.
        half: reduced precision: ``True`` runs float16 on CUDA and bfloat16 on CPUs with AMX
            (Intel Sapphire Rapids and later; ~3× faster; 0.16–0.26 levels from float32 on average, a few at most: ``python benchmarks/precision.py``) or AVX512-BF16
            (AMD Zen 4 and later: ~2× faster; Intel Cooper Lake, or an Intel CPU whose AMX a
            virtual machine hides: slower than float32), and raises elsewhere; ``"auto"`` does
            the same where it is faster (:func:`cpu_has_fast_bf16`) and float32 otherwise.
            :attr:`precision` says what was chosen.
        tile: images larger than ``tile×tile`` after the ``border`` padding (so
            a side over ``tile − 2·border`` pixels) are processed in overlapping tiles, so memory
            stays bounded for any size; ``0`` disables tiling.
        overlap: tile overlap in pixels; overlaps are blended with linear ramps (no seams).
        border: mirror-pad every image by this many pixels before denoising (and crop back; the
            edge pixel repeated, numpy's ``mode="symmetric"``),
            so image borders get natural context (and tiled and single-pass runs agree there).
        batch_size: tiles / images per forward pass.
        channel_order: ``"rgb"`` or ``"bgr"`` (OpenCV) for 3- and 4-channel inputs.
        strength: ``0`` returns the input, ``1`` the model output, values between blend;
            ``"auto"`` picks it per image from what the model removed
            (:class:`~cvdenoise.blend.StrengthRule` of the model card, in ``rules``): clean,
            lightly compressed and lightly noisy images keep their fine texture, noisy ones get
            the full output. Without a rule for the model, ``"auto"`` is ``1``. Salt-and-pepper
            noise is taken out whole whatever the rule says
            (:func:`~cvdenoise.blend.auto_blend`). :attr:`last_strength` holds the strengths of the calling thread's last call.
        ensemble: geometric self-ensemble: ``1`` (off), ``2`` (+ horizontal flip), ``4``
            (+ vertical flip, transpose) or ``8`` (all flips and rotations); outputs are
            mapped back and averaged — a small PSNR gain for 2× / 4× the time.
        name: weights name, for reports.
        lazy: the channel counts whose entry in ``models`` is a loader, called once on first
            use (a backend and a loader are both callables: they cannot be told apart).
        rules: channel count of a model → its ``"auto"`` strength rule.
        gate_readings: channel count of a model → its :class:`~cvdenoise.noise.GateReading`
            (the model card's ``gate_reading``; FrameFilter's gate reads σ through it).
        runtime: where ``nn.Module`` models run: ``"torch"`` (default) or ``"onnxruntime"``
            (float32 on the CPU, :mod:`cvdenoise.ort_runtime`; the module must be a plain
            :class:`~cvdenoise.model.DenoiseAutoencoder`, copied into the graph when first
            used; ``half="auto"`` then means float32). Other backends run as they are.
    """

    def __init__(
        self,
        models: Mapping[int, Backend | Callable[[], Backend]],
        multiple: int = 8,
        device: str | torch.device = "cpu",
        half: Half = False,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        border: int = 16,
        batch_size: int = 4,
        channel_order: Literal["rgb", "bgr"] = "rgb",
        strength: Strength = "auto",
        ensemble: int = 1,
        name: str = "custom",
        lazy: Sequence[int] = (),
        rules: Mapping[int, StrengthRule] | None = None,
        runtime: Runtime = "torch",
        gate_readings: Mapping[int, GateReading] | None = None,
    ) -> None:
        if not models:
            raise ValueError("Denoiser needs at least one model")
        if set(models) - {1, 3}:
            raise ValueError(f"models must be keyed by channel count 1 or 3, got {sorted(models)}")
        self._device = resolve_device(device)
        half = check_half(half)
        if runtime == "onnxruntime" and half == "auto":  # "where fast": onnxruntime runs float32
            half = False
        self._precision: Precision = resolve_precision(half, self._device)
        self._runtime: Runtime = resolve_runtime(runtime, self._device, self._precision)
        tile, overlap, border, batch_size = self._check_tiling(tile, overlap, border, batch_size, multiple)
        self._check_order(channel_order)
        self._check_strength(strength)
        self._models: dict[int, Any] = dict(models)
        self.ensemble = ensemble  # (checked by its setter, against the models' fixed sizes too)
        self._lazy = set(lazy)
        self._unplaced = set(self._models) - self._lazy  # nn.Modules still to move to the device
        self._load_lock = _LoadLock()
        self.multiple, self.tile, self.overlap = multiple, tile, overlap
        self.border = border
        #: ``(H, W)`` of a fixed-size backend whose whole frame is the tile (set by :func:`load`
        #: for a static export): an image that fits runs in one pass, its border cut to fit
        self.tile_shape: tuple[int, int] | None = None
        self.batch_size, self.channel_order, self.strength, self.name = batch_size, channel_order, strength, name
        self.rules: dict[int, StrengthRule] = dict(rules or {})
        #: channel count of a model → how its residual σ reads white noise (FrameFilter's gate)
        self.gate_readings: dict[int, GateReading] = dict(gate_readings or {})
        self._calls = threading.local()  # per-thread record of the last call (last_strength)
        self._warned_depth = False  # unscaled 10/12-bit uint16 data: said once
        _LIVE.add(self)  # a forked child gives it a fresh _load_lock (_one_thread_after_fork)
        will_run_models()  # forked children run one torch thread from now on (_one_thread_after_fork)

    #: where the models run (``cvdenoise.load(..., device=...)``)
    device = _Fixed[torch.device]("device=...")
    #: ``"fp32"``, ``"fp16"`` (CUDA) or ``"bf16"`` (CPU autocast), from ``half``
    precision = _Fixed[Precision]("half=True/False")
    #: where the models run: ``"torch"`` or ``"onnxruntime"`` (for a model loaded from an exported
    #: file, that file's runtime)
    runtime = _Fixed[Runtime]("runtime=...")

    @property
    def half(self) -> bool:
        """Whether it runs in reduced precision (``precision != "fp32"``; fixed when made)."""
        return self._precision != "fp32"

    @half.setter
    def half(self, value: object) -> None:
        self.precision = value  # type: ignore[assignment]  # (refused with precision's message: half sets it)

    @property
    def ensemble(self) -> int:
        """Geometric self-ensemble passes, 1, 2, 4 or 8 (may be changed between calls)."""
        return self._ensemble

    @ensemble.setter
    def ensemble(self, value: object) -> None:
        if not is_integer(value) or value not in _ENSEMBLES:
            raise ValueError(f"ensemble must be one of {sorted(_ENSEMBLES)}, got {value!r}")
        for be in self._models.values():  # (passes 3-8 transpose the tiles)
            if int(value) > 2 and (size := getattr(be, "size", None)) is not None and size[0] != size[1]:
                raise ValueError(f"{getattr(be, 'path', 'the model')}: ensemble={value} transposes tiles, which a "
                                 f"non-square fixed-size export ({size[0]}×{size[1]}) cannot take")
        self._ensemble = int(value)

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata stored in an exported model file (cvdenoise version, weights, channels,
        multiple, ``precision`` of the graph, ...); ``{}`` when running weights."""
        return {k: v for be in self._models.values() if isinstance(getattr(be, "metadata", None), dict)
                for k, v in be.metadata.items()}

    @property
    def last_strength(self) -> list[float]:
        """Strength applied to each image of this thread's last call (``(B,)`` list; the
        ``"auto"`` choice). Per thread, so a shared Denoiser reports each caller its own."""
        return list(getattr(self._calls, "strength", []))  # a copy: the record stays as it was

    @last_strength.setter
    def last_strength(self, value: list[float]) -> None:
        self._calls.strength = value

    def __getstate__(self) -> dict[str, Any]:  # picklable and deep-copyable (the lock comes back fresh)
        state = self.__dict__.copy()
        del state["_calls"]
        return state

    def __copy__(self) -> "Denoiser":
        """A shallow copy shares the models (and their lazy loading, so the load lock too); its
        settings (``strength``, ``tile``, ``rules``, …) and ``last_strength`` are its own."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.rules, new.gate_readings = dict(self.rules), dict(self.gate_readings)
        new._calls = threading.local()
        _LIVE.add(new)
        return new

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_load_lock" not in state:  # (pickled by cvdenoise 0.1.0 before s56)
            self._load_lock = _LoadLock()
        self._calls = threading.local()
        _LIVE.add(self)

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_order(order: str) -> None:
        if order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {order!r}")

    @staticmethod
    def _check_strength(strength: Strength) -> None:
        check_strength(strength)

    @staticmethod
    def _check_tiling(tile: object, overlap: object, border: object, batch_size: object,
                      multiple: int) -> tuple[int, int, int, int]:
        """The tiling options as ints; ``ValueError`` naming a bad one (also when set after loading)."""
        for arg, v in (("tile", tile), ("overlap", overlap), ("border", border), ("batch_size", batch_size)):
            if not is_integer(v):
                hint = " (0: no tiling)" if arg == "tile" else ""
                raise ValueError(f"{arg} must be an integer{hint}, got {v!r}")
        t, o, b, n = int(tile), int(overlap), int(border), int(batch_size)  # type: ignore[call-overload]
        if t < 0:
            raise ValueError(f"tile must be >= 0 (0: no tiling), got {t}")
        if t and t < 2 * o + multiple:
            raise ValueError(
                f"tile ({t}) must be at least 2 × overlap ({o}) + {multiple} = {2 * o + multiple}; "
                "raise the tile or lower the overlap"
            )
        bad = [f"{k} must be >= {lo}, got {v}" for k, v, lo in (("overlap", o, 0), ("border", b, 0), ("batch_size", n, 1)) if v < lo]
        if bad:  # (only what is wrong: the command line has no --border or --batch-size)
            raise ValueError("; ".join(bad))
        return t, o, b, n

    @property
    def channels(self) -> tuple[int, ...]:
        """Channel counts with a dedicated model (others are mapped onto these)."""
        return tuple(sorted(self._models))

    def __repr__(self) -> str:
        return (
            f"Denoiser(name={self.name!r}, channels={self.channels}, device={str(self.device)!r}, "
            f"precision={self.precision!r}, runtime={self.runtime!r}, ensemble={self.ensemble}, strength={self.strength!r}, "
            f"channel_order={self.channel_order!r}, tile={self.tile}, overlap={self.overlap}, border={self.border!r})"
        )

    # ------------------------------------------------------------------ public API
    @overload
    def __call__(self, image: _Array, *, channel_order: ChannelOrder | None = ..., strength: Strength | None = ...) -> _Array: ...
    @overload
    def __call__(self, image: _Tensor, *, channel_order: ChannelOrder | None = ..., strength: Strength | None = ...) -> _Tensor: ...
    @overload
    def __call__(self, image: PIL.Image.Image, *, channel_order: ChannelOrder | None = ..., strength: Strength | None = ...) -> PIL.Image.Image: ...
    @overload
    def __call__(self, image: DicomDataset, *, channel_order: ChannelOrder | None = ..., strength: Strength | None = ...) -> DicomDataset: ...

    def __call__(
        self, image: Any, *, channel_order: ChannelOrder | None = None, strength: Strength | None = None
    ) -> Any:
        """Denoise one image (or a ``(B,C,H,W)`` tensor batch); same type, shape and dtype out.

        ``image``: numpy ``(H,W)``/``(H,W,C)`` or torch ``(C,H,W)``/``(B,C,H,W)`` (``C`` 1, 3 or 4),
        ``uint8``, ``uint16`` or float in ``[0,1]``; a PIL image of a mode in :data:`PIL_MODES`; a
        pydicom ``Dataset``. A masked array comes back masked alike (masked cells unchanged), a
        ``tv_tensors`` image wrapped alike. Not differentiable: the output is detached from autograd.
        """
        order = self.channel_order if channel_order is None else channel_order
        self._check_order(order)
        s = self.strength if strength is None else strength
        self._check_strength(s)
        self._check_tiling(self.tile, self.overlap, self.border, self.batch_size, self.multiple)  # attributes may change
        self.last_strength = []  # nothing stale is left if this call fails
        restore: Callable[[torch.Tensor], Any]
        if isinstance(image, np.ma.MaskedArray):
            return self._call_masked(image, order, s)
        if isinstance(image, np.ndarray) and not image.dtype.isnative:  # big-endian (FITS, some scientific readers)
            native = self(image.astype(image.dtype.newbyteorder("=")), channel_order=order, strength=s)
            return native.astype(image.dtype)
        if isinstance(image, np.ndarray):
            x, restore = self._from_numpy(image, self._staging_device(image.shape[:2]))
        elif isinstance(image, torch.Tensor):
            if type(image) is not torch.Tensor:  # a subclass: tv_tensors images come back wrapped alike, others plain
                _refuse_targets(image)
                return _rewrap(self(image.as_subclass(torch.Tensor), channel_order=order, strength=s), image)
            check_tensor_kind(image)
            x, restore = self._from_torch(image, self._staging_device(tuple(image.shape[-2:])))
        elif isinstance(image, PIL.Image.Image):
            return self._call_pil(image, s)
        elif is_dicom_dataset(image):
            return denoise_dataset(image, self, strength=s)  # type: ignore[arg-type]
        else:
            hint = (" (cv2.imread returns None for a file it cannot read: check the path)" if image is None else
                    " (a path: read the file first, e.g. cv2.imread(path) with channel_order='bgr')"
                    if isinstance(image, (str, os.PathLike)) else not_an_image_hint(image))
            raise TypeError(
                "expected a numpy array, torch tensor, PIL image or pydicom Dataset, "
                f"got {type(image).__module__}.{type(image).__name__}{hint}"
            )
        if s != "auto" and float(s) == 0.0:  # the input itself (checked above), bit for bit in any dtype
            self.last_strength = [0.0] * x.shape[0]
            return _unchanged_copy(image)
        alpha = x[:, 3:] if x.shape[1] == 4 else None
        rgb = x[:, :3] if alpha is not None else x
        relative = (image.dtype == np.uint16) if isinstance(image, np.ndarray) else image.dtype == torch.uint16
        if relative and not self._warned_depth and float(rgb.amax()) < LOW_BIT_LIMIT / 65535:  # (colour planes: not alpha)
            self._warned_depth = True  # (once per Denoiser: a video or a dataset of such frames warns once)
            warnings.warn(low_bit_message("cvdenoise"), UserWarning, stacklevel=user_stacklevel())  # (the user's line)
        gray = gray_content(rgb, relative=relative) if rgb.shape[1] == 3 else [False] * len(rgb)
        owned = not _shares_memory(x, image)  # x is this call's own copy: the colour order may be swapped in place
        out = self._denoise_planes(rgb, s, order, gray, owned)
        if alpha is not None:
            out = torch.cat([out, alpha], 1)
        del x, rgb, alpha  # the float input, freed before the output is quantised (48 MP: 550 MB less at the peak)
        return restore(out)

    def _call_masked(self, image: np.ma.MaskedArray, order: ChannelOrder, s: Strength) -> np.ma.MaskedArray:
        """A masked array, denoised as its data (masked cells filled from their neighbours first);
        the mask and the masked cells' values are kept."""
        mask = np.ma.getmaskarray(image)
        data = np.asarray(image.data)
        denoised = self(_fill_masked(data, mask), channel_order=order, strength=s)
        denoised[mask] = data[mask]
        return np.ma.MaskedArray(denoised, mask=mask.copy(), fill_value=image.fill_value, hard_mask=image.hardmask)

    def _call_pil(self, image: PIL.Image.Image, s: Strength) -> PIL.Image.Image:
        """A PIL image (RGB order), denoised as its array; a new image of the same mode, size and info."""
        pixels = pil_pixels(image)
        if image.mode == "LA":  # the gray plane denoised, the alpha plane kept as it is (as RGBA's)
            gray = self(np.ascontiguousarray(pixels[..., 0]), channel_order="rgb", strength=s)
            result = PIL.Image.merge("LA", (PIL.Image.fromarray(gray), image.getchannel("A")))
            result.info.update(image.info)
            return result
        pixels = self(pixels, channel_order="rgb", strength=s)
        if image.mode == "I":
            result = PIL.Image.fromarray(pixels.astype(np.int32))  # mode "I" again
        elif image.mode in ("I;16L", "I;16N"):  # fromarray names both "I;16"
            result = PIL.Image.frombytes(image.mode, image.size, pixels.astype("<u2" if image.mode == "I;16L" else "=u2").tobytes())
        else:
            result = PIL.Image.fromarray(pixels)  # (a big-endian array comes back as "I;16B")
        result.info.update(image.info)  # dpi, ICC profile, …: the pixels' meaning is unchanged
        return result

    def _denoise_planes(self, rgb: torch.Tensor, strength: Strength, order: str, gray: list[bool],
                        owned: bool = False) -> torch.Tensor:
        """``(B,C,H,W)`` float colour planes → the output at ``strength``; the images flagged
        ``gray`` (gray content stored as three planes) go through the gray model on the planes'
        mean, whose change is added to every plane (no false colour; a slight tint is kept).
        ``owned``: ``rgb`` is this call's own copy, which BGR order may turn to RGB in place
        (one full-size float copy less: 557 MB for a 48-megapixel photo)."""

        def colour(x: torch.Tensor, own: bool) -> torch.Tensor:
            if order == "bgr" and x.shape[1] == 3:
                return _swap_red_blue_(self._blend(_swap_red_blue_(x) if own else x.flip(1), strength))
            return self._blend(x, strength)

        def luma(x: torch.Tensor) -> torch.Tensor:
            m = x.mean(1, keepdim=True)
            return (x + (self._blend(m, strength) - m)).clamp_(0.0, 1.0)  # (a tinted plane may step over an end)

        if not any(gray):
            return colour(rgb, owned)
        if all(gray):
            return luma(rgb)
        out, strengths = torch.empty_like(rgb), [0.0] * len(rgb)
        for flag in (True, False):  # each kind as one batch, results in order
            idx = [i for i, g in enumerate(gray) if g == flag]
            out[idx] = luma(rgb[idx]) if flag else colour(rgb[idx], True)  # (rgb[idx]: a copy)
            for i, v in zip(idx, self.last_strength):
                strengths[i] = v
        self.last_strength = strengths
        return out

    def _blend(self, x: torch.Tensor, strength: Strength) -> torch.Tensor:
        """``(B,C,H,W)`` float input → the output at ``strength``: ``"auto"`` (per image, impulse
        noise taken out whole) or a number in ``(0, 1]`` (``__call__`` answers 0 itself).

        Bars of one exact colour along the edges (:func:`~cvdenoise.noise.border_bands`: a letterbox
        or pillarbox, padding) are kept as they are: the model and the impulse step see the picture
        between them alone (no bar edge; the bars cost no time), and the strength rule, which reads
        the whole image (a page's margins tell a drawing), leaves them out of its noise readings."""
        bands = _border_bands(x)
        if not bool(bands.any()):
            out = self._denoise_tensor(x)
        else:
            out = x.float().clone()  # (the bars: as they are)
            for idx, rows, cols in band_pictures(bands, *x.shape[-2:]):
                out[idx, :, rows, cols] = self._denoise_tensor(x[idx, :, rows, cols])
        if strength != "auto":
            self.last_strength = [float(strength)] * len(x)
            return mix(x, out, torch.full((len(x),), float(strength)))
        rule = self.rule_for(x.shape[1])
        if rule is None:  # weights without a rule: the plain output (impulses, which auto_blend takes out at any strength, too)
            self.last_strength = [1.0] * len(x)
            return out
        blended, used, _ = auto_blend(x, out, rule(x, out))  # (the impulse step reads each picture alone)
        self.last_strength = used.tolist()
        return blended

    def rule_for(self, channels: int) -> StrengthRule | None:
        """The ``"auto"`` strength rule of the model that denoises ``channels``-channel images."""
        key = channels if channels in self._models else next(iter(self._models))
        return self.rules.get(key)

    def denoise_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Core: ``(B,C,H,W)`` float in ``[0,1]`` with ``C`` in 1/3, RGB order → the plain model
        output, same shape, **float32** whatever the input's float dtype (no strength blend, no
        gray-content or alpha handling, no dtype round trip: see :meth:`__call__`).

        Runs on :attr:`device` (tiles are moved there and back), returns on ``x.device``.

        Raises:
            TypeError: ``x`` is not a float tensor (convert uint8 with ``x.float() / 255``).
            ValueError: a wrong shape, or values outside ``[0, 1]`` (or NaN).
        """
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"denoise_tensor expects a float tensor in [0, 1], got {what} (uint8: x.float() / 255)")
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"denoise_tensor expects (B,1|3,H,W), got {tuple(x.shape)}")
        check_float_range(x)
        return self._denoise_tensor(x)

    def _pads_for(self, h: int, w: int) -> tuple[int, int, int, int]:
        """The context padding ``(top, bottom, left, right)`` of an ``h×w`` image (mirrored,
        :func:`~cvdenoise.model.symmetric_pad`): :attr:`border`
        on every side, less where a fixed-size export takes the image in one pass only with less.

        There the top and left padding keep :attr:`border`'s place on the model's grid (a value
        that differs from it by a multiple of :attr:`multiple`): the models are not
        shift-invariant, and a 129-row frame in a 160-row export, padded by 15 on top, came out
        up to 19 levels from the dynamic model's result far inside the frame (1 level with 8)."""
        p = self.border
        if self.tile_shape is None or h > self.tile_shape[0] or w > self.tile_shape[1]:
            return p, p, p, p
        (top, bottom), (left, right) = (_fitted_pads(p, room, self.multiple)
                                        for room in (self.tile_shape[0] - h, self.tile_shape[1] - w))
        return top, bottom, left, right

    def _will_tile(self, h: int, w: int) -> bool:
        """Whether an ``h×w`` image is processed in tiles (:meth:`_tiled`'s test, on the padded size)."""
        top, bottom, left, right = self._pads_for(h, w)
        tile_h, tile_w = self.tile_shape or (self.tile, self.tile)
        return bool(self.tile) and (h + top + bottom > tile_h or w + left + right > tile_w)

    def _denoise_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`denoise_tensor` without its input checks (its callers have made ``x``)."""
        b, c, h, w = x.shape
        pads = top, bottom, left, right = self._pads_for(h, w)
        with torch.inference_mode():
            if c in self._models:
                y = self._tiled(x, self._backend(c), pads)
            elif c == 1:  # only a colour model: run it on the replicated plane, average back
                y = self._tiled(x.expand(-1, 3, -1, -1), self._backend(3), pads).mean(1, keepdim=True)
            else:  # only a gray model: every colour plane on its own
                hp, wp = h + top + bottom, w + left + right
                y = self._tiled(x.reshape(b * 3, 1, h, w), self._backend(1), pads).reshape(b, 3, hp, wp)
            return y[..., top : top + h, left : left + w] if any(pads) else y

    # ------------------------------------------------------------------ internals
    def _backend(self, c: int) -> Backend:
        """The backend for ``c`` channels, loaded and placed on the device once (not per call).

        Thread-safe: the first calls from several threads load and place it once.
        """
        if c in self._lazy or c in self._unplaced:
            with self._load_lock:
                self._load(c)
        return self._models[c]

    def _load(self, c: int) -> None:
        # Each step may be cut short by a fork from another thread (the child then finishes it
        # with a fresh lock), so each re-checks what it finds rather than trusting the sets.
        if c in self._lazy:
            loader = self._models[c]
            if callable(loader) and not isinstance(loader, torch.nn.Module):  # not loaded yet
                self._models[c] = loader()
            self._unplaced.add(c)
            self._lazy.discard(c)  # only now: another thread must not see the loader as the model
        if c in self._unplaced:
            m = self._models[c]
            if isinstance(m, torch.nn.Module) and self.runtime == "onnxruntime":
                from .ort_runtime import OrtModel

                m = OrtModel(m.eval())  # type: ignore[arg-type]  # (refuses anything but a plain DenoiseAutoencoder)
            elif isinstance(m, torch.nn.Module):
                m = m.to(self.device).eval()
                if self.precision == "fp16":
                    m = m.half()
                elif self.device.type == "cpu":  # oneDNN convolutions are fastest in NHWC
                    m = m.to(memory_format=torch.channels_last)
            self._models[c] = m
            self._unplaced.discard(c)

    def _forward(self, backend: Backend, x: torch.Tensor) -> torch.Tensor:
        """Forward a batch already cut to size: pad small sides, run on device, return float32."""
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = max(0, m - h), max(0, m - w)
        if ph or pw:  # reflect padding inside the model needs at least `multiple` pixels
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        ks = _ENSEMBLES[self.ensemble]
        if len(ks) > 1 and self.tile_shape is None and (x.shape[-2] % m or x.shape[-1] % m):  # (a fixed-size export takes its own size only)
            # padded to the grid before the flips, as the model pads an unflipped pass: a flipped
            # pass padded by the model put the image on another grid phase (the models are not
            # shift-invariant), and ensemble=2 of a 900×700 image came out up to 8 levels from its tiled result
            x = pad_to(x, -(-x.shape[-2] // m) * m, -(-x.shape[-1] // m) * m)
        dev = x.to(self.device, torch.float16 if self.precision == "fp16" else torch.float32, non_blocking=True)
        nhwc = self.device.type == "cpu" and isinstance(backend, torch.nn.Module)  # oneDNN's fast layout
        y: torch.Tensor | None = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            for k in ks:
                xk = _dihedral(dev, k)
                if nhwc:
                    xk = xk.contiguous(memory_format=torch.channels_last)
                out = backend(xk).float()
                if xk.shape[1] == 3:  # colour models: their lift of near-white areas held to what clipping explains
                    with torch.autocast("cpu", enabled=False):
                        out = keep_highlight_level(xk.float(), out, inplace=True)
                out = _dihedral_inverse(out, k)
                y = out if y is None else y.add_(out)  # one running sum, not every pass kept
        assert y is not None
        if len(ks) > 1:
            y = y.div_(len(ks))
        return y[..., :h, :w].to(x.device)

    def _tiled(self, x: torch.Tensor, backend: Backend, pads: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
        """The model's output for ``x`` mirror-padded by ``pads`` (``(top, bottom, left, right)``,
        :func:`~cvdenoise.model.symmetric_pad`): ``(B,C,H+top+bottom,W+left+right)`` float32.

        An image larger than a tile is never padded whole: each tile gathers its pixels from ``x``
        (one full-size float copy less: 580 MB for a 48-megapixel photo)."""
        top, bottom, left, right = pads
        b, c, h0, w0 = x.shape[0], x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right
        t, o, m = self.tile, self.overlap, self.multiple
        tile_h, tile_w = self.tile_shape or (t, t)
        if not t or (h0 <= tile_h and w0 <= tile_w):
            x = symmetric_pad(x, pads)
            # images per pass: batch_size, but no more pixels than a pass of tiles takes (four 1080p
            # frames were one pass of 8.3 MP); tile=0 asks for no bound
            per_pass = self.batch_size if not t else max(1, min(self.batch_size, TILE_PIXELS_PER_PASS // (h0 * w0)))
            if b <= per_pass:  # one pass: no concatenation copy
                return self._forward(backend, x)
            return torch.cat([self._forward(backend, x[i : i + per_pass]) for i in range(0, b, per_pass)])
        # The models are not shift-invariant (pixel-unshuffle and stride-2 convolutions): a tile
        # gives the whole-image result only where it starts on the whole pass's grid, a multiple
        # of `multiple`. So pad as the model pads a whole image (reflect, bottom/right), and use
        # a tile size and tile starts that are multiples of it. Each tile row and column is read
        # from the source row and column these paddings put there.
        rows = _padded_index(x.shape[2], top, bottom, m, x.device)
        cols = _padded_index(x.shape[3], left, right, m, x.device)
        h, w = len(rows), len(cols)
        tile_h, tile_w = max(m, tile_h - tile_h % m), max(m, tile_w - tile_w % m)
        if self.tile_shape is None:  # (a fixed-size export takes its own size only)
            tile_h, tile_w = _balanced_tile(h, tile_h, o, m), _balanced_tile(w, tile_w, o, m)
        ys, xs = _starts(h, tile_h, o, m), _starts(w, tile_w, o, m)
        th, tw = min(tile_h, h), min(tile_w, w)
        wy, wx = _ramp(th, o, x.device), _ramp(tw, o, x.device)
        out = torch.zeros(b, c, h, w, dtype=torch.float32, device=x.device)
        norm = torch.zeros(1, 1, h, w, dtype=torch.float32, device=x.device)
        boxes = [(i, y0, x0) for i in range(b) for y0 in ys for x0 in xs]
        # tiles per forward pass: batch_size, but no more pixels than TILE_PIXELS_PER_PASS (the
        # activations of one pass set the peak memory; 4 tiles of 2048² took 3.3 GB with `fast`)
        per_pass = max(1, min(self.batch_size, TILE_PIXELS_PER_PASS // (th * tw)))
        for k in range(0, len(boxes), per_pass):
            chunk = boxes[k : k + per_pass]
            tiles = torch.stack([x[i][:, rows[y0 : y0 + th, None], cols[None, x0 : x0 + tw]] for i, y0, x0 in chunk])
            res = self._forward(backend, tiles)
            for (i, y0, x0), r in zip(chunk, res):
                # full weight at the image border, linear ramps where tiles overlap
                wyy = wy.clone()
                wxx = wx.clone()
                if y0 == 0:
                    wyy[: th // 2] = 1
                if y0 + th == h:
                    wyy[th // 2 :] = 1
                if x0 == 0:
                    wxx[: tw // 2] = 1
                if x0 + tw == w:
                    wxx[tw // 2 :] = 1
                win = wyy[:, None] * wxx[None, :]
                out[i, :, y0 : y0 + th, x0 : x0 + tw] += r * win
                if i == 0:
                    norm[0, 0, y0 : y0 + th, x0 : x0 + tw] += win
        del tiles, res
        return out.div_(norm)[..., :h0, :w0]

    def _staging_device(self, hw: tuple[int, ...]) -> torch.device | None:
        """The accelerator to move an untiled image to *before* converting it to float.

        On a GPU, uploading the integer pixels and converting (and quantising the result) there
        moves a quarter of the bytes of float32 and keeps the per-pixel work off the CPU. Tiled
        images stay where they are, so host memory bounds them, not GPU memory.
        """
        if self.device.type == "cpu" or len(hw) != 2:
            return None
        if self._will_tile(hw[0], hw[1]):
            return None
        return self.device

    # -- numpy ---------------------------------------------------------------------------
    @staticmethod
    def _from_numpy(
        a: np.ndarray, stage: torch.device | None = None
    ) -> tuple[torch.Tensor, Callable[[torch.Tensor], np.ndarray]]:
        hwc = image_hwc(a)
        c = hwc.shape[2]
        dtype = a.dtype
        if dtype in _INT_MAX:
            # integers travel as they are (uint16 as int32: torch's uint16 support is partial)
            ints = np.ascontiguousarray(hwc).astype(np.uint8 if dtype == np.uint8 else np.int32, copy=False)
            t = torch.from_numpy(ints if ints.flags.writeable else ints.copy())  # torch rejects read-only memory
            x = (t if stage is None else t.to(stage)).float().div_(_INT_MAX[dtype])
        else:
            check_array_dtype(dtype)
            f32 = np.ascontiguousarray(hwc, dtype=np.float32)
            x = torch.from_numpy(f32 if f32.flags.writeable else f32.copy())  # torch warns on read-only memory
            check_float_range(x)
            x = x if stage is None else x.to(stage)
        x = x.permute(2, 0, 1)[None]

        def restore(y: torch.Tensor) -> np.ndarray:
            hwc_out = y[0].permute(1, 2, 0)
            if dtype in _INT_MAX:  # quantise where the result is (GPU or CPU), then copy back
                # in place: y is this call's own result (an integer input's float copy is never handed back)
                with torch.inference_mode():  # (y may be an inference tensor)
                    q = hwc_out.clamp_(0.0, 1.0).mul_(_INT_MAX[dtype]).round_()
                    q = q.to(torch.uint8 if dtype == np.uint8 else torch.int32)
                # C order whatever the path (tiles, RGBA, a gray model on colour): OpenCV drawing needs it
                arr = np.ascontiguousarray(q.cpu().numpy(), dtype=dtype)
            else:
                arr = np.ascontiguousarray(hwc_out.cpu().numpy(), dtype=dtype)
                if c == 4:  # alpha as given (float64 would come back rounded through float32)
                    arr[..., 3] = a[..., 3]
            return arr.reshape(a.shape)

        return x, restore

    # -- torch ---------------------------------------------------------------------------
    @staticmethod
    def _from_torch(
        t: torch.Tensor, stage: torch.device | None = None
    ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        shape, dtype, home = t.shape, t.dtype, t.device
        channels_last = t.ndim == 4 and t.shape[1] > 1 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
        t = t.detach()  # denoising is not differentiated through; no autograd warnings
        if stage is not None and dtype != torch.uint16:
            t = t.to(stage)  # integers upload at their own width; the result comes back to `home`
        x = image_bchw(t)
        if dtype in _TORCH_INT_MAX:
            xf = x.float() / _TORCH_INT_MAX[dtype]
        else:
            check_tensor_dtype(dtype)
            xf = x.float()
            check_float_range(xf)

        def restore(y: torch.Tensor) -> torch.Tensor:
            if dtype in _TORCH_INT_MAX:
                y = (y.clamp(0, 1) * _TORCH_INT_MAX[dtype]).round().to(dtype)
            else:
                y = y.to(dtype)
                if x.shape[1] == 4 and dtype == torch.float64:  # alpha as given, not via float32
                    y[:, 3:] = x[:, 3:].to(y.device)
            y = y.to(home)
            # the input's memory format (channels-last stays channels-last, anything else comes
            # back contiguous), and a normal tensor, so callers may modify it in place
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            if y.is_inference() or not y.is_contiguous(memory_format=fmt):
                y = y.clone(memory_format=fmt)
            return y.reshape(shape)

        return xf, restore


def gray_content(x: torch.Tensor, relative: bool = False, tolerance: float = GRAY_TOLERANCE) -> list[bool]:
    """Per image of ``(B,3,H,W)`` float ``x`` in ``[0,1]``: ``True`` for gray content stored as
    colour planes: the largest difference between the planes is at most ``tolerance`` 8-bit
    levels at all but :data:`GRAY_STRAY_SHARE` of the pixels and at most
    :data:`GRAY_STRAY_FACTOR` times that everywhere (a lossy colour codec's strays). ``relative``:
    ``x`` is ``uint16`` data / 65535, whose full scale is :func:`~cvdenoise._checks.uint16_scale` of
    its peak (10- or 12-bit samples may be held unscaled; a dark 16-bit image is still 16-bit)."""
    out = []
    for img in x:
        scale = uint16_scale(float(img.amax()) * 65535) / 65535 if relative else 1.0
        tol = tolerance / 255 * scale + 1e-6

        def close(v: torch.Tensor, share: float) -> bool:
            spread = v.amax(0) - v.amin(0)
            return bool(spread.amax() <= GRAY_STRAY_FACTOR * tol) and float((spread > tol).float().mean()) <= share

        out.append(close(img[:, ::7, ::7], 1.0) and close(img, GRAY_STRAY_SHARE))  # a cheap rejection first
    return out


def _padded_index(n: int, before: int, after: int, multiple: int, device: torch.device) -> torch.Tensor:
    """The source index of each row (or column) of a side of ``n`` pixels padded as
    :meth:`Denoiser._tiled` pads an image: mirrored by ``before``/``after``
    (:func:`~cvdenoise.model.symmetric_pad`), then reflected at the end to a multiple of
    ``multiple`` (:func:`~cvdenoise.model.pad_to`, as the models pad). Both paddings copy whole rows
    and columns, so a tile of the padded image is ``x[..., rows[:, None], cols[None, :]]``."""
    idx = torch.arange(n, dtype=torch.float64).view(1, n, 1).expand(1, n, 2)  # (padded as rows of a 2-column image)
    idx = symmetric_pad(idx, (before, after, 0, 0))
    idx = pad_to(idx, -(-idx.shape[1] // multiple) * multiple, 2)
    return idx[0, :, 0].round().long().to(device)


def _fitted_pads(border: int, room: int, multiple: int) -> tuple[int, int]:
    """Padding ``(before, after)`` of a side with ``room`` pixels to fill: at most ``border`` each;
    ``before`` on ``border``'s place on a grid of ``multiple`` (``border`` less a multiple of it)
    where the room allows, else as much as fits."""
    before = min(border, room)
    if (border - before) % multiple:
        aligned = border - -(-(border - before) // multiple) * multiple
        before = aligned if aligned >= 0 else before
    return before, min(border, room - before)


def _balanced_tile(n: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """The smallest tile side (a multiple of ``multiple``, at most ``tile``, at least
    ``min(tile, 2·overlap + multiple)``) that covers ``n`` with as few tiles as ``tile`` does.

    Tiles of the full size cover a side just over it twice (2068 px in two 2048-px tiles: twice
    the work); evenly sized smaller tiles cover it once plus the overlaps."""
    if n <= tile:
        return tile
    count = len(_starts(n, tile, overlap, multiple))
    floor = min(tile, 2 * overlap + multiple)
    side = max(floor, -(-(n + (count - 1) * overlap) // count))
    side = -(-side // multiple) * multiple
    while side < tile and len(_starts(n, side, overlap, multiple)) > count:
        side += multiple
    return min(side, tile)


def _starts(n: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Tile start offsets covering ``[0, n)`` with at least ``overlap`` shared pixels.

    With ``n`` and ``tile`` multiples of ``multiple``, every start is one too.
    """
    if n <= tile:
        return [0]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    k = math.ceil((n - tile) / step) + 1
    return [min(i * step, n - tile) for i in range(k)]


def _ramp(n: int, overlap: int, device: torch.device) -> torch.Tensor:
    """1-D blending weights: linear from ~0 to 1 over ``overlap`` pixels at both ends."""
    i = torch.arange(n, dtype=torch.float32, device=device)
    if overlap == 0:
        return torch.ones(n, device=device)
    r = torch.minimum((i + 1) / (overlap + 1), (n - i) / (overlap + 1))
    return r.clamp(max=1.0)


def _auto_ensemble(model: DenoiseAutoencoder, half: Half, device: str | torch.device) -> int:
    """``ensemble="auto"``: 2 for a ``default``-architecture model running in bfloat16 on a CPU
    where two such passes stay far under the 1 s budget of a 640² frame
    (:func:`cpu_runs_two_bf16_passes`), else 1."""
    quality_size = replace(model.config, channels=3) == CONFIGS["default"]
    bf16 = resolve_precision(half, resolve_device(device)) == "bf16"
    return 2 if quality_size and bf16 and cpu_runs_two_bf16_passes() else 1


def load(
    weights: str | Path = "default",
    device: str | torch.device = "cpu",
    *,
    half: Half = "auto",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    border: int = 16,
    batch_size: int = 4,
    channel_order: Literal["rgb", "bgr"] = "rgb",
    strength: Strength = "auto",
    ensemble: int | Literal["auto"] = "auto",
    runtime: Runtime | None = None,
) -> Denoiser:
    """Load shipped or local weights into a :class:`Denoiser`.

    Args:
        weights: ``"default"`` or ``"fast"`` (a colour model plus its gray twin, loaded when
            a gray image arrives), a shipped file name such as ``"gray-fast"`` (see
            :func:`cvdenoise.weights.available`), a path to a ``.safetensors`` file, or a
            model exported by :mod:`cvdenoise.export`: ``.onnx`` (run by onnxruntime, CUDA/
            TensorRT providers on CUDA devices) or ``.pt``/``.ts``/``.torchscript``
            (TorchScript); see :mod:`cvdenoise.backends`. Exports with a fixed ``H×W`` cap
            ``tile`` (and ``overlap``) so every tile fits.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"``.
        half: reduced precision (see :class:`Denoiser`). ``"auto"`` (default) runs bfloat16
            on CPUs with AMX or AMD CPUs with AVX512-BF16 units (0.16–0.26 levels from float32 on average; about 3× faster with AMX,
            2× with AMD's AVX512-BF16) and float32 on other CPUs (an Intel CPU with AVX512-BF16 but no AMX
            runs bfloat16 slower than float32); on CUDA it runs float16. Pass ``half=False`` for float32 everywhere
            (e.g. results that agree across CPUs to float rounding, or 16-bit data where the
            last few codes matter).
        ensemble: the flip/transpose self-ensemble (see :class:`Denoiser`) or ``"auto"``
            (default): ``2`` for a quality-size model (``default``, ``gray-default`` or any
            weights of the ``default`` architecture) running in bfloat16 where two such passes
            are fast (:func:`cpu_runs_two_bf16_passes`: AMX, where they take about half a float32
            pass, and AMD Zen 5, about one) — they add ~0.1 dB PSNR (``4`` adds ~0.2 dB) — and
            ``1`` otherwise (Zen 4, where two passes would exceed 1 s
            for a 640² frame; float32, CUDA, the ``fast`` models, exported graphs).
            :attr:`Denoiser.ensemble` says what was chosen.
        strength: ``"auto"`` (default): per image, from what the model removed, with the rule
            fitted for these weights (``auto_strength`` in the model card, see
            :mod:`cvdenoise.blend`): clean, lightly compressed and lightly noisy images keep
            their fine texture, noisy ones (white σ ≳ 8) get the full output; salt-and-pepper
            impulses are always taken out. A number in ``[0, 1]``
            fixes it (``1``: the plain model output, what weights without a rule give;
            exports made by :mod:`cvdenoise.export` carry their model card's rule).
        runtime: ``"torch"`` (the default for weights) or ``"onnxruntime"``: float32 CPU
            inference in onnxruntime (``pip install 'cvdenoise[onnx]'``; the network is written
            into an in-memory ONNX graph, no export step; ``half="auto"`` then means float32;
            see :mod:`cvdenoise.ort_runtime` for when it is faster). An exported file runs in
            its own runtime (``None``, the default, or that runtime's name).
            :attr:`Denoiser.runtime` says where the model runs.
        tile, overlap, border, batch_size, channel_order: see :class:`Denoiser`.

    Raises:
        cvdenoise.weights.WeightsError: unknown name, unreadable file, tensors that do not
            match the architecture, or an exported file without cvdenoise metadata (a
            ``ValueError``, so ``except ValueError`` catches every bad argument).
        ValueError: a bad ``device`` (or one not here), ``half`` (``True`` where the device has no
            fast half type), ``ensemble``, ``runtime`` (or onnxruntime not installed: ``ImportError``),
            ``tile``/``overlap``/``border``/``batch_size``, ``strength`` or ``channel_order``.
        TypeError: ``weights`` that is neither a name nor a path.

    Example:
        >>> import numpy as np, cvdenoise
        >>> den = cvdenoise.load("fast")
        >>> den(np.zeros((20, 30, 3), np.uint8)).shape
        (20, 30, 3)
    """
    if not isinstance(weights, (str, Path)):
        raise TypeError(f"weights must be a name ('default', 'fast', …) or a file path, got {weights!r}")
    if not str(weights).strip():
        raise WeightsError("weights is empty: give a name ('default', 'fast', …) or a file path")
    if ensemble != "auto" and (not is_integer(ensemble) or ensemble not in _ENSEMBLES):
        raise ValueError(f"ensemble must be 'auto' or one of {sorted(_ENSEMBLES)}, got {ensemble!r}")
    half = check_half(half)
    if runtime == "onnxruntime" and half == "auto":  # (before the ensemble choice, which reads it)
        half = False
    kw: dict[str, Any] = dict(
        device=device, half=half, tile=tile, overlap=overlap, border=border, batch_size=batch_size,
        channel_order=channel_order, strength=strength, ensemble=1 if ensemble == "auto" else ensemble,
        runtime="torch" if runtime is None else runtime,
    )
    if Path(str(weights)).suffix.lower() in EXPORTED_SUFFIXES:  # exported graphs: cvdenoise.backends
        return _load_exported(str(weights), kw, half=half, runtime=runtime)
    if str(weights) in FAMILIES:
        return _load_family(str(weights), kw, half=half, auto_ensemble=ensemble == "auto")
    return _load_file(weights, kw, half=half, auto_ensemble=ensemble == "auto")


def check_export_half(name: str | Path, metadata: Mapping[str, Any], half: object) -> None:
    """``ValueError`` for ``half=True`` with a float32 export: an exported model's precision is
    fixed when it is exported (an fp16 export runs in fp16 whatever ``half`` says)."""
    if half is True and metadata.get("precision") != "fp16":  # (an fp16 export asked for as such is fine)
        raise ValueError(f"{name}: a float32 export; an exported model's precision is fixed at export time "
                         "(export an fp16 graph with cvdenoise export --half)")


def _load_exported(name: str, kw: dict[str, Any], *, half: Half, runtime: Runtime | None) -> Denoiser:
    """:func:`load` of an exported ``.onnx``/TorchScript file (``kw``: the Denoiser's arguments)."""
    from .backends import load_backend

    own = exported_runtime(name, runtime)
    tile, overlap = kw["tile"], kw["overlap"]
    kw = {**kw, "runtime": "torch", "half": False}  # no nn.Module to convert; den.runtime names the file's runtime below
    be = load_backend(name, resolve_device(kw["device"]))
    check_export_half(name, be.metadata, half)
    if be.size is not None:  # fixed H×W export: every tile must fit it
        # (the options' types and signs first; the tile's size against the overlap once both are capped below)
        Denoiser._check_tiling(tile if not is_integer(tile) or int(tile) < 0 else 0,  # type: ignore[call-overload]
                               overlap, kw["border"], kw["batch_size"], be.multiple)
        kw["tile"] = min(tile or min(be.size), *be.size)
        if is_integer(kw["tile"]) and 0 < int(kw["tile"]) < be.multiple:
            raise ValueError(f"tile ({kw['tile']}) must be at least the model's size multiple ({be.multiple}) for {name}")
        kw["overlap"] = min(overlap, (kw["tile"] - be.multiple) // 2)
        if kw["overlap"] < min(overlap, kw["border"]):  # (--static 8 2000: 8-row tiles, no overlap, 27 levels off)
            warnings.warn(f"{name}: its fixed size {be.size[0]}×{be.size[1]} leaves tiles of {kw['tile']} px with "
                          f"{kw['overlap']} px of overlap: images larger than it come out far from the usual result "
                          "at every tile seam; export a fixed size of a few hundred pixels a side (or a dynamic graph)",
                          UserWarning, stacklevel=user_stacklevel())
    meta_rule = be.metadata.get("auto_strength")  # written by cvdenoise.export from the model card
    try:
        rule = StrengthRule.from_card({"auto_strength": json.loads(meta_rule) if meta_rule else None})
    except (ValueError, TypeError, RecursionError) as e:
        raise WeightsError(f"{name}: bad auto_strength metadata: {e}") from e
    rules = {be.channels: rule} if rule else {}
    if kw["strength"] == "auto" and not rule:
        _warn_no_rule(name, "the export carries no auto_strength rule (its weights' model card had none)")
    den = Denoiser({be.channels: be}, multiple=be.multiple, name=Path(name).stem, rules=rules, **kw)
    den._runtime = own
    if be.size is not None and (not tile or tile >= max(be.size)):  # the whole fixed frame is the tile
        den.tile_shape = be.size
    return den


def _load_family(name: str, kw: dict[str, Any], *, half: Half, auto_ensemble: bool) -> Denoiser:
    """:func:`load` of a family name ("default", "fast"): the colour model now, its gray twin
    (where shipped) when a gray image first arrives."""
    fam = FAMILIES[name]
    color = load_model(fam[3])
    if auto_ensemble:
        kw = {**kw, "ensemble": _auto_ensemble(color, half, kw["device"])}
    models: dict[int, Any] = {3: color}
    names: dict[int, str | Path] = {3: fam[3]}
    lazy: list[int] = []
    try:
        resolve(fam[1])
        models[1] = functools.partial(load_model, fam[1])
        lazy.append(1)
        names[1] = fam[1]
    except WeightsError:
        pass
    return Denoiser(models, multiple=color.multiple, name=name, lazy=lazy, rules=_rules(names),
                    gate_readings=_gate_readings(names), **kw)


def _load_file(weights: str | Path, kw: dict[str, Any], *, half: Half, auto_ensemble: bool) -> Denoiser:
    """:func:`load` of one shipped name or ``.safetensors`` file, with its model card's rule."""
    model = load_model(weights)
    if auto_ensemble:
        kw = {**kw, "ensemble": _auto_ensemble(model, half, kw["device"])}
    names: dict[int, str | Path] = {model.config.channels: weights}
    models: dict[int, Any] = {model.config.channels: model}
    lazy: list[int] = []
    shipped = resolve(weights)
    twin = GRAY_TWINS.get(shipped.stem) if shipped.parent.resolve() == WEIGHTS_DIR.resolve() else None
    if twin is not None and model.config.channels == 3:  # a shipped colour-only specialist (by name or path): gray to its twin
        resolve(twin)  # (a missing twin: a WeightsError now, not at the first gray image)
        models[1] = functools.partial(load_model, twin)
        lazy.append(1)
        names[1] = twin
    rules = _rules(names)
    card = shipped.with_suffix(".json")
    if kw["strength"] == "auto" and not card.is_file():
        _warn_no_rule(weights, f"no model card ({card.name}) next to the weights (copy the card along)")
    elif kw["strength"] == "auto" and not rules and card.parent.resolve() != WEIGHTS_DIR.resolve():  # trained with `cvdenoise train`
        # (a shipped specialist without a rule, color-default-awgn, says so in its card and docs/strength.md)
        _warn_no_rule(weights, "its model card has no auto_strength rule (one is fitted for the shipped weights; "
                               "benchmarks/strength.py --calibrate of the source repository, not installed "
                               "with the package, fits one)")
    return Denoiser(models, multiple=model.multiple, name=Path(str(weights)).stem, lazy=lazy, rules=rules,
                    gate_readings=_gate_readings(names), **kw)


def _warn_no_rule(weights: str | Path, why: str) -> None:
    """Say (from :func:`load`'s helpers, at the line that called :func:`load`) that
    ``strength="auto"`` of these weights is the plain model output, and ``why`` they have no rule."""
    warnings.warn(f"{weights}: {why}, so strength='auto' gives the plain model output; pass a strength "
                  "to silence this", UserWarning, stacklevel=4)


def _gate_readings(names: Mapping[int, str | Path]) -> dict[int, GateReading]:
    """Gate readings from the model cards of ``names`` (channel count → weights)."""
    return _from_cards(names, GateReading.from_card)


def _rules(names: Mapping[int, str | Path]) -> dict[int, StrengthRule]:
    """``"auto"`` strength rules from the model cards of ``names`` (channel count → weights)."""
    return _from_cards(names, StrengthRule.from_card)


_Entry = TypeVar("_Entry")


def _from_cards(names: Mapping[int, str | Path], parse: Callable[[dict[str, Any]], _Entry | None]) -> dict[int, _Entry]:
    """``parse`` of the model card of each of ``names`` (channel count → weights), where it has the entry."""
    out = {}
    for c, name in names.items():
        try:
            entry = parse(read_card(name))
        except ValueError as e:
            raise WeightsError(f"{name}: {e}") from e
        if entry is not None:
            out[c] = entry
    return out
