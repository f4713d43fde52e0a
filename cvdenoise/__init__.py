"""cvdenoise: a small, fast learned denoising autoencoder in front of computer-vision models.

Public API::

    import cvdenoise
    den = cvdenoise.load()              # shipped "default" weights (colour + gray)
    clean = den(noisy)                  # numpy HWC / torch CHW, BCHW; uint8, uint16, float
"""

from . import _env  # noqa: F401  (environment switches before third-party imports)
from .denoiser import Denoiser, load
from .video import FrameFilter

__version__ = "0.1.0"

__all__ = ["Denoiser", "FrameFilter", "load", "__version__"]

# submodules reachable as attributes after a plain ``import cvdenoise`` (``cvdenoise.export.to_onnx``),
# imported on first use: they pull in optional or heavy dependencies (onnx, torchvision, ultralytics)
_SUBMODULES = frozenset({
    "backends", "blend", "data", "degrade", "degrade_torch", "denoiser", "dicom", "export", "folder",
    "integrations", "io", "model", "noise", "temporal", "train", "transforms", "video", "weights",
})


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
