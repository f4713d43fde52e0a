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
