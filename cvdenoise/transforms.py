"""torchvision ``transforms.v2`` adapter: :class:`Denoise` cleans images inside a pipeline.

A thin wrapper around :class:`cvdenoise.Denoiser` (which owns padding, tiling, dtype and
device handling); it only routes v2 inputs to it and passes everything else through.

Example:
    >>> import torch
    >>> from torchvision import tv_tensors
    >>> from torchvision.transforms import v2
    >>> from cvdenoise.transforms import Denoise
    >>> pipe = v2.Compose([v2.ToImage(), Denoise("fast"), v2.ToDtype(torch.float32, scale=True)])
    >>> img = tv_tensors.Image(torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8))
    >>> boxes = tv_tensors.BoundingBoxes([[4, 4, 40, 40]], format="XYXY", canvas_size=(64, 64))
    >>> out, out_boxes = pipe(img, boxes)
    >>> type(out).__name__, out.dtype, tuple(out.shape), bool((out_boxes == boxes).all())
    ('Image', torch.float32, (3, 64, 64), True)
"""

from __future__ import annotations

from . import _env  # noqa: F401  (environment switches before third-party imports)

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import is_pure_tensor

from .backends import EXPORTED_SUFFIXES, load_backend
from .blend import check_strength as _check_strength
from ._defaults import DEFAULT_TILE
from ._device import Half, Runtime
from ._warn import user_stacklevel
from ._checks import (
    channels_last_hint, check_float_range, check_tensor_dtype, check_tensor_kind, image_bchw, is_integer, is_real,
)
from .denoiser import (
    DEFAULT_OVERLAP, Denoiser, Strength, check_export_half, check_half, check_pil_mode, exported_runtime, load, resolve_device,
    resolve_precision, resolve_runtime, will_run_models,
)
from .model import CONFIGS
from .weights import FAMILIES, WEIGHTS_DIR, load_model, resolve

__all__ = ["Denoise"]

# Denoiser's rule `tile >= 2*overlap + multiple` with the default overlap and the largest
# size multiple of the shipped models (`default` 16, `fast` 8), checked up front instead of at
# the first sample in a DataLoader worker.
_MIN_TILE = 2 * DEFAULT_OVERLAP + max(config.multiple for config in CONFIGS.values())


# ---------------------------------------------------------------------- argument checks
# (shared with cvdenoise.integrations.albumentations)
def _check_weights(weights: str | Path, half: object = False) -> str:
    """Shipped family / file name, ``.safetensors`` path or exported file → ``str``.

    A file of the user's is opened once here (and dropped), so one that cannot be loaded — not
    safetensors, not a cvdenoise export, weights that do not match, a float32 export asked for
    with ``half=True`` — fails at construction,
    not at the first sample in a ``DataLoader`` worker; it is kept as an absolute path, so a
    later ``os.chdir`` (Hydra's run folder, a worker's set-up) does not make it another file."""
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be a name ('default', 'fast', ...) or a path, got {weights!r}")
    name = os.fspath(weights)
    if name not in FAMILIES:
        path = resolve(name)  # WeightsError (a ValueError) listing the shipped names
        if path.parent.resolve() != WEIGHTS_DIR.resolve() or path.suffix.lower() != ".safetensors":  # (a card, RECIPE.md)
            if path.suffix.lower() in EXPORTED_SUFFIXES:
                check_export_half(name, load_backend(path).metadata, half)
            else:
                load_model(path)
            return os.fspath(path.resolve())
        if name != path.stem:  # a shipped file named by a path (maybe relative: a later chdir would lose it)
            return path.stem  # → its shipped name
    return name


def _check_device(device: str | torch.device | None) -> str:
    """``None``/``"auto"`` → ``"auto"``; a device that exists here → its canonical string
    (``ValueError`` now, not in a ``DataLoader`` worker at the first sample)."""
    if device is None or str(device) == "auto":
        return "auto"
    return str(resolve_device(device))


def _check_unit(name: str, value: float) -> float:
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_tile(tile: int) -> int:
    if not is_integer(tile) or (tile != 0 and tile < _MIN_TILE):
        raise ValueError(f"tile must be 0 (no tiling) or an integer >= {_MIN_TILE}, got {tile!r}")
    return int(tile)


def _check_runtime(
    runtime: str | None, device: str = "auto", half: bool | str = False, weights: str | None = None
) -> str | None:
    """``runtime`` checked now, not at the first sample in a worker: the name, and for
    ``"onnxruntime"`` the install and (unless the device is ``"auto"``) the device and precision.
    ``None``: as :func:`cvdenoise.load` (PyTorch for weights, an exported file's own runtime),
    which an explicit runtime must then match."""
    if runtime is None:
        return None
    if weights is not None and Path(weights).suffix.lower() in EXPORTED_SUFFIXES:
        return exported_runtime(weights, runtime)
    dev = torch.device("cpu" if device == "auto" else device)
    # (half="auto" means float32 with onnxruntime, as in load(); PyTorch takes any precision)
    precision = resolve_precision(half, dev) if runtime == "onnxruntime" and half is True else "fp32"
    return resolve_runtime(runtime, dev, precision)  # type: ignore[arg-type]


_ARRAY_TENSOR_HINT = ("this plain tensor was taken for the image because the sample's image is a numpy array, "
                      "which torchvision v2 does not treat as an image: wrap it as "
                      "tv_tensors.Image(torch.from_numpy(a).permute(2, 0, 1)) before Denoise (v2.ToImage() would "
                      "make this tensor an image too)")


def _image_array_before_denoised_tensor(flat_inputs: list[Any], needs: list[bool]) -> bool:
    """Whether an image-shaped numpy array ``(H,W,1|3|4)`` comes before the plain tensor
    torchvision v2 will denoise: the sample's image is the array, and a target (a depth map, a
    heatmap) is denoised in its place. (Numpy boxes or labels beside a tensor image are no
    image: no warning for them.)"""
    for leaf, needed in zip(flat_inputs, needs):
        if needed and is_pure_tensor(leaf):
            return False  # the tensor came first: it is the image
        if isinstance(leaf, np.ndarray) and leaf.ndim == 3 and leaf.shape[-1] in (1, 3, 4) and min(leaf.shape[:2]) >= 8:
            return any(nd and is_pure_tensor(x) for x, nd in zip(flat_inputs, needs))
    return False


def _is_image(x: Any) -> bool:
    return isinstance(x, (tv_tensors.Image, tv_tensors.Video, PIL.Image.Image)) or is_pure_tensor(x)


def _image_batch(x: torch.Tensor) -> torch.Tensor:
    """An ``(..., C, H, W)`` image tensor as ``(B, C, H, W)``; ``ValueError``/``TypeError``
    naming the problem for a wrong rank, an empty tensor, ``C`` not in 1/3/4 or a wrong dtype."""
    check_tensor_dtype(x.dtype)
    if x.ndim <= 4:
        return image_bchw(x)
    if x.numel() == 0:
        raise ValueError(f"empty image tensor of shape {tuple(x.shape)}")
    if x.shape[-3] not in (1, 3, 4):  # named with the caller's shape, not the flattened one
        raise ValueError(f"image tensors need 1, 3 or 4 channels in dim -3 (..., C, H, W); got shape {tuple(x.shape)}"
                         f"{channels_last_hint(x.shape)}")
    return image_bchw(x.reshape(-1, *x.shape[-3:]))


#: PIL modes a segmentation mask comes in (beside an image of another mode: likely a mask)
_MASK_MODES = ("1", "L", "P", "I")
_PIL_MASK_HINT = ("torchvision v2 takes every PIL image of a sample for an image; if one is a label mask, wrap it "
                  "as tv_tensors.Mask(torch.from_numpy(np.array(mask))) (or use "
                  "torchvision.datasets.wrap_dataset_for_transforms_v2), and it passes through untouched")
_LOAD_LOCK = threading.Lock()  # one model load at a time (transforms used from several threads)


def _fresh_load_lock() -> None:
    # a child forked while another thread held the lock (loading a model) would wait forever
    global _LOAD_LOCK
    _LOAD_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_fresh_load_lock)


def load_lock() -> threading.Lock:
    """The lock the transforms hold while loading a model (a fresh one in each forked child)."""
    return _LOAD_LOCK


class Denoise(v2.Transform):
    """Denoise the images of a torchvision v2 sample with a cvdenoise model.

    Targets (everything else — ``BoundingBoxes``, ``Mask``, ``KeyPoints``, labels, plain
    tensors next to an image, strings — is returned untouched, v2's usual rules):

    * ``tv_tensors.Image`` and ``tv_tensors.Video``, ``(..., C, H, W)`` with ``C`` in 1/3/4
      (RGB, alpha kept): any leading dims are flattened into one batch;
    * a plain ``torch.Tensor`` ``(..., C, H, W)``, only when the sample holds no Image, Video
      or PIL image (then the first plain tensor is the image);
    * ``PIL.Image.Image`` of a mode in :data:`cvdenoise.denoiser.PIL_MODES` (``L``, ``LA``, ``RGB``, ``RGBA``, ``I;16``/``I;16B``/``I;16L``/``I;16N``, ``I``).

    Dtypes: ``uint8``, ``uint16`` or float in ``[0, 1]``. The output keeps the input's type
    (tv_tensor class, PIL mode), shape, dtype and device.

    Args:
        weights: ``"default"``, ``"fast"``, a shipped file name, a ``.safetensors`` path or an
            exported ``.onnx``/``.pt`` file (a file is opened once here to check it; the model is
            loaded on first use in each process).
        device: where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or ``"auto"``/
            ``None`` for the input tensor's own device (CPU for PIL images).
        p: probability of denoising a sample (``p=1`` and ``p=0`` draw no random number).
        strength: ``"auto"`` (default; per image, as :func:`cvdenoise.load`: clean and lightly
            degraded images keep their fine texture), or ``0`` (the input) to ``1`` (the plain
            model output).
        tile: images larger than ``tile×tile`` are denoised in overlapping tiles; ``0`` never.
        half: reduced precision (see :class:`cvdenoise.Denoiser`): ``"auto"`` runs bfloat16
            on CPUs with AMX (about 3× faster) or AMD CPUs with AVX512-BF16 units (about 2×) and float16 on CUDA,
            0.16–0.26 levels from float32 on average (with the ``default`` weights it also turns on :func:`cvdenoise.load`'s
            2-pass ``ensemble="auto"`` on AMX and AMD Zen 5 CPUs); ``False`` (default) keeps float32.
        runtime: ``None`` (default: PyTorch for weights, an exported ``.onnx``/``.pt`` file's own
            runtime), ``"torch"`` or ``"onnxruntime"`` (float32 on the CPU; outputs within a level
            of PyTorch's); see :func:`cvdenoise.load`.

    Raises:
        ValueError: bad arguments (unknown weights raise
            :class:`cvdenoise.weights.WeightsError`, a ``ValueError``), an unsupported PIL mode
            or a tensor with fewer than 3 dims; the denoiser's own checks (channels, float range).

    The model is loaded lazily, once per process and device, and is never pickled, so the
    transform can live in a ``Dataset`` used by a ``DataLoader`` with ``num_workers > 0``. With
    ``weights`` a file path, each process (a worker, an unpickled copy) therefore reads that
    file when it first denoises: keep it unchanged while they run (a replaced file is used as
    it is then, unlike a pickled :class:`~cvdenoise.Denoiser` of an export, which checks it).

    Example:
        >>> import torch
        >>> from torchvision.transforms import v2
        >>> from cvdenoise.transforms import Denoise
        >>> pipe = v2.Compose([v2.ToImage(), Denoise("fast", p=1.0), v2.RandomHorizontalFlip()])
        >>> pipe(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    _transformed_types = (tv_tensors.Image, tv_tensors.Video, is_pure_tensor, PIL.Image.Image)

    def __init__(
        self,
        weights: str | Path = "default",
        device: str | torch.device | None = "cpu",
        *,
        p: float = 1.0,
        strength: Strength = "auto",
        tile: int = DEFAULT_TILE,
        half: Half = False,
        runtime: Runtime | None = None,
    ) -> None:
        super().__init__()
        self.half = half = check_half(half)
        self.weights = _check_weights(weights, half)
        self.device = _check_device(device)
        if self.device != "auto":  # half=True where the device has no fast half type: refused now
            resolve_precision(half, torch.device(self.device))  # type: ignore[arg-type]
        self.p = _check_unit("p", p)
        self.strength = _check_strength(strength)
        self.tile = _check_tile(tile)
        self.runtime = _check_runtime(runtime, self.device, half, self.weights)
        self._denoisers: dict[str, Denoiser] = {}
        self._pid = os.getpid()
        will_run_models()  # a forked multiprocessing.Pool child starts with one torch thread (lazy load or not)

    def denoiser(self, device: str | torch.device = "cpu") -> Denoiser:
        """The :class:`Denoiser` used for inputs on ``device`` (loaded on first call, and again
        after ``weights``, ``strength``, ``tile``, ``half`` or ``runtime`` was changed)."""
        key = str(torch.device(device)) if self.device == "auto" else self.device
        settings = (self.weights, self.strength, self.tile, self.half, self.runtime)
        with load_lock():
            if self._pid != os.getpid() or getattr(self, "_settings", settings) != settings:
                self._denoisers, self._pid = {}, os.getpid()  # (a forked worker: not the parent's models)
            self._settings = settings  # (what the cached models were loaded with: repr and to_dict tell the same)
            if key not in self._denoisers:
                self._denoisers[key] = load(self.weights, key, tile=self.tile, strength=self.strength, half=self.half,  # type: ignore[arg-type]
                                              runtime=self.runtime)  # type: ignore[arg-type]
            return self._denoisers[key]

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        """torchvision's hook over every sample's leaves (also when ``p`` skips the sample): checks
        the image tensors' shape, dtype and float range ``[0, 1]`` and PIL images' mode, and warns when a numpy image would pass through undenoised."""
        has_array = any(isinstance(i, np.ndarray) for i in flat_inputs)
        needs = self._needs_transform_list(flat_inputs)
        pils = [leaf for leaf, needed in zip(flat_inputs, needs) if needed and isinstance(leaf, PIL.Image.Image)]
        for leaf in pils:
            try:
                check_pil_mode(leaf)
            except ValueError as e:
                if len(pils) == 1:
                    raise
                raise ValueError(f"{e} — {_PIL_MASK_HINT}") from None
        if len({im.mode for im in pils}) > 1 and any(im.mode in _MASK_MODES for im in pils):
            warnings.warn(f"Denoise: the sample holds PIL images of modes {sorted({im.mode for im in pils})}, all "
                          f"denoised — {_PIL_MASK_HINT}", UserWarning, stacklevel=user_stacklevel())
        for leaf, needed in zip(flat_inputs, needs):
            if needed and (isinstance(leaf, (tv_tensors.Image, tv_tensors.Video)) or is_pure_tensor(leaf)):
                try:
                    check_tensor_kind(leaf)  # (meta, sparse and nested tensors fail inside torch below)
                    x = _image_batch(leaf.as_subclass(torch.Tensor))
                    if x.dtype.is_floating_point:
                        check_float_range(x)  # (the common mistake, floats in 0..255, fails at its first sample)
                except (ValueError, TypeError) as e:
                    why = None  # a plain tensor taken for the image by torchvision's rule: say which and why
                    if has_array and is_pure_tensor(leaf):  # the likely cause is the array, not the tensor
                        why = _ARRAY_TENSOR_HINT
                    elif is_pure_tensor(leaf) and sum(map(is_pure_tensor, flat_inputs)) > 1:
                        why = ("the sample holds no tv_tensors.Image/Video or PIL image, so torchvision v2 took its "
                               "first plain tensor for the image: wrap the image as tv_tensors.Image(...) "
                               "(or put the image first in the sample)")
                    if why is None:
                        raise
                    raise type(e)(f"{e} — {why}") from None
        if _image_array_before_denoised_tensor(flat_inputs, needs):
            # (a valid float tensor in [0, 1] after the image array: a depth map or heatmap target, denoised in its place)
            warnings.warn(f"Denoise: a plain tensor of the sample is denoised and its numpy array is not — "
                          f"{_ARRAY_TENSOR_HINT}", UserWarning, stacklevel=user_stacklevel())
        elif not any(_is_image(i) for i in flat_inputs) and has_array:
            warnings.warn(
                "Denoise: a numpy array passes through torchvision v2 transforms untouched (nothing "
                "was denoised); put v2.ToImage() before Denoise, or call cvdenoise.load(...) on arrays",
                UserWarning, stacklevel=user_stacklevel(),
            )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        apply = self.p >= 1.0 or (self.p > 0.0 and bool(torch.rand(1) < self.p))
        return {"apply": apply}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["apply"]:
            return inpt
        if isinstance(inpt, PIL.Image.Image):
            return self.denoiser("cpu")(inpt)
        x = inpt.as_subclass(torch.Tensor)
        out = self.denoiser(x.device)(_image_batch(x)).reshape(x.shape)
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out

    # torchvision 0.19 and 0.20 call the hooks by their private names (public from 0.21 on); thin
    # methods, not aliases, so a subclass that overrides a public hook is called through them too
    def _check_inputs(self, flat_inputs: list[Any]) -> None:
        self.check_inputs(flat_inputs)

    def _get_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return self.make_params(flat_inputs)

    def _transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self.transform(inpt, params)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_denoisers"] = {}  # models are reloaded lazily in the unpickling process
        return state
