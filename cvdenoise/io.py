"""Read and write images keeping format, bit depth and channel count.

Arrays are in OpenCV order (``(H,W)`` gray, ``(H,W,3)`` BGR, ``(H,W,4)`` BGRA) and keep the
file's dtype (``uint8``, ``uint16``, ``float32``). Paths may contain any characters (files are
decoded from bytes). Writes are atomic: a temporary file is renamed into place, so an
interrupted run never leaves a half-written image.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

__all__ = ["ImageReadError", "ImageWriteError", "read_image", "write_image", "atomic_write", "IMAGE_SUFFIXES"]

from .data import IMAGE_SUFFIXES


class ImageReadError(ValueError):
    """A file could not be decoded as an image."""


class ImageWriteError(OSError):
    """An image could not be encoded or written."""


_JPEG = {".jpg", ".jpeg", ".jpe"}


@functools.cache
def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (``0o666`` less the process umask).

    Read once: ``os.umask`` can only be read by setting it, which is not thread-safe.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` into an OpenCV-order array of the file's own dtype and channels.

    JPEGs are rotated upright by their EXIF orientation (the written copy has no EXIF).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageReadError: the file is empty, corrupt or not an image format OpenCV reads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageReadError(f"{path}: file is empty")
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if path.suffix.lower() in _JPEG else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(data, flags)
    if img is None or img.size == 0:
        raise ImageReadError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return img


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> Path:
    """Encode ``image`` by ``path``'s suffix and write it atomically.

    Raises:
        ImageWriteError: the format cannot hold this array or the file cannot be written.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    params: list[int] = []
    if ext in _JPEG:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(jpeg_quality)]
    try:
        ok, buf = cv2.imencode(ext, image, params)
    except cv2.error as e:
        raise ImageWriteError(f"{path}: cannot encode {image.dtype} {image.shape} as {ext}: {e}") from e
    if not ok:
        raise ImageWriteError(f"{path}: cannot encode {image.dtype} {image.shape} as {ext}")
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.tobytes()))


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cvdenoise-", suffix=path.suffix, dir=str(path.parent))
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())  # mkstemp (and some writers) make 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
