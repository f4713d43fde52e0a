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
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ._checks import is_integer
from ._fs import atomic_path, atomic_write, creation_problem, file_above

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
    "check_encodable",
    "pixel_limit",
    "exif_orientation",
    "orient",
]

#: image suffixes a folder search takes (case-insensitive; ``cvdenoise.data`` lists training images by them too)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


class ImageReadError(ValueError):
    """A file could not be decoded as an image."""


class ImageWriteError(OSError):
    """An image could not be encoded or written."""


@dataclass(frozen=True)
class ImageMetadata:
    """What ``write_image`` can carry from a source file into its denoised copy.

    Attributes:
        icc_profile: the ICC colour profile, or ``None``.
        exif: the EXIF block as TIFF-structured bytes (no ``Exif\\0\\0`` prefix), its orientation
            tag already describing the pixels ``read_image`` returns (reset to 1 for JPEGs, which
            ``read_image`` rotates upright); ``None`` if absent or unreadable.
        png_trns: a gray/RGB (non-palette) PNG's ``tRNS`` chunk as ``(bit depth, colour type,
            chunk body)``, copied to an output of the same colour type and bit depth
            (``read_image`` itself turns it into an alpha plane, so its outputs carry alpha instead).
        lossless: the source is a lossless WebP (``VP8L``): its copy is written lossless too.
        png_chunks: a PNG's ``gAMA``, ``cHRM``, ``sRGB`` and ``pHYs`` chunks as ``(tag, body)``
            (colour encoding and pixel density, which denoising does not change), copied verbatim.
        jpeg_density: a JPEG's JFIF density (units, x, y: the 5 bytes of its APP0 segment).
        jpeg_full_chroma: the source JPEG is 4:4:4 (no chroma subsampling): so is its copy.
        png_sbit: a PNG's ``sBIT`` chunk (significant bits per channel, e.g. 12 for 12-bit
            camera data in a 16-bit PNG) as ``(bit depth, colour type, chunk body)``.
        pnm_maxval: a PGM/PPM's maximum sample value when it is not 255 or 65535 (e.g. 4095
            for 12-bit camera data); its samples are on that scale and its copy keeps it.
        tiff_alpha: a TIFF's ``ExtraSamples`` value for its fourth sample (1: associated,
            premultiplied alpha; 2: unassociated alpha; 0: unspecified), written into its copy.
    """

    icc_profile: bytes | None = None
    exif: bytes | None = None
    png_trns: tuple[int, int, bytes] | None = None
    lossless: bool = False
    png_chunks: tuple[tuple[bytes, bytes], ...] = ()
    jpeg_density: bytes | None = None
    jpeg_full_chroma: bool = False
    png_sbit: tuple[int, int, bytes] | None = None
    pnm_maxval: int | None = None
    tiff_alpha: int | None = None

    @property
    def significant_bits(self) -> int | None:
        """Bits the colour samples use by the PNG ``sBIT`` chunk (alpha left out), or ``None``."""
        if self.png_sbit is None or not self.png_sbit[2]:
            return None
        body, colour_type = self.png_sbit[2], self.png_sbit[1]
        colour = body[:1] if colour_type in (0, 4) else body[:3]  # gray (+ alpha) / RGB (+ alpha)
        return max(colour) if colour else None


_JPEG = {".jpg", ".jpeg", ".jpe", ".jfif"}
_PNM = {".pgm", ".ppm", ".pnm", ".pbm"}
# what each format's encoder holds; OpenCV silently saturates anything else to 8 bits
_DTYPES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys((*_JPEG, ".bmp", ".webp", ".gif", ".avif"), ("uint8",)),  # (.avif: 10/12-bit output untried)
    **dict.fromkeys((".png", ".pgm", ".ppm", ".pnm"), ("uint8", "uint16")),
    **dict.fromkeys((".tif", ".tiff"), ("uint8", "uint16", "int16", "int32", "float32", "float64")),
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\0\0\0\0IEND\xaeB`\x82"  # the 12-byte end chunk
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": _PNG_IEND}  # what an interrupted copy lacks
_PNG_GRAY_ALPHA = 4  # IHDR colour type
_PNG_COPIED = (b"gAMA", b"cHRM", b"sRGB", b"pHYs")  # colour encoding and density: unchanged by denoising


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


_Buffer = bytes | bytearray | memoryview


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def _png_chunks(buf: _Buffer, until: bytes = b"IEND") -> Iterator[tuple[bytes, int, int]]:
    """``(type, body start, body end)`` of each chunk of PNG bytes, stopping at chunk ``until``."""
    pos = 8
    while pos + 12 <= len(buf):
        size, tag = struct.unpack_from(">I4s", buf, pos)
        if tag == until or pos + 12 + size > len(buf):
            return
        yield tag, pos + 8, pos + 8 + size
        pos += 12 + size


def _riff_chunks(buf: _Buffer) -> Iterator[tuple[bytes, int, int]]:
    """``(fourcc, body start, body end)`` of each chunk of RIFF (WebP) bytes."""
    pos = 12
    while pos + 8 <= len(buf):
        tag, size = struct.unpack_from("<4sI", buf, pos)
        if pos + 8 + size > len(buf):
            return
        yield tag, pos + 8, pos + 8 + size
        pos += 8 + size + (size & 1)


def _riff_chunk(tag: bytes, body: bytes) -> bytes:
    """One RIFF chunk: fourcc, little-endian size, body padded to an even length."""
    return tag + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def _jpeg_segments(buf: _Buffer) -> Iterator[tuple[int, int, int]]:
    """``(marker, payload start, payload end)`` of each JPEG marker segment before the scan data."""
    pos = 2
    while pos + 4 <= len(buf) and buf[pos] == 0xFF:
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image
            return
        (size,) = struct.unpack_from(">H", buf, pos + 2)
        if size < 2 or pos + 2 + size > len(buf):
            return
        yield marker, pos + 4, pos + 2 + size
        pos += 2 + size


def _jpeg_exif(buf: _Buffer) -> bytes | None:
    """The first EXIF block (``APP1``, with its ``Exif\\0\\0`` prefix) of JPEG bytes, or ``None``."""
    if bytes(buf[:2]) != b"\xff\xd8":
        return None
    try:
        return next((bytes(buf[a:b]) for m, a, b in _jpeg_segments(buf) if m == 0xE1 and buf[a : a + 6] == b"Exif\0\0"), None)
    except struct.error:
        return None


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    """One JPEG marker segment (payload at most 65533 bytes)."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


_TIFF_ICC = 34675  # InterColorProfile tag
_TIFF_EXTRA_SAMPLES = 338  # what samples beyond the colour ones are: 0 unspecified, 1 associated alpha, 2 unassociated alpha
_TIFF_UNASSOCIATED_ALPHA = 2
_Entry = tuple[int, int, int, int]  # tag, type, count, offset of the 12-byte entry


def _tiff_order(buf: _Buffer) -> str | None:
    """``struct`` byte order of classic TIFF (or EXIF) bytes; ``None`` if not classic TIFF."""
    head = bytes(buf[:4])
    return "<" if head == b"II*\0" else ">" if head == b"MM\0*" else None


def _tiff_ifd(
    buf: _Buffer, order: str, offset: int, tolerant: bool = False, big: bool = False
) -> tuple[list[_Entry], int]:
    """The entries of the TIFF IFD at ``offset`` and the offset of the next IFD (0: none).

    ``big``: BigTIFF (8-byte entry count, 20-byte entries, 8-byte offsets; an entry's value field
    starts 12 bytes in, not 8). ``struct.error`` if the IFD runs past the end of ``buf``;
    ``tolerant`` (as image viewers read an orientation): entries past the end (an entry count too
    large) are left out, and a missing next-IFD offset reads as 0 — only a missing entry count raises.
    """
    count_fmt, size, word = ("Q", 20, "Q") if big else ("H", 12, "I")
    (count,) = struct.unpack_from(order + count_fmt, buf, offset)
    if count > 0xFFFF:  # (a classic IFD holds at most this; a BigTIFF one claiming more is taken as damaged)
        raise struct.error(f"IFD at {offset} claims {count} entries")
    first = offset + struct.calcsize(count_fmt)
    entries: list[_Entry] = []
    for i in range(count):
        at = first + size * i
        if at + size > len(buf):
            if tolerant:
                return entries, 0
            raise struct.error(f"IFD entry {i} at {at} past the end ({len(buf)} bytes)")
        tag, typ, n = struct.unpack_from(order + "HH" + word, buf, at)
        entries.append((tag, typ, n, at))
    end = first + size * count
    nxt = struct.unpack_from(order + word, buf, end)[0] if end + struct.calcsize(word) <= len(buf) or not tolerant else 0
    return entries, nxt


def _bigtiff_order(buf: _Buffer) -> str | None:
    """``struct`` byte order of BigTIFF bytes (64-bit offsets); ``None`` if not BigTIFF."""
    head = bytes(buf[:8])
    return "<" if head == b"II+\0\x08\0\0\0" else ">" if head == b"MM\0+\0\x08\0\0" else None


def _tiff_format(buf: _Buffer) -> tuple[str, bool] | None:
    """``(byte order, BigTIFF)`` of classic TIFF or BigTIFF bytes; ``None`` if neither."""
    if (order := _tiff_order(buf)) is not None:
        return order, False
    if (order := _bigtiff_order(buf)) is not None:
        return order, True
    return None


def _tiff_value(buf: _Buffer, order: str, big: bool, entry: _Entry) -> int:
    """The first SHORT or LONG value of an IFD entry (inline, or where its value field points)."""
    _, typ, n, at = entry
    fmt = order + ("H" if typ == 3 else "I")
    value_at = at + (12 if big else 8)
    if n * struct.calcsize(fmt) > (8 if big else 4):  # stored elsewhere: the field is an offset
        (value_at,) = struct.unpack_from(order + ("Q" if big else "I"), buf, value_at)
    return int(struct.unpack_from(fmt, buf, value_at)[0])


#: IFD entries a page count reads at most (real TIFFs: ~20 per page, so ~10 000 pages)
_IFD_ENTRY_BUDGET = 200_000


def _tiff_pages(buf: _Buffer) -> int:
    """Full-resolution pages of TIFF or BigTIFF bytes (IFDs not flagged as reduced-resolution),
    counted until :data:`_IFD_ENTRY_BUDGET` entries have been read."""
    form = _tiff_format(buf)
    if form is None:
        return 1
    order, big = form
    (offset,) = struct.unpack_from(order + ("Q" if big else "I"), buf, 8 if big else 4)
    pages, seen, budget = 0, set[int](), _IFD_ENTRY_BUDGET
    while offset and offset not in seen and budget > 0:
        seen.add(offset)
        entries, offset = _tiff_ifd(buf, order, offset, big=big)
        budget -= len(entries) + 1  # (a crafted chain of overlapping 65535-entry IFDs took an hour to walk)
        subfile = [_tiff_value(buf, order, big, e) for e in entries if e[0] == 254 and e[1] in (3, 4)]  # NewSubfileType
        pages += not (subfile and subfile[0] & 1)  # bit 0: a reduced-resolution copy of another page
    return max(pages, 1)


def _gif_frames(buf: _Buffer) -> int:
    """Image frames of GIF bytes (walks the block structure, decodes nothing)."""
    pos, flags = 13, buf[10]
    if flags & 0x80:  # global colour table
        pos += 3 << ((flags & 7) + 1)
    frames = 0
    while pos < len(buf) and buf[pos] != 0x3B:  # trailer
        if buf[pos] == 0x2C:  # image descriptor (+ local colour table + LZW code size)
            frames += 1
            flags = buf[pos + 9]
            pos += 11 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
        elif buf[pos] == 0x21:  # extension: introducer + label
            pos += 2
        else:
            break
        while pos < len(buf) and buf[pos]:  # data sub-blocks up to the terminator
            pos += buf[pos] + 1
        pos += 1
    return frames


def still_image_format(head: bytes) -> str | None:
    """The still-image format whose signature starts ``head`` (the file's first 16 bytes):
    ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"BMP"``, ``"WebP"``, ``"GIF"``, ``"PNM"``, or ``None``."""
    if head[:8] == _PNG_SIGNATURE:
        return "PNG"
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if _tiff_order(head) or _bigtiff_order(head):
        return "TIFF"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n#":
        return "PNM"
    return None


def _frame_count(buf: _Buffer) -> int:
    """Pages/frames in TIFF, animated PNG/WebP or GIF bytes; 1 for other formats or when unsure."""
    head = bytes(buf[:16])
    try:
        if _tiff_order(head) or _bigtiff_order(head):
            return _tiff_pages(buf)
        if head[:8] == _PNG_SIGNATURE:  # APNG: acTL (frame count) precedes the first IDAT
            actl = [s for tag, s, _ in _png_chunks(buf, until=b"IDAT") if tag == b"acTL"]
            return int(struct.unpack_from(">I", buf, actl[0])[0]) if actl else 1
        if head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and buf[20] & 0x02:  # animation flag
            return sum(tag == b"ANMF" for tag, _, _ in _riff_chunks(buf))
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return _gif_frames(buf)
    except (struct.error, IndexError):
        pass
    return 1


#: the largest ICC profile carried (real ones are a few KB to a few MB)
_MAX_ICC_BYTES = 32 << 20


def _valid_icc(icc: bytes | None) -> bytes | None:
    """``icc`` if it looks like an ICC profile (``acsp`` signature), else ``None``."""
    return icc if icc is not None and len(icc) >= 132 and icc[36:40] == b"acsp" else None


_ORIENTATION = 0x0112  # EXIF Orientation: how the stored pixels are turned for display (1: as stored)


def _exif_entries(exif: bytes, tolerant: bool = False) -> tuple[str, list[_Entry], list[_Entry]] | None:
    """Byte order, IFD0 entries and Exif sub-IFD entries of TIFF-structured EXIF bytes
    (``tolerant``: what can be read of a damaged IFD0, see :func:`_tiff_ifd`); a broken sub-IFD gives none."""
    order = _tiff_order(exif)
    if order is None:
        return None
    (ifd0,) = struct.unpack_from(order + "I", exif, 4)
    entries, _ = _tiff_ifd(exif, order, ifd0, tolerant)
    sub: list[_Entry] = []
    for tag, typ, n, at in entries:
        if tag == 0x8769 and typ in (4, 13) and n == 1:  # pointer to the Exif sub-IFD
            try:
                sub, _ = _tiff_ifd(exif, order, struct.unpack_from(order + "I", exif, at + 8)[0], tolerant)
            except struct.error:  # a broken sub-IFD: IFD0 (orientation, and what is rewritten) still counts
                sub = []
            break  # the first pointer only: a crafted IFD0 of thousands of them took minutes to read
    return order, entries, sub


def _short_or_long(order: str, typ: int) -> str:
    return order + ("H" if typ == 3 else "I")


def exif_orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1–8) of EXIF bytes (with or without the ``Exif\\0\\0`` prefix); 1 if
    absent or unreadable. The standard SHORT and the LONG some writers use are both read."""
    if exif is None:
        return 1
    exif = exif.removeprefix(b"Exif\0\0")
    try:
        parsed = _exif_entries(exif, tolerant=True)  # a damaged block's orientation still counts, as for viewers
        if parsed is None:
            return 1
        order, entries, _ = parsed
        for entry in entries:
            if entry[0] == _ORIENTATION and entry[1] in (3, 4) and entry[2] == 1:
                value = _tiff_value(exif, order, False, entry)
                return value if 1 <= value <= 8 else 1
    except struct.error:
        pass
    return 1


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """``(H,W[,C])`` pixels stored with EXIF ``orientation``, turned the way they are to be shown."""
    if orientation >= 5:  # 5–8: a transpose, then the flips of 1–4
        image = image.swapaxes(0, 1)
    flip_rows, flip_cols = {2: (0, 1), 3: (1, 1), 4: (1, 0), 6: (0, 1), 7: (1, 1), 8: (1, 0)}.get(orientation, (0, 0))
    return np.ascontiguousarray(image[:: -1 if flip_rows else 1, :: -1 if flip_cols else 1])


def _normalise_exif(exif: bytes | None, upright: bool) -> bytes | None:
    """EXIF as TIFF-structured bytes; if ``upright`` (the pixels were turned by :func:`orient`),
    orientation set to 1, after a quarter turn the pixel width and height swapped too, and the
    thumbnail (IFD1, still stored the old way) left out; ``None`` if unreadable."""
    if exif is None:
        return None
    exif = exif.removeprefix(b"Exif\0\0")
    try:
        parsed = _exif_entries(exif)
        if parsed is None:
            return None
        order, entries, sub = parsed
        out = bytearray(exif)
        if upright and exif_orientation(exif) >= 5:  # PixelXDimension / PixelYDimension
            dims = {e[0]: e for e in sub if e[0] in (0xA002, 0xA003) and e[1] in (3, 4) and e[2] == 1}
            if len(dims) == 2 and dims[0xA002][1] == dims[0xA003][1]:
                fmt = _short_or_long(order, dims[0xA002][1])
                w, h = (_tiff_value(exif, order, False, dims[t]) for t in (0xA002, 0xA003))
                struct.pack_into(fmt, out, dims[0xA002][3] + 8, h)
                struct.pack_into(fmt, out, dims[0xA003][3] + 8, w)
        for tag, typ, n, at in entries:
            if upright and tag == _ORIENTATION and typ in (3, 4) and n == 1:
                struct.pack_into(_short_or_long(order, typ), out, at + 8, 1)
        if upright and exif_orientation(exif) != 1:  # unlink IFD1, the thumbnail: it would still be turned
            (ifd0,) = struct.unpack_from(order + "I", exif, 4)
            next_at = ifd0 + 2 + 12 * struct.unpack_from(order + "H", exif, ifd0)[0]
            if next_at + 4 <= len(out):
                struct.pack_into(order + "I", out, next_at, 0)
    except struct.error:
        return None
    return bytes(out)


def _png_icc(buf: bytes, a: int, b: int) -> bytes | None:
    """The ICC profile of the PNG ``iCCP`` chunk ``buf[a:b]``; ``None`` if it is malformed or inflates
    past :data:`_MAX_ICC_BYTES` (left out; the chunks after it are still read)."""
    try:
        name_end = buf.index(b"\0", a, b)
        inflate = zlib.decompressobj()  # capped: a 2 MB chunk can inflate to gigabytes
        icc = inflate.decompress(buf[name_end + 2 : b], _MAX_ICC_BYTES)
    except (ValueError, zlib.error):
        return None
    return icc if inflate.eof and not inflate.unconsumed_tail else None  # (cut short: left out)


def read_metadata(path: str | Path) -> ImageMetadata:
    """The ICC profile, EXIF, PNG ``tRNS`` and WebP losslessness of a JPEG, PNG, WebP or TIFF (TIFF:
    ICC and ``ExtraSamples``).

    Parses the container only (no pixel decoding). Never raises: a missing, unreadable or
    malformed piece is left out (``None``), so a file with broken EXIF is still denoised.
    The EXIF orientation is reset to 1 for JPEGs, matching ``read_image``, which rotates them.
    """
    path = Path(path)
    icc: bytes | None = None
    exif: bytes | None = None
    trns: tuple[int, int, bytes] | None = None
    lossless = False
    png_chunks: list[tuple[bytes, bytes]] = []
    density: bytes | None = None
    full_chroma = False
    sbit: tuple[int, int, bytes] | None = None
    maxval: int | None = None
    tiff_alpha: int | None = None
    buf = b""
    try:
        buf = path.read_bytes()
        if buf[:2] == b"\xff\xd8":
            parts: dict[int, bytes] = {}
            for marker, a, b in _jpeg_segments(buf):
                if marker == 0xE0 and buf[a : a + 5] == b"JFIF\0" and b - a >= 12:
                    density = buf[a + 7 : a + 12] if buf[a + 7 : a + 12] != b"\0\0\x01\0\x01" else None  # not 1:1
                elif marker in (0xC0, 0xC1, 0xC2) and b - a >= 6 + 3 * buf[a + 5]:  # frame header
                    factors = {buf[a + 7 + 3 * k] for k in range(buf[a + 5])}  # H/V sampling per component
                    full_chroma = buf[a + 5] == 3 and len(factors) == 1
                elif marker == 0xE1 and exif is None and buf[a : a + 6] == b"Exif\0\0":
                    exif = buf[a:b]
                elif marker == 0xE2 and buf[a : a + 12] == b"ICC_PROFILE\0" and b - a > 14:
                    parts[buf[a + 12]] = buf[a + 14 : b]
            if parts and sorted(parts) == list(range(1, len(parts) + 1)):
                icc = b"".join(parts[k] for k in sorted(parts))
        elif buf[:8] == _PNG_SIGNATURE:
            for tag, a, b in _png_chunks(buf):
                if tag == b"iCCP":
                    icc = _png_icc(buf, a, b)
                elif tag == b"eXIf":
                    exif = buf[a:b]
                elif tag == b"tRNS" and buf[25] in (0, 2):
                    trns = (buf[24], buf[25], buf[a:b])
                elif tag in _PNG_COPIED:
                    png_chunks.append((tag, buf[a:b]))
                elif tag == b"sBIT":
                    sbit = (buf[24], buf[25], buf[a:b])
        elif buf[:4] == b"RIFF" and buf[8:12] == b"WEBP":
            for tag, a, b in _riff_chunks(buf):
                if tag == b"ICCP":
                    icc = buf[a:b]
                elif tag == b"EXIF":
                    exif = buf[a:b]
                elif tag == b"VP8L":
                    lossless = True
        elif (m := _PNM_HEADER.match(buf[:4096])) is not None:
            maxval = int(m.group(1)) if int(m.group(1)) not in (255, 65535) else None
        elif (order := _tiff_order(buf)) is not None:
            entries, _ = _tiff_ifd(buf, order, struct.unpack_from(order + "I", buf, 4)[0])
            for entry in entries:
                tiff_tag, typ, n, at = entry
                try:  # one malformed tag costs that tag only
                    if tiff_tag == _TIFF_ICC and n > 4:
                        (start,) = struct.unpack_from(order + "I", buf, at + 8)
                        icc = buf[start : start + n]
                    elif tiff_tag == _TIFF_EXTRA_SAMPLES and typ == 3 and n == 1:
                        tiff_alpha = _tiff_value(buf, order, False, entry)
                except (struct.error, ValueError, IndexError):
                    continue
    except Exception:  # metadata is best effort: never fail a file over it
        pass
    upright = buf[:2] == b"\xff\xd8"  # (a JPEG by its bytes, whatever its name) read_image applies the EXIF orientation to these
    return ImageMetadata(
        _valid_icc(icc), _normalise_exif(exif, upright), trns, lossless, tuple(png_chunks), density, full_chroma, sbit,
        maxval, tiff_alpha,
    )


# a PGM/PPM header (P2/P3/P5/P6, comments allowed); group 1: its maxval
_PNM_HEADER = re.compile(rb"P[2356](?:\s+(?:#[^\n]*\n\s*)*(\d+)){3}\s")


def _embed_jpeg(buf: bytes, meta: ImageMetadata) -> bytes:
    """JPEG bytes with APP1 (Exif) and APP2 (ICC_PROFILE, in ≤65519-byte chunks) after SOI/JFIF, and the source's JFIF density."""
    segments = []
    if meta.exif and len(meta.exif) <= 0xFFFF - 8:  # an Exif block cannot be split over segments
        segments.append(_jpeg_segment(0xE1, b"Exif\0\0" + meta.exif))
    if meta.icc_profile:
        step = 0xFFFF - 2 - 14
        parts = [meta.icc_profile[i : i + step] for i in range(0, len(meta.icc_profile), step)]
        if len(parts) <= 255:
            for k, part in enumerate(parts, 1):
                segments.append(_jpeg_segment(0xE2, b"ICC_PROFILE\0" + bytes([k, len(parts)]) + part))
    at = 2
    if buf[2:4] == b"\xff\xe0":  # keep the JFIF APP0 segment first
        at += 2 + struct.unpack_from(">H", buf, 4)[0]
        if meta.jpeg_density and buf[6:11] == b"JFIF\0" and at >= 18:  # units, x and y density
            buf = buf[:13] + meta.jpeg_density + buf[18:]
    return buf[:at] + b"".join(segments) + buf[at:]


def _embed_png(buf: bytes, meta: ImageMetadata) -> bytes:
    """PNG bytes with ``iCCP``, ``eXIf``, ``gAMA``/``cHRM``/``sRGB``/``pHYs`` and (same colour type and bit depth) ``tRNS`` after IHDR."""
    if buf[12:16] != b"IHDR" or struct.unpack_from(">I", buf, 8)[0] != 13:
        return buf
    extra = b""
    if meta.icc_profile:
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(meta.icc_profile))
    if meta.exif:
        extra += _png_chunk(b"eXIf", meta.exif)
    for tag, body in meta.png_chunks:
        extra += _png_chunk(tag, body)
    if meta.png_trns and meta.png_trns[:2] == (buf[24], buf[25]):
        extra += _png_chunk(b"tRNS", meta.png_trns[2])
    if meta.png_sbit and meta.png_sbit[:2] == (buf[24], buf[25]):  # same layout: the values still fit
        extra += _png_chunk(b"sBIT", meta.png_sbit[2])
    return buf[:33] + extra + buf[33:]


def _embed_webp(buf: bytes, meta: ImageMetadata, width: int, height: int) -> bytes:
    """WebP bytes in the extended format: VP8X header, ``ICCP`` first, ``EXIF`` last."""
    chunks = [(tag, buf[a:b]) for tag, a, b in _riff_chunks(buf)]
    if not chunks or any(tag in (b"ICCP", b"EXIF", b"ANMF") for tag, _ in chunks):
        return buf
    if chunks[0][0] == b"VP8X":
        header = bytearray(chunks.pop(0)[1])
    else:  # simple format: one VP8 (lossy, opaque) or VP8L (lossless) chunk
        header = bytearray(10)
        header[4:7] = (width - 1).to_bytes(3, "little")
        header[7:10] = (height - 1).to_bytes(3, "little")
        tag, body = chunks[0]
        if tag == b"VP8L" and int.from_bytes(body[1:5], "little") >> 28 & 1:
            header[0] |= 0x10  # alpha
    if meta.icc_profile:
        header[0] |= 0x20
        chunks.insert(0, (b"ICCP", meta.icc_profile))
    if meta.exif:
        header[0] |= 0x08
        chunks.append((b"EXIF", meta.exif))
    body = b"WEBP" + _riff_chunk(b"VP8X", bytes(header)) + b"".join(_riff_chunk(t, c) for t, c in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _embed_tiff(buf: bytes, meta: ImageMetadata) -> bytes:
    """TIFF bytes with the ICC profile and (for a fourth sample) the ``ExtraSamples`` tag: a copy of
    IFD0 plus those tags, appended and pointed to."""
    order = _tiff_order(buf)
    if order is None:
        return buf
    (ifd0,) = struct.unpack_from(order + "I", buf, 4)
    entries, nxt = _tiff_ifd(buf, order, ifd0)
    have = {e[0]: e for e in entries}
    out = bytearray(buf) + b"\0" * (len(buf) & 1)  # TIFF offsets are word-aligned
    added: dict[int, bytes] = {}
    if meta.icc_profile and _TIFF_ICC not in have:
        icc = meta.icc_profile
        added[_TIFF_ICC] = struct.pack(order + "HHII", _TIFF_ICC, 7, len(icc), len(out))
        out += icc + b"\0" * (len(icc) & 1)
    samples = have.get(277)
    if meta.tiff_alpha is not None and _TIFF_EXTRA_SAMPLES not in have and samples and _tiff_value(buf, order, False, samples) == 4:
        added[_TIFF_EXTRA_SAMPLES] = struct.pack(order + "HHIHH", _TIFF_EXTRA_SAMPLES, 3, 1, meta.tiff_alpha, 0)
    if not added:
        return buf
    raw = dict((tag, buf[at : at + 12]) for tag, _typ, _n, at in entries) | added
    ifd_at = len(out)
    out += struct.pack(order + "H", len(raw)) + b"".join(raw[t] for t in sorted(raw)) + struct.pack(order + "I", nxt)
    struct.pack_into(order + "I", out, 4, ifd_at)  # the old IFD0 stays behind, unreferenced
    return bytes(out)


def _embed_metadata(buf: bytes, meta: ImageMetadata, image: np.ndarray) -> bytes:
    """Encoded image bytes with ``meta`` spliced in (chosen by the bytes' own signature)."""
    if buf[:2] == b"\xff\xd8":
        return _embed_jpeg(buf, meta)
    if buf[:8] == _PNG_SIGNATURE:
        return _embed_png(buf, meta)
    if buf[:4] == b"RIFF" and buf[8:12] == b"WEBP":
        return _embed_webp(buf, meta, image.shape[1], image.shape[0])
    if _tiff_order(buf):
        return _embed_tiff(buf, meta)
    return buf


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
    unassociated alpha (colours premultiplied); ``None`` for every other file."""
    # BitsPerSample, PhotometricInterpretation, SamplesPerPixel, PlanarConfiguration, Orientation,
    # ExtraSamples: the first value (of one per sample)
    tags = _tiff_first_page_tags(buf, (258, 262, 277, 284, _ORIENTATION, _TIFF_EXTRA_SAMPLES))
    if tags is None:
        return None
    samples, bits, photometric = tags.get(277, 1), tags.get(258, 1), tags.get(262)
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
            with _PILLOW_LIMIT_LOCK if lift else contextlib.nullcontext(), warnings.catch_warnings():
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


def _opencv_reason(error: cv2.error) -> str:
    """OpenCV's message without its source path and line."""
    text = " ".join(str(error).split())
    found = re.search(r"error: \(-?\d+:[^)]*\) (.*)", text)
    return found.group(1) if found else text


def _png_state(data: bytes) -> tuple[str, int]:
    """What the chunks of PNG bytes that do not end in an ``IEND`` chunk hold, and the offset just
    after the last complete chunk: ``"whole"`` (an ``IEND`` comes earlier: bytes after the image),
    ``"repairable"`` (the image data's zlib stream ends; what follows the last complete chunk, if
    anything, is a chunk cut short, ``IEND`` included: ``data[:offset]`` plus ``IEND`` decodes) or
    ``"broken"``.

    Read here, in Python, so that a file libpng would refuse is never handed to it: libpng writes
    its "PNG input buffer is incomplete" to the process's stderr itself, and silencing that would
    mean redirecting file descriptor 2, which every other thread writes to (logging, progress bars)."""
    at, inflate = len(_PNG_SIGNATURE), zlib.decompressobj()
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data):
            break  # cut inside a chunk: repairable if the image data is complete
        body = data[at + 8 : end - 4]
        if kind[:1].isupper() and zlib.crc32(data[at + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return "broken", at  # a critical chunk damaged: libpng refuses it
        if kind == b"IEND":
            return "whole", end
        if kind == b"IDAT":
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
    with warnings.catch_warnings():
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
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            raise FileNotFoundError(f"{path} is a broken symbolic link (to {os.readlink(path)})")
        raise FileNotFoundError(f"no such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageReadError(f"{path}: file is empty")
    frames = _frame_count(data.data)
    if frames > 1:
        raise ImageReadError(
            f"{path}: holds {frames} pages/frames; cvdenoise denoises single images (split the file first)"
        )
    if max_pixels is not None and (not is_integer(max_pixels) or max_pixels < 0):
        raise ValueError(f"max_pixels must be a whole number of pixels >= 0 (0: no limit), got {max_pixels!r}")
    limit = pixel_limit() if max_pixels is None else int(max_pixels)
    declared = _declared_pixels(data.data, path) if limit else None
    if declared is not None and declared[0] * declared[1] > limit:
        raise _over_limit(path, declared, limit)
    if _tiff_half_float(data.data):
        raise ImageReadError(f"{path}: a TIFF of float16 samples, which OpenCV cannot decode (save it as float32)")
    jpeg = bytes(data[:2]) == b"\xff\xd8"  # by content: PNG bytes named .jpg keep their alpha plane
    # JPEGs are turned by their EXIF orientation here, not by OpenCV, which misreads a LONG tag
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION if jpeg else cv2.IMREAD_UNCHANGED
    kind = "JPEG" if jpeg else "PNG" if bytes(data[:8]) == _PNG_SIGNATURE else None
    end = _END_MARKERS.get(kind or "", b"")
    truncated = kind if end and data.size > len(end) and bytes(data[-len(end) :]) != end else None
    img = _tiff_read_elsewhere(path, data.data)  # (None: OpenCV decodes it)
    repaired = False
    if img is None:
        # A truncated file (an interrupted download or copy) is decoded as far as it goes, with its end
        # marker appended and cvdenoise's one-line warning below, but never by a decoder that writes to
        # the process's stderr itself (libjpeg's and libpng's own lines): OpenCV's libjpeg is silent
        # on the bytes as they are (it stops short), Pillow's on the repaired ones; a PNG is checked
        # in Python first (_png_state). No redirection of file descriptor 2, which other threads share.
        # A repaired JPEG Pillow cannot decode (12-bit, lossless) goes to OpenCV after all: libjpeg's
        # one stderr line in that rare case rather than refusing a file that used to be read.
        png, complete = _png_state(data.tobytes()) if truncated == "PNG" else ("whole", data.size)
        if png == "whole":
            img = _decode(path, data, flags)
        repaired = (img is None or img.size == 0) and truncated is not None and png != "broken"
        if repaired and truncated == "JPEG":
            img = _pillow_jpeg(data.tobytes() + end)
        if repaired and (img is None or img.size == 0):
            img = _decode(path, np.concatenate([data[:complete], np.frombuffer(end, np.uint8)]), flags)  # decodes what is there
    if (img is None or img.size == 0) and _tiff_order(data.data) is not None:
        with contextlib.suppress(cv2.error):  # OpenCV's in-memory TIFF decoder refuses some valid tile sizes
            img = cv2.imread(str(path), flags)  # (16 x odd) that its file reader takes
    if repaired and img is not None and img.size:
        warnings.warn(f"{path}: truncated {truncated} (no end marker): only the part that is there was decoded", stacklevel=2)
    if img is None or img.size == 0:
        what = f"truncated or corrupt {truncated}" if truncated else "corrupt or unsupported format"
        raise ImageReadError(f"{path}: cannot decode image ({what})")
    if limit and declared is None and img.shape[0] * img.shape[1] > limit:  # no size read from the header: checked now
        raise _over_limit(path, (img.shape[1], img.shape[0]), limit)
    img = _check_tiff_layout(path, data.data, img)
    if img.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageReadError(f"{path}: {img.dtype} samples are not supported (convert to uint8, uint16 or float32 in [0, 1])")
    if jpeg:
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


def _with_metadata(buf: bytes, metadata: ImageMetadata | None, image: np.ndarray) -> bytes:
    """``buf`` with ``metadata`` spliced in; ``buf`` unchanged if there is none or splicing fails.

    An ICC profile whose colour space (gray or RGB) does not match ``image`` is left out.
    """
    if metadata is None or metadata == ImageMetadata():
        return buf
    gray = image.ndim == 2 or image.shape[2] <= 2
    if metadata.icc_profile and metadata.icc_profile[16:20] != (b"GRAY" if gray else b"RGB "):
        metadata = replace(metadata, icc_profile=None)  # e.g. a CMYK JPEG's profile: OpenCV made it BGR
    try:
        return _embed_metadata(buf, metadata, image)
    except Exception:  # best effort: a metadata problem never costs the image
        return buf
