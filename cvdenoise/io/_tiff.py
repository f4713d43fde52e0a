"""TIFF layouts OpenCV reads wrongly or not at all: checked against the file's own tags and read
by Pillow or tifffile instead (CMYK, half floats, unassociated alpha, extra samples)."""

from __future__ import annotations

import contextlib
import struct
import threading
import warnings
from pathlib import Path

import numpy as np

from ._containers import (
    _TIFF_EXTRA_SAMPLES, _TIFF_UNASSOCIATED_ALPHA, _Buffer, _tiff_format, _tiff_ifd,
    _tiff_value,
)
from ._errors import ImageReadError
from .metadata import _ORIENTATION, orient
from .._warn import WARNINGS_LOCK


def _check_tiff_layout(path: Path, buf: _Buffer, img: np.ndarray) -> np.ndarray:
    """``img`` as OpenCV decoded the TIFF ``buf``; refused if it has fewer samples or bits than
    the file holds, and without the opaque fourth channel OpenCV adds to a CMYK one (BGR, as a
    CMYK JPEG comes out).

    OpenCV decodes a gray + alpha TIFF (2 samples) as its gray plane alone, and a 16-bit one
    as 8 bits, with only a libtiff warning; denoising that would silently lose the alpha and depth.
    """
    tags = _tiff_first_page_tags(buf, (258, 262, 277))  # BitsPerSample, PhotometricInterpretation, SamplesPerPixel
    if tags is None:
        return img
    samples, bits, photometric = tags.get(277, 1), tags.get(258, 1), tags.get(262)
    channels = 1 if img.ndim == 2 else img.shape[2]
    if photometric == 5 and samples == 4 and channels == 4:  # CMYK: OpenCV makes it BGR + an opaque "alpha"
        return img[..., :3]
    if photometric in (0, 1) and samples > 1 and channels < samples:  # gray + extra samples (alpha)
        raise ImageReadError(
            f"{path}: a gray TIFF with {samples} samples per pixel (gray + alpha) is not supported: "
            "OpenCV decodes only its gray plane (save it as PNG, which keeps gray + alpha)"
        )
    if bits == 16 and img.dtype == np.uint8:
        raise ImageReadError(f"{path}: a 16-bit TIFF that OpenCV decodes only as 8-bit (save it as PNG or RGB TIFF)")
    return img


def _tiff_read_elsewhere(path: Path, buf: _Buffer) -> np.ndarray | None:
    """The image of a TIFF that OpenCV decodes wrongly, read by another library before OpenCV
    decodes it at all: separate colour planes above 8 bits (scrambled) and 8-bit RGBA with
    unassociated alpha (colours premultiplied); ``None`` for every other file. More than four
    samples per pixel, which OpenCV cannot decode, are refused here with a message that says so."""
    # BitsPerSample, PhotometricInterpretation, SamplesPerPixel, PlanarConfiguration, Orientation,
    # ExtraSamples: the first value (of one per sample)
    tags = _tiff_first_page_tags(buf, (258, 262, 277, 284, _ORIENTATION, _TIFF_EXTRA_SAMPLES))
    if tags is None:
        return None
    samples, bits, photometric = tags.get(277, 1), tags.get(258, 1), tags.get(262)
    if samples > 4:  # e.g. RGB + alpha + a mask plane (OpenCV would log errors and decode nothing)
        raise ImageReadError(f"{path}: cannot decode image (a TIFF with {samples} samples per pixel, which OpenCV "
                             "does not read; cvdenoise takes gray, RGB and RGBA: save those planes as TIFF or PNG)")
    if tags.get(284) == 2 and samples >= 3 and bits > 8:
        return _tifffile_tiff(path, buf, samples, f"a {bits}-bit TIFF with separate colour planes (PlanarConfiguration 2)")
    if photometric == 2 and samples == 4 and bits == 8 and tags.get(_TIFF_EXTRA_SAMPLES) == _TIFF_UNASSOCIATED_ALPHA:
        orientation = tags.get(_ORIENTATION, 1)
        return _unassociated_rgba_tiff(path, buf, orientation if 1 <= orientation <= 8 else 1)
    return None


def _tiff_half_float(buf: _Buffer) -> bool:
    """Whether TIFF bytes hold 16-bit floating-point samples (SampleFormat 3, BitsPerSample 16)."""
    tags = _tiff_first_page_tags(buf, (258, 339))
    return tags is not None and tags.get(339) == 3 and tags.get(258) == 16


def _tiff_first_page_tags(buf: _Buffer, wanted: tuple[int, ...]) -> dict[int, int] | None:
    """The first value of each of the ``wanted`` SHORT/LONG tags of a TIFF's (or BigTIFF's) first
    IFD; ``None`` for bytes that are no TIFF or an IFD that cannot be read."""
    form = _tiff_format(buf)
    if form is None:
        return None
    order, big = form
    try:
        (ifd0,) = struct.unpack_from(order + ("Q" if big else "I"), buf, 8 if big else 4)
        entries, _ = _tiff_ifd(buf, order, ifd0, big=big)
        return {e[0]: _tiff_value(buf, order, big, e) for e in entries if e[0] in wanted and e[1] in (3, 4)}
    except (struct.error, IndexError):
        return None


def _tifffile_tiff(path: Path, buf: _Buffer, samples: int, what: str) -> np.ndarray:
    """The first page of TIFF ``buf`` (``samples`` per pixel, colour ones RGB) as ``(H,W,C)``
    BGR(A) like OpenCV's images, read by ``tifffile``, turned upright by its orientation tag as
    OpenCV turns other TIFFs. For ``what`` (the kind of file, for messages) OpenCV goes wrong."""
    import io

    try:
        import tifffile
    except ImportError:
        raise ImageReadError(f"{path}: {what}, which OpenCV decodes wrongly: pip install tifffile (cvdenoise then reads it)") from None
    try:
        with tifffile.TiffFile(io.BytesIO(bytes(buf))) as tif:
            page = tif.pages[0]
            planes = page.asarray()
            separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
            tag = page.tags.get(_ORIENTATION)
            orientation = int(tag.value) if tag is not None and isinstance(tag.value, int) and 1 <= tag.value <= 8 else 1
    except Exception as e:  # noqa: BLE001 - tifffile raises many kinds for damaged files (and unknown codecs)
        raise ImageReadError(f"{path}: cannot decode {what}: {e}") from e
    if separate:
        planes = np.moveaxis(planes, -3, -1)  # (C,H,W) → (H,W,C)
    if planes.ndim != 3 or planes.shape[2] != samples:
        raise ImageReadError(f"{path}: unexpected TIFF layout {planes.shape} for {samples} samples per pixel")
    order = [2, 1, 0] + list(range(3, samples))  # RGB(A) → BGR(A), OpenCV's order
    return orient(planes[..., order], orientation).astype(planes.dtype.newbyteorder("="), copy=False)


_PILLOW_LIMIT_LOCK = threading.Lock()  # Pillow's decompression-bomb limit is a module global


def _unassociated_rgba_tiff(path: Path, buf: _Buffer, orientation: int) -> np.ndarray:
    """An 8-bit RGB + unassociated alpha TIFF (what Pillow, GIMP and Photoshop write) as ``(H,W,4)``
    BGRA of its stored values, upright: OpenCV's libtiff RGBA path multiplies the colours by alpha.

    Read by Pillow (a declared dependency; it has every libtiff codec) when the pixels are stored
    upright, else by ``tifffile`` (Pillow scrambles such a file turned by its orientation tag; tifffile
    lacks LZW and JPEG without ``imagecodecs``)."""
    what = "an RGBA TIFF with unassociated alpha"
    if orientation != 1:
        return _tifffile_tiff(path, buf, 4, f"{what}, stored turned (orientation {orientation})")
    import io

    try:
        from PIL import Image, TiffImagePlugin

        # the plugin class, not Image.open, which would check the size against Pillow's module-wide
        # decompression-bomb limit (cvdenoise's own pixel limit has been applied). Decoding checks
        # it once more: only an image over that limit (89 MP by default) has it lifted for the
        # while, a module global other threads of the process see
        with TiffImagePlugin.TiffImageFile(io.BytesIO(bytes(buf))) as im:
            limit = Image.MAX_IMAGE_PIXELS
            lift = limit is not None and im.size[0] * im.size[1] > limit
            with _PILLOW_LIMIT_LOCK if lift else contextlib.nullcontext(), WARNINGS_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                if lift:
                    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    rgba = np.asarray(im.convert("RGBA") if im.mode != "RGBA" else im)
                finally:
                    if lift:
                        Image.MAX_IMAGE_PIXELS = limit
    except Exception:  # noqa: BLE001 - Pillow missing or failing: tifffile may still read it
        return _tifffile_tiff(path, buf, 4, what)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return _tifffile_tiff(path, buf, 4, what)
    return np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])


