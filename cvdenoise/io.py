"""Read and write images keeping format, bit depth and channel count.

Arrays are in OpenCV order (``(H,W)`` gray, ``(H,W,3)`` BGR, ``(H,W,4)`` BGRA; ``(H,W,2)`` gray +
alpha for PNGs stored that way, which OpenCV alone would widen to BGRA) and keep the file's dtype
(``uint8``, ``uint16``, ``float32``). Paths may contain any characters (files are
decoded from bytes). Writes are atomic: a temporary file is renamed into place, so an
interrupted run never leaves a half-written image.
"""

from __future__ import annotations

import functools
import os
import struct
import tempfile
import zlib
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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GRAY_ALPHA = 4  # IHDR colour type


def _png_color_type(data: np.ndarray) -> int | None:
    """The IHDR colour type of PNG bytes ``data`` (``4``: gray + alpha); ``None`` if not a PNG."""
    if data.size >= 26 and data[:8].tobytes() == _PNG_SIGNATURE and data[12:16].tobytes() == b"IHDR":
        return int(data[25])
    return None


def _encode_png_gray_alpha(image: np.ndarray) -> bytes:
    """PNG bytes of a ``(H,W,2)`` uint8/uint16 gray + alpha array (colour type 4; OpenCV cannot write it)."""
    h, w, _ = image.shape
    depth = 8 * image.dtype.itemsize
    rows = np.ascontiguousarray(image.astype(">u2") if depth == 16 else image).view(np.uint8).reshape(h, -1)
    sub = rows.copy()  # PNG filter 1 ("Sub"): each byte minus the same byte of the pixel to its left
    bpp = 2 * image.dtype.itemsize
    sub[:, bpp:] -= rows[:, :-bpp]
    raw = np.hstack([np.ones((h, 1), np.uint8), sub]).tobytes()

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, _PNG_GRAY_ALPHA, 0, 0, 0)
    return _PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


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

    JPEGs are rotated upright by their EXIF orientation (the written copy has no EXIF). A gray +
    alpha PNG comes back as ``(H,W,2)`` (gray, alpha), not the BGRA OpenCV makes of it.

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
    if img.ndim == 3 and img.shape[2] == 4 and _png_color_type(data) == _PNG_GRAY_ALPHA:
        img = np.ascontiguousarray(img[..., [0, 3]])
    return img


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> Path:
    """Encode ``image`` by ``path``'s suffix and write it atomically.

    A ``(H,W,2)`` gray + alpha uint8/uint16 array is written as a gray + alpha PNG, or as BGRA
    to other formats.

    Raises:
        ImageWriteError: the format cannot hold this array or the file cannot be written.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    if image.ndim == 3 and image.shape[2] == 2:
        if ext == ".png" and image.dtype in (np.uint8, np.uint16):
            png = _encode_png_gray_alpha(image)
            return atomic_write(path, lambda tmp: Path(tmp).write_bytes(png))
        image = image[..., [0, 0, 0, 1]]
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
