"""albumentations 2.x adapter: :class:`Denoise`, an ``ImageOnlyTransform``.

A thin wrapper around :class:`cvdenoise.Denoiser`; bounding boxes, masks and keypoints are
not touched (denoising moves no pixel).

Example:
    >>> import numpy as np
    >>> import albumentations as A
    >>> from cvdenoise.integrations.albumentations import Denoise
    >>> pipe = A.Compose([Denoise("fast"), A.HorizontalFlip(p=1.0)],
    ...                  bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    >>> img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> out = pipe(image=img, bboxes=np.array([[4, 8, 20, 30]]), labels=[1])
    >>> out["image"].shape, out["image"].dtype, out["bboxes"].tolist()
    ((64, 64, 3), dtype('uint8'), [[44.0, 8.0, 60.0, 30.0]])
"""

from __future__ import annotations

from .. import _env  # noqa: F401  (must precede albumentations)

import functools
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import Field, field_validator

from .._defaults import DEFAULT_TILE
from .._checks import check_array_dtype, check_float_range, image_hwc
from ..denoiser import Denoiser, load, will_run_models
from ..transforms import (
    _check_device, _check_runtime, _check_strength, _check_tile, _check_unit, _check_weights, load_lock,
)

__all__ = ["Denoise"]


class Denoise(ImageOnlyTransform):
    """Denoise the image with a cvdenoise model (albumentations 2.x).

    Args:
        weights: ``"default"``, ``"fast"``, a shipped file name, a ``.safetensors`` path or an
            exported ``.onnx``/``.pt`` file (a file is opened once here to check it; the model is
            loaded on first use in each process).
        device: where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, a
            ``torch.device``, or ``"auto"``/``None`` (CUDA when available); kept as a string.
        strength: ``"auto"`` (default; per image, as :func:`cvdenoise.load`: clean and lightly
            degraded images keep their fine texture), or ``0`` (the input) to ``1`` (the plain
            model output).
        channel_order: ``"rgb"`` or ``"bgr"`` (images read with OpenCV) for 3/4-channel images.
        tile: images larger than ``tile×tile`` are denoised in overlapping tiles; ``0`` never.
        p: probability of applying the transform.
        runtime: ``None`` (default: PyTorch for weights, an exported ``.onnx``/``.pt`` file's own
            runtime), ``"torch"`` or ``"onnxruntime"`` (float32 on the CPU; outputs within a level
            of PyTorch's); see :func:`cvdenoise.load`.

    Targets:
        image, images, volume, volumes

    Image types:
        uint8, float32 (in ``[0, 1]``); ``uint16`` works too. The output keeps the dtype.

    Number of channels:
        1 (``(H,W)`` or ``(H,W,1)``), 3, 4 (alpha kept untouched)

    The model is loaded lazily, once per process, and is never pickled, so the transform can be
    used in a ``DataLoader`` with ``num_workers > 0``; ``A.to_dict``/``A.from_dict`` keep the
    constructor arguments.
    """

    class InitSchema(BaseTransformInitSchema):
        weights: str | Path
        device: str | None
        strength: float | Literal["auto"]
        channel_order: Literal["rgb", "bgr"]
        tile: int = Field(ge=0)
        runtime: Literal["torch", "onnxruntime"] | None = None

        @field_validator("weights")
        @classmethod
        def _weights(cls, v: str | Path) -> str:
            return _check_weights(v)

        @field_validator("device", mode="before")  # (before the type check: a torch.device becomes its string)
        @classmethod
        def _device(cls, v: object) -> str:
            if v is not None and not isinstance(v, (str, torch.device)):
                raise ValueError(f"device must be a string, a torch.device or None, got {v!r}")
            return _check_device(v)

        @field_validator("strength", mode="before")  # (before pydantic's lax coercion: True or "0.5" are no strength)
        @classmethod
        def _strength(cls, v: float | str) -> float | str:
            return _check_strength(v)

        @field_validator("tile", mode="before")  # (2048.0 is refused, as by the torchvision twin)
        @classmethod
        def _tile(cls, v: int) -> int:
            return _check_tile(v)

        @field_validator("runtime")
        @classmethod
        def _runtime(cls, v: str | None) -> str | None:
            return _check_runtime(v)

        @field_validator("p", mode="before")  # (pydantic's lax mode would take "0.5" and True)
        @classmethod
        def _p(cls, v: float) -> float:
            return _check_unit("p", v)

    def __init__(
        self,
        weights: str | Path = "default",
        device: str | torch.device | None = "cpu",
        *,
        strength: float | Literal["auto"] = "auto",
        channel_order: Literal["rgb", "bgr"] = "rgb",
        tile: int = DEFAULT_TILE,
        p: float = 1.0,
        runtime: Literal["torch", "onnxruntime"] | None = None,
    ) -> None:
        super().__init__(p=p)
        self.weights = weights
        self.device = device
        self.strength = strength
        self.channel_order = channel_order
        self.tile = tile
        self.runtime = _check_runtime(runtime, str(device or "auto"), weights=os.fspath(weights))  # (device validated by then)
        self._denoiser: Denoiser | None = None
        self._pid = os.getpid()
        will_run_models()  # a forked multiprocessing.Pool child starts with one torch thread (lazy load or not)

    @property
    def denoiser(self) -> Denoiser:
        """The :class:`Denoiser` (loaded on first use in each process, and again after a setting
        it is loaded with — ``weights``, ``strength``, ``tile``, ``channel_order``, ``runtime``,
        ``device`` — was changed)."""
        settings = (self.weights, self.device, self.tile, self.strength, self.channel_order, self.runtime)
        with load_lock():
            if self._denoiser is None or self._pid != os.getpid() or getattr(self, "_settings", settings) != settings:
                self._settings = settings
                self._denoiser = load(  # float32 everywhere, like the torchvision twin: reproducible datasets
                    self.weights, self.device or "auto", half=False, tile=self.tile, strength=self.strength,
                    channel_order=self.channel_order, runtime=self.runtime,  # type: ignore[arg-type]
                )
                self._pid = os.getpid()
            return self._denoiser

    def __call__(self, *args: Any, force_apply: bool = False, **kwargs: Any) -> Any:
        # the image's shape, dtype and float range are checked on every sample, also when `p` skips it, so a
        # bad sample fails where it first appears and not at a random later step
        # (every declared target: an image, a sequence of images, a volume, a sequence of volumes, and the
        # Compose's additional_targets of those kinds, e.g. image2)
        depths = {"image": 0, "images": 1, "volume": 1, "volumes": 2}
        keys = {**{t: t for t in depths}, **getattr(self, "_additional_targets", {})}
        for key, target in keys.items():
            value = kwargs.get(key)
            if value is not None and target in depths:
                _check_images(value, depths[target])
        return super().__call__(*args, force_apply=force_apply, **kwargs)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        """``(H,W)``, ``(H,W,1)``, ``(H,W,3)`` or ``(H,W,4)`` image → same shape and dtype."""
        return self.denoiser(img)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("weights", "device", "strength", "channel_order", "tile", "runtime")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_denoiser"] = None  # reloaded lazily in the unpickling process
        return state


def _strict_by_default(cls: type[Denoise]) -> None:
    """albumentations' metaclass drops an unknown argument with a warning (``Denoise(weigths="fast")``
    would run the ``default`` weights): ``strict=True`` unless the caller says otherwise makes it a
    ``ValueError``, as the torchvision twin's ``TypeError``. Only ``weights`` and ``device`` are
    taken positionally, as by the twin (``Denoise("fast", "cpu", 0.5)`` was strength 0.5 here, p 0.5 there)."""
    validated_init = cls.__init__

    @functools.wraps(validated_init)
    def __init__(self: Denoise, *args: Any, strict: bool = True, **kwargs: Any) -> None:
        if len(args) > 2:  # (the metaclass would map them in its own order: the twins' third differ, p and strength)
            raise TypeError(f"Denoise() takes weights and device positionally, {len(args)} were given: name the "
                            "others (strength=..., p=...)")
        validated_init(self, *args, strict=strict, **kwargs)  # type: ignore[call-arg]

    cls.__init__ = __init__  # type: ignore[method-assign]


_strict_by_default(Denoise)


def _check_images(value: Any, depth: int) -> None:
    """Check the images ``value`` holds ``depth`` sequence levels down (an image: 0; images or a
    volume: 1; volumes: 2): dtype, shape and, for floats, the ``[0, 1]`` range."""
    if depth:
        for item in value:
            _check_images(item, depth - 1)
    elif not isinstance(value, np.ndarray):
        hint = " (for torch tensors use cvdenoise.transforms.Denoise, the torchvision v2 transform)" if isinstance(
            value, torch.Tensor) else ""
        raise TypeError(f"albumentations Denoise expects numpy images (H,W[,C]), got {type(value).__name__}{hint}")
    else:
        check_array_dtype(value.dtype)
        image_hwc(value)
        if value.dtype.kind == "f":
            check_float_range(value)
