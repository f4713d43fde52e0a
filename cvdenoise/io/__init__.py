"""Read and write images keeping format, bit depth and channel count.

Arrays are in OpenCV order (``(H,W)`` gray, ``(H,W,3)`` BGR, ``(H,W,4)`` BGRA; ``(H,W,2)`` gray +
alpha for PNGs stored that way, which OpenCV alone would widen to BGRA) and keep the file's dtype
(``uint8``, ``uint16``, ``float32``). Paths may contain any characters (files are
decoded from bytes). Writes are atomic: a temporary file is renamed into place, so an
interrupted run never leaves a half-written image.

Files holding several pages or frames (multi-page TIFF, animated PNG/WebP/GIF) are refused rather
than silently cut to their first frame. ``read_metadata`` collects a file's ICC profile and EXIF
(and a gray/RGB PNG's ``tRNS``) without decoding pixels; ``write_image(..., metadata=...)`` splices
them into the encoded bytes of a JPEG, PNG, WebP or TIFF (TIFF: ICC and what its fourth sample is,
``ExtraSamples``) without re-encoding. GIFs are written by Pillow on a fitted palette.

Modules: this one reads and writes pixels; :mod:`cvdenoise.io.metadata` reads and splices
metadata; ``_containers`` walks PNG/RIFF/JPEG/TIFF structures without decoding; ``_tiff`` reads
the TIFF layouts OpenCV gets wrong.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import tempfile
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .._checks import is_integer
from .._fs import atomic_path, atomic_write, creation_problem, file_above, opencv_can_open
from ._containers import (
    _END_MARKERS, _PNG_GRAY_ALPHA, _PNG_SIGNATURE, _TIFF_UNASSOCIATED_ALPHA, _Buffer, _frame_count, _jpeg_exif,
    _jpeg_segments, _png_chunk, _png_chunks, _png_color_type, _tiff_format, _tiff_order, unread_image_format,
    still_image_format as still_image_format,  # (re-exported: cvdenoise.folder and cvdenoise.video sniff files by it)
)
from ._errors import ImageReadError, ImageWriteError
from ._tiff import _check_tiff_layout, _tiff_first_page_tags, _tiff_half_float, _tiff_read_elsewhere
from .metadata import _PNM_HEADER, ImageMetadata, _with_metadata, exif_orientation, orient, read_metadata
from .._warn import WARNINGS_LOCK

for _public in (ImageReadError, ImageWriteError, ImageMetadata, read_metadata, exif_orientation, orient):
    _public.__module__ = __name__  # named where users import them from
del _public

__all__ = [
    "ImageReadError",
    "ImageWriteError",
    "ImageMetadata",
    "read_image",
    "read_metadata",
    "write_image",
    "atomic_path",
    "atomic_write",
    "creation_problem",
    "file_above",
    "IMAGE_SUFFIXES",
    "OTHER_IMAGE_SUFFIXES",
    "STILL_IMAGE_SUFFIXES",
    "check_encodable",
    "pixel_limit",
    "exif_orientation",
    "orient",
]

#: image suffixes a folder search takes (case-insensitive; ``cvdenoise.data`` lists training images by them too)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
#: other image formats a folder may hold: a folder search leaves them out with a warning, not
#: silently; a file of one named directly is read as an image (OpenCV reads some of these), never as a video
OTHER_IMAGE_SUFFIXES = (".gif", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".psd", ".svg", ".ico", ".exr", ".hdr",
                        ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf",
                        ".pbm", ".pfm", ".pam", ".pxm", ".sr", ".ras")
#: suffixes of a still image when named directly (never a video: a GIF may be an animated clip)
STILL_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, *(s for s in OTHER_IMAGE_SUFFIXES if s != ".gif"))



_JPEG = {".jpg", ".jpeg", ".jpe", ".jfif"}
_PNM = {".pgm", ".ppm", ".pnm", ".pbm"}
# what each format's encoder holds; OpenCV silently saturates anything else to 8 bits
_DTYPES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys((*_JPEG, ".bmp", ".webp", ".gif", ".avif"), ("uint8",)),  # (.avif: 10/12-bit output untried)
    **dict.fromkeys((".png", ".pgm", ".ppm", ".pnm"), ("uint8", "uint16")),
    **dict.fromkeys((".tif", ".tiff"), ("uint8", "uint16", "int16", "int32", "float32", "float64")),
}


def _encode_png_gray_alpha(image: np.ndarray) -> bytes:
    """PNG bytes of a ``(H,W,2)`` uint8/uint16 gray + alpha array (colour type 4; OpenCV cannot write it)."""
    h, w, _ = image.shape
    depth = 8 * image.dtype.itemsize
    rows = np.ascontiguousarray(image.astype(">u2") if depth == 16 else image).view(np.uint8).reshape(h, -1)
    sub = rows.copy()  # PNG filter 1 ("Sub"): each byte minus the same byte of the pixel to its left
    bpp = 2 * image.dtype.itemsize
    sub[:, bpp:] -= rows[:, :-bpp]
    raw = np.hstack([np.ones((h, 1), np.uint8), sub]).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, _PNG_GRAY_ALPHA, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def _encode_gif(image: np.ndarray) -> bytes:
    """GIF bytes of a uint8 gray, gray + alpha, BGR or BGRA array, by Pillow (a declared
    dependency): gray as 256 grays, colour on a fitted palette (OpenCV's GIF encoder loses 3–12 dB
    against Pillow's, even on a clean photo); alpha below 128 is the transparent index."""
    import io

    from PIL import Image

    alpha = image[..., -1] if image.ndim == 3 and image.shape[2] in (2, 4) else None
    colour = image[..., :-1] if alpha is not None else image
    if colour.ndim == 3 and (colour.shape[2] == 1 or all(np.array_equal(colour[..., 0], colour[..., k]) for k in (1, 2))):
        colour = colour[..., 0]  # gray content (OpenCV reads every GIF as BGR): exact grays
    extra: dict[str, int] = {}
    if colour.ndim == 2 and alpha is None:
        pal = Image.fromarray(np.ascontiguousarray(colour), "L")  # saved with an exact 256-gray palette
    else:
        if colour.ndim == 2:  # gray + alpha: 255 grays (white kept as 254) beside the transparent index
            index = np.minimum(colour, 254).astype(np.uint8)
            palette = [v for g in range(255) for v in (g, g, g)]
        else:
            fitted = Image.fromarray(np.ascontiguousarray(colour[..., ::-1]), "RGB").quantize(
                255 if alpha is not None else 256, method=Image.Quantize.FASTOCTREE
            )
            index, palette = np.asarray(fitted).copy(), fitted.getpalette() or []
        if alpha is not None:
            index[alpha < 128] = 255
            extra = {"transparency": 255}
        pal = Image.fromarray(index, "P")
        pal.putpalette(palette + [0] * (768 - len(palette)))
    out = io.BytesIO()
    pal.save(out, "GIF", **extra)
    return out.getvalue()


def _opencv_reason(error: cv2.error) -> str:
    """OpenCV's message without its source path and line."""
    text = " ".join(str(error).split())
    found = re.search(r"error: \(-?\d+:[^)]*\) (.*)", text)
    return found.group(1) if found else text


#: the critical PNG chunks libpng handles (an uppercase first letter marks a chunk critical)
_PNG_CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")


def _png_state(data: bytes | memoryview, inflate_data: bool = True) -> tuple[str, int]:
    """What the chunks of PNG bytes that do not end in an ``IEND`` chunk hold, and the offset just
    after the last complete chunk: ``"whole"`` (an ``IEND`` comes earlier: bytes after the image),
    ``"repairable"`` (the image data's zlib stream ends; what follows the last complete chunk, if
    anything, is a chunk cut short, ``IEND`` included: ``data[:offset]`` plus ``IEND`` decodes) or
    ``"broken"``.

    Read here, in Python, so that a file libpng would refuse is never handed to it: libpng writes
    its "PNG input buffer is incomplete" to the process's stderr itself, and silencing that would
    mean redirecting file descriptor 2, which every other thread writes to (logging, progress bars).
    ``inflate_data=False``: the chunks' CRCs only (a whole file's quick check: ``"broken"`` when a
    critical chunk is damaged, where libpng would print "libpng error: …" before refusing it)."""
    at, inflate, view = len(_PNG_SIGNATURE), zlib.decompressobj(), memoryview(data)
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data):
            break  # cut inside a chunk: repairable if the image data is complete
        body = view[at + 8 : end - 4]
        if kind[:1].isupper() and zlib.crc32(view[at + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return "broken", at  # a critical chunk damaged: libpng refuses it
        if kind[:1].isupper() and kind not in _PNG_CRITICAL:
            return "broken", at  # a critical chunk libpng does not know: it refuses the file
        if kind == b"IEND":
            return "whole", end
        if kind == b"IDAT" and inflate_data:
            try:
                chunk = inflate.decompress(body, 1 << 20)  # checked, not kept: at most 1 MiB at a time
                while chunk and inflate.unconsumed_tail:
                    chunk = inflate.decompress(inflate.unconsumed_tail, 1 << 20)
            except zlib.error:
                return "broken", at
        at = end
    return ("repairable" if inflate.eof else "broken"), at


def _pillow_jpeg(data: bytes) -> np.ndarray | None:
    """JPEG bytes decoded by Pillow as OpenCV lays them out (gray ``(H,W)``, else BGR); ``None`` if
    Pillow cannot. Used for a truncated JPEG (its end marker appended): Pillow's libjpeg keeps its
    "Corrupt JPEG data: premature end of data segment" to itself, where OpenCV's writes it to the
    process's stderr. The pixels are OpenCV's (the same libjpeg-turbo decoding; a CMYK file goes
    through Pillow's own CMYK to RGB conversion)."""
    import io

    try:
        from PIL import JpegImagePlugin

        # the plugin class, not Image.open: no decompression-bomb check (cvdenoise's own pixel
        # limit has been applied) and no change to Pillow's module-wide limit
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as im:
            if im.mode == "L":
                return np.asarray(im).copy()
            rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    except Exception:  # noqa: BLE001 - any failure to decode: "cannot decode image" follows
        return None
    return np.ascontiguousarray(rgb[..., ::-1])


def _decode(path: Path, data: np.ndarray, flags: int) -> np.ndarray | None:
    """``cv2.imdecode``, its size-limit assertions (a header claiming a huge image, or a real one
    over OpenCV's limit) raised as :class:`ImageReadError` naming the file."""
    try:
        return cv2.imdecode(data, flags)
    except cv2.error as e:
        reason = _opencv_reason(e)
        limit = re.search(r"CV_IO_MAX_IMAGE_(PIXELS|WIDTH|HEIGHT)", reason)
        if limit:
            what = {"PIXELS": "2^30 pixels", "WIDTH": "2^20 pixels wide", "HEIGHT": "2^20 pixels high"}[limit.group(1)]
            reason = (f"its header gives a size over OpenCV's limit (corrupt, or a real image over {what}: raise the "
                      f"environment variable OPENCV_IO_MAX_IMAGE_{limit.group(1)}) — {reason}")
        raise ImageReadError(f"{path}: cannot decode image: {reason}") from e
    except MemoryError as e:
        raise ImageReadError(f"{path}: cannot decode image: not enough memory for its size") from e


#: the most pixels (width × height) an image file may declare: 2²⁸, a 16384 × 16384 scan. A few
#: hundred bytes can declare a gigapixel image that decodes to gigabytes (a decompression bomb);
#: the environment variable ``CVDENOISE_MAX_PIXELS`` sets another limit (0: none).
DEFAULT_MAX_PIXELS = 1 << 28


def pixel_limit() -> int:
    """The pixel limit of :func:`read_image`: ``CVDENOISE_MAX_PIXELS`` if set (0: no limit), else
    :data:`DEFAULT_MAX_PIXELS`. ``ValueError`` for a value that is not a whole number >= 0."""
    value = os.environ.get("CVDENOISE_MAX_PIXELS", "").strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ValueError(f"CVDENOISE_MAX_PIXELS must be a whole number of pixels >= 0 (0: no limit), got {value!r}")
    return limit


def _declared_pixels(buf: _Buffer, path: Path) -> tuple[int, int] | None:
    """``(width, height)`` an image file's header declares, read from its bytes without decoding
    pixels (PNG, JPEG, GIF, TIFF/BigTIFF, BMP, WebP; Pillow's header reader for other formats);
    ``None`` where no size can be read (:func:`read_image` then checks the decoded image)."""
    head = bytes(buf[:32])
    try:
        if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
            return struct.unpack_from(">II", buf, 16)
        if head[:2] == b"\xff\xd8":
            for marker, a, _ in _jpeg_segments(buf):
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header (SOFn)
                    h, w = struct.unpack_from(">HH", buf, a + 1)
                    return w, h
            return None
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack_from("<HH", buf, 6)  # the logical screen OpenCV's canvas takes
        if _tiff_format(buf) is not None:
            tags = _tiff_first_page_tags(buf, (256, 257))
            return (tags[256], tags[257]) if tags and 256 in tags and 257 in tags else None
        if head[:2] == b"BM" and len(buf) >= 26:
            core = struct.unpack_from("<I", buf, 14)[0] == 12  # (OS/2 BITMAPCOREHEADER: 16-bit sides)
            w, h = struct.unpack_from("<HH" if core else "<ii", buf, 18)
            return abs(w), abs(h)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            kind = head[12:16]
            if kind == b"VP8X":
                return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(bytes(buf[27:30]), "little")
            if kind == b"VP8L":
                bits = int.from_bytes(bytes(buf[21:25]), "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if kind == b"VP8 ":
                w, h = struct.unpack_from("<HH", buf, 26)
                return w & 0x3FFF, h & 0x3FFF
            return None
    except (struct.error, IndexError):
        return None
    try:  # another format (JPEG 2000, PNM, EXR, …): Pillow reads its header without decoding
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a declared dependency
        return None
    with WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (Pillow's own DecompressionBombWarning: this check says it)
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except Image.DecompressionBombError as e:  # over Pillow's own limit: its message has the count
            found = re.search(r"\((\d+) pixels\)", str(e))
            return (int(found.group(1)), 1) if found else None
        except Exception:  # noqa: BLE001 - any format or damage Pillow does not take
            return None


def _over_limit(path: Path, size: tuple[int, int], limit: int) -> ImageReadError:
    w, h = size
    shape = f"{w} × {h} = " if h > 1 else ""
    count = f"{w * h / 1e6:.0f} M" if w * h >= 10**6 else f"{w * h}"
    bound = f"{limit / 1e6:.0f} M" if limit >= 10**6 else f"{limit}"
    return ImageReadError(
        f"{path}: declares {shape}{count} pixels, over the limit of {bound} "
        "(a decompression bomb, or a very large scan: set CVDENOISE_MAX_PIXELS to a higher limit, 0 for none)"
    )


def _opencv_has_reader(path: str | Path) -> bool:
    """Whether this OpenCV build has a decoder for the format ``path``'s signature names (JPEG 2000
    where it was built with OpenJPEG; never PSD or HEIC): a file of such a format that does not
    decode is damaged, not unsupported."""
    try:
        return opencv_can_open(path) and bool(cv2.haveImageReader(str(path)))
    except (cv2.error, OSError):
        return False


def read_image(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``path`` into an OpenCV-order array of the file's own dtype and channels.

    JPEGs are rotated upright by their EXIF orientation (``read_metadata`` resets the orientation
    tag it hands on to 1 to match). A gray + alpha PNG comes back as ``(H,W,2)`` (gray, alpha), not
    the BGRA OpenCV makes of it; so does a gray PNG with a transparent gray value (``tRNS``), its
    alpha 0 where the value is that one (denoising would move pixels on and off it). Multi-page TIFFs (reduced-resolution pages not counted) and
    animated PNG/WebP/GIF files are refused: OpenCV would silently return only the first frame.
    A file whose header declares more than ``max_pixels`` pixels (default :func:`pixel_limit`:
    ``CVDENOISE_MAX_PIXELS`` or 2²⁸; ``0``: no limit) is refused before it is decoded.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageReadError: the file is empty, corrupt, not an image format OpenCV reads, holds
            several pages/frames, or declares more pixels than the limit.
    """
    path = Path(path)
    if max_pixels is not None and (not is_integer(max_pixels) or max_pixels < 0):
        raise ValueError(f"max_pixels must be a whole number of pixels >= 0 (0: no limit), got {max_pixels!r}")
    data = _file_bytes(path)
    frames = _frame_count(data.data)
    if frames > 1:
        raise ImageReadError(
            f"{path}: holds {frames} pages/frames; cvdenoise denoises single images (split the file first)"
        )
    limit = pixel_limit() if max_pixels is None else int(max_pixels)
    declared = _declared_pixels(data.data, path) if limit else None
    if declared is not None and declared[0] * declared[1] > limit:
        raise _over_limit(path, declared, limit)
    if _tiff_half_float(data.data):
        raise ImageReadError(f"{path}: a TIFF of float16 samples, which OpenCV cannot decode (save it as float32)")
    img = _decode_repairing(path, data)
    if limit and declared is None and img.shape[0] * img.shape[1] > limit:  # no size read from the header: checked now
        raise _over_limit(path, (img.shape[1], img.shape[0]), limit)
    img = _check_tiff_layout(path, data.data, img)
    if img.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageReadError(f"{path}: {img.dtype} samples are not supported (convert to uint8, uint16 or float32 in [0, 1])")
    return _as_read(img, data)


def _file_bytes(path: Path) -> np.ndarray:
    """The bytes of the image file ``path`` (``FileNotFoundError`` naming a broken link;
    ``ImageReadError`` for an empty file)."""
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            raise FileNotFoundError(f"{path} is a broken symbolic link (to {os.readlink(path)})")
        if path.exists():  # a FIFO, socket or device: reading would block or never end
            raise ImageReadError(f"{path}: not a regular file (a {'folder' if path.is_dir() else 'pipe, socket or device'})")
        raise FileNotFoundError(f"no such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageReadError(f"{path}: file is empty")
    return data


def _decode_repairing(path: Path, data: np.ndarray) -> np.ndarray:
    """Decode the file's bytes ``data`` as OpenCV does (JPEGs not yet turned upright), or by
    Pillow/tifffile for TIFF layouts OpenCV misreads. A truncated JPEG or PNG (no end marker: an
    interrupted download or copy) is decoded as far as it goes, with a warning; ``ImageReadError``
    when nothing decodes."""
    jpeg = bytes(data[:2]) == b"\xff\xd8"  # by content: PNG bytes named .jpg keep their alpha plane
    # JPEGs are turned by their EXIF orientation later, not by OpenCV, which misreads a LONG tag
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION if jpeg else cv2.IMREAD_UNCHANGED
    kind = "JPEG" if jpeg else "PNG" if bytes(data[:8]) == _PNG_SIGNATURE else None
    end = _END_MARKERS.get(kind or "", b"")
    truncated = kind if end and data.size > len(end) and bytes(data[-len(end) :]) != end else None
    img = _tiff_read_elsewhere(path, data.data)  # (None: OpenCV decodes it)
    repaired, png = False, "whole"
    if img is None:
        # A truncated file is decoded with its end marker appended and cvdenoise's one-line warning
        # below, but never by a decoder that writes to the process's stderr itself (libjpeg's and
        # libpng's own lines): OpenCV's libjpeg is silent on the bytes as they are (it stops short),
        # Pillow's on the repaired ones; a PNG is checked in Python first (_png_state). No
        # redirection of file descriptor 2, which other threads share. A repaired JPEG Pillow
        # cannot decode (12-bit, lossless) goes to OpenCV after all: libjpeg's one stderr line in
        # that rare case rather than refusing a file that used to be read.
        png, complete = ("whole", data.size) if kind != "PNG" else _png_state(data.data, truncated == "PNG")
        if png == "whole":
            img = _decode(path, data, flags)
        repaired = (img is None or img.size == 0) and truncated is not None and png != "broken"
        if repaired and truncated == "JPEG":
            img = _pillow_jpeg(data.tobytes() + end)
        if repaired and (img is None or img.size == 0):
            img = _decode(path, np.concatenate([data[:complete], np.frombuffer(end, np.uint8)]), flags)  # decodes what is there
    if (img is None or img.size == 0) and _tiff_order(data.data) is not None:
        with contextlib.suppress(cv2.error), contextlib.ExitStack() as stack:  # OpenCV's in-memory TIFF decoder
            name = str(path)  # refuses some valid tile sizes (16 x odd) that its file reader takes
            if not opencv_can_open(name):  # (a name that is not UTF-8: through a copy under a plain name)
                copy = stack.enter_context(tempfile.NamedTemporaryFile(suffix=".tif"))
                copy.write(data.tobytes())
                copy.flush()
                name = copy.name
            img = cv2.imread(name, flags)
    if img is None or img.size == 0:
        kind = unread_image_format(bytes(data[:16]))
        if kind is not None and not _opencv_has_reader(path):
            raise ImageReadError(f"{path}: cannot decode image ({kind}, a format cvdenoise does not read: "
                                 "convert it to PNG, TIFF or JPEG first)")
        what = (f"truncated or corrupt {truncated or kind}" if truncated or kind
                else "corrupt PNG: a damaged chunk" if png == "broken" else "corrupt or unsupported format")
        raise ImageReadError(f"{path}: cannot decode image ({what})")
    if repaired:
        warnings.warn(f"{path}: truncated {truncated} (no end marker): only the part that is there was decoded", stacklevel=3)
    return img


def _as_read(img: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The decoded ``img`` as :func:`read_image` returns it: a JPEG turned upright by its EXIF
    orientation, a gray + alpha PNG as ``(H,W,2)``, a gray PNG's transparent value (``tRNS``) as
    an alpha plane."""
    if bytes(data[:2]) == b"\xff\xd8":
        img = orient(img, exif_orientation(_jpeg_exif(data.data)))
    if img.ndim == 3 and img.shape[2] == 4 and _png_color_type(data) == _PNG_GRAY_ALPHA:
        img = np.ascontiguousarray(img[..., [0, 3]])
    elif img.ndim == 2 and (key := _png_gray_key(data)) is not None:  # OpenCV ignores a gray PNG's tRNS
        opaque = np.iinfo(img.dtype).max
        img = np.dstack([img, np.where(img == key, 0, opaque).astype(img.dtype)])
    return img


def _png_gray_key(data: np.ndarray) -> int | None:
    """The transparent gray value (``tRNS``) of gray PNG bytes, on the scale OpenCV decodes them to
    (1/2/4-bit samples are stretched to 8 bits); ``None`` if not a gray PNG with one."""
    if _png_color_type(data) != 0:
        return None
    buf, depth = data.data, int(data[24])
    for tag, a, b in _png_chunks(buf, until=b"IDAT"):
        if tag == b"tRNS" and b - a >= 2:
            key = struct.unpack_from(">H", buf, a)[0] & ((1 << depth) - 1)
            return key * (255 // ((1 << depth) - 1)) if depth < 8 else key
    return None


def check_encodable(path: str | Path, dtype: np.dtype | type, channels: int | None = None) -> None:
    """Raise ``ImageWriteError`` if ``path``'s format cannot hold ``dtype`` samples (or, given
    ``channels``, an alpha plane: 2 or 4 channels named ``.jpg``, whose alpha JPEG would drop; or
    colour named ``.pgm``; gray named ``.ppm`` is written as three equal planes).

    JPEG, BMP, WebP, GIF and AVIF hold 8 bits, PNG and PNM 8 or 16, TIFF also float32/float64. OpenCV's
    encoders would otherwise cut 16-bit or float data to 8 bits (a white or black image). A file
    whose name does not match its content (16-bit PNG bytes named ``.jpg``) is caught here before
    any work is done on it. Suffixes not listed are left to OpenCV.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    name = np.dtype(dtype).name
    allowed = _DTYPES.get(ext)
    if allowed is not None and name not in allowed:
        keep = [e for e in (".png", ".tif") if name in _DTYPES[e]]
        advice = f"; use a {' or '.join(keep)} name to keep its depth" if keep else ""
        raise ImageWriteError(f"{path}: a {ext} file holds {', '.join(allowed)} samples, this image is {name}{advice}")
    if channels in (2, 4) and (ext in _JPEG or ext in _PNM):
        raise ImageWriteError(f"{path}: this image has an alpha channel, which a {ext} file cannot hold; use a .png name to keep it")
    if channels == 3 and ext in (".pgm", ".pbm"):
        raise ImageWriteError(f"{path}: a {ext} file holds gray images, this one has colour; use a .ppm name")


def write_image(
    path: str | Path, image: np.ndarray, jpeg_quality: int = 95, metadata: ImageMetadata | None = None
) -> Path:
    """Encode ``image`` by ``path``'s suffix and write it atomically.

    A ``(H,W,2)`` gray + alpha uint8/uint16 array is written as a gray + alpha PNG, or as BGRA
    to other formats. ``metadata`` (from ``read_metadata``) is spliced into the encoded bytes, so
    pixels and bit depth are exactly those OpenCV encodes: ICC profile and EXIF for JPEG, PNG and
    WebP; for TIFF the ICC profile and, for a fourth sample, ``ExtraSamples`` (the source's, else
    unassociated alpha; EXIF and resolution are left out there); nothing for other formats (a GIF is
    written by Pillow on a palette fitted to the image, gray content on exact grays);
    also a PNG's gamma, chromaticities, sRGB intent and pixel density, and a JPEG's JFIF density and
    4:4:4 chroma sampling (other JPEGs are written 4:2:0). An EXIF block over 64 KiB is left out of JPEGs. A PNG ``tRNS`` chunk is added only when the output has the
    source's colour type and bit depth; it names a colour, so pixels that denoising moved onto or
    off that colour change transparency. An ICC profile of another colour space than the output
    (e.g. a CMYK JPEG's, which OpenCV decodes to BGR) is left out. If splicing fails the image is
    written without metadata.

    Raises:
        ImageWriteError: the format cannot hold this array or the file cannot be written.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    check_encodable(path, image.dtype, image.shape[2] if image.ndim == 3 else 1)
    maxval = metadata.pnm_maxval if metadata is not None and ext in _PNM and image.dtype.kind == "u" else None
    if maxval:
        image = np.minimum(image, np.asarray(min(maxval, np.iinfo(image.dtype).max), image.dtype))
    if image.ndim == 3 and image.shape[2] == 2:
        if ext == ".png" and image.dtype in (np.uint8, np.uint16):
            png = _with_metadata(_encode_png_gray_alpha(image), metadata, image)
            return atomic_write(path, lambda tmp: Path(tmp).write_bytes(png))
        image = image[..., [0, 0, 0, 1]]
    if ext in (".tif", ".tiff") and image.ndim == 3 and image.shape[2] == 4:
        # name the fourth sample alpha (unassociated unless the source said otherwise): without the
        # tag strict readers (GDAL, libtiff's RGBA interface) see a fourth colour band
        alpha = metadata.tiff_alpha if metadata is not None and metadata.tiff_alpha is not None else _TIFF_UNASSOCIATED_ALPHA
        metadata = replace(metadata or ImageMetadata(), tiff_alpha=alpha)
    if ext == ".ppm" and (image.ndim == 2 or image.shape[2] == 1):  # P6 holds colour only
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if ext == ".gif" and image.dtype == np.uint8:
        gif = _encode_gif(image)
        return atomic_write(path, lambda tmp: Path(tmp).write_bytes(gif))
    params: list[int] = []
    if ext in _JPEG:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        if metadata is not None and metadata.jpeg_full_chroma:  # keep a 4:4:4 source's colour resolution
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    elif ext == ".webp":  # OpenCV writes lossless WebP for a quality above 100
        params = [cv2.IMWRITE_WEBP_QUALITY, 101 if metadata is not None and metadata.lossless else int(jpeg_quality)]
    try:
        ok, buf = cv2.imencode(".jpg" if ext in _JPEG else ext, image, params)
    except cv2.error as e:
        raise ImageWriteError(f"{path}: cannot encode {image.dtype} {image.shape} as {ext}: {_opencv_reason(e)}") from e
    if not ok:
        raise ImageWriteError(f"{path}: cannot encode {image.dtype} {image.shape} as {ext}")
    data = _with_metadata(buf.tobytes(), metadata, image)
    if maxval and (m := _PNM_HEADER.match(data)):
        # OpenCV writes maxval 255/65535 whatever the samples' scale: the source's maxval, so readers
        # that honour it (as the format asks) do not show a 12-bit frame 16x darker
        data = data[: m.start(1)] + str(maxval).encode() + data[m.end(1) :]
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


