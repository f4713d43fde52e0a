"""cvdenoise: a small, fast learned denoising autoencoder in front of computer-vision models.

Public API::

    import cvdenoise
    den = cvdenoise.load()              # shipped "default" weights (colour + gray); "fast" for video
    clean = den(noisy)                  # numpy (H,W[,C]) / torch (C,H,W), (B,C,H,W) / PIL / pydicom;
                                        # uint8, uint16 or float in [0, 1]: same type, shape and dtype back
    ff = cvdenoise.FrameFilter("fast")  # OpenCV frames: BGR uint8 (H,W,3) in, BGR uint8 out
    clean_frame = ff(frame)

Also public (each imported on first use):

* :mod:`cvdenoise.transforms` — ``Denoise``, a torchvision ``transforms.v2`` transform;
* :mod:`cvdenoise.integrations.albumentations` — ``Denoise``, an albumentations transform;
* :mod:`cvdenoise.integrations.ultralytics` — denoise in front of an Ultralytics YOLO model, offline;
* :mod:`cvdenoise.export` — ``to_onnx`` / ``to_torchscript``, verified against PyTorch;
* :mod:`cvdenoise.ort_runtime` — when onnxruntime beats PyTorch on a CPU;
* :mod:`cvdenoise.degrade` — the synthetic degradations (noise, blur, JPEG, …) used for training;
* :mod:`cvdenoise.noise` — noise level estimates (``estimate_sigma``, ``residual_sigma``, ``noise_profile``);
* :mod:`cvdenoise.weights` — shipped weights, model cards, ``WeightsError``;
* :mod:`cvdenoise.model` — the autoencoder family (``DenoiseAutoencoder.encode`` gives encoder features).

The command line is ``cvdenoise --help`` (``python -m cvdenoise``).
"""

from typing import TYPE_CHECKING

from . import _env  # noqa: F401  (environment switches before third-party imports)

if TYPE_CHECKING:  # imported on first use below: `cvdenoise --help` and `--version` need no torch
    from .denoiser import Denoiser, load
    from .video import FrameFilter

__version__ = "0.1.0"

__all__ = ["Denoiser", "FrameFilter", "load", "__version__"]

# the public names, by module; imported on first use (`cvdenoise.load`, `from cvdenoise import load`)
_PUBLIC = {"Denoiser": "denoiser", "load": "denoiser", "FrameFilter": "video"}

# submodules reachable as attributes after a plain ``import cvdenoise`` (``cvdenoise.export.to_onnx``),
# imported on first use: they pull in optional or heavy dependencies (onnx, torchvision, ultralytics)
_SUBMODULES = frozenset({
    "backends", "blend", "data", "degrade", "degrade_torch", "denoiser", "dicom", "export", "folder", "highlights",
    "integrations", "io", "model", "noise", "ort_runtime", "temporal", "train", "transforms", "video", "weights",
})


def __getattr__(name: str) -> object:
    import importlib

    if name in _PUBLIC:
        value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({n for n in globals() if not n.startswith("_") or n.startswith("__")} | _SUBMODULES | set(_PUBLIC))
