"""Image metadata carried from a source file into its denoised copy: ICC profile, EXIF (and
its orientation), PNG ``tRNS``/``sBIT``/colour chunks, JPEG density and subsampling, WebP
losslessness, TIFF ``ExtraSamples``; read without decoding pixels, spliced into encoded bytes."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._containers import (
    _PNG_COPIED, _PNG_SIGNATURE, _TIFF_EXTRA_SAMPLES, _TIFF_ICC, _Entry,
    _jpeg_segment, _jpeg_segments, _png_chunk, _png_chunks, _riff_chunk, _riff_chunks, _tiff_ifd,
    _tiff_order, _tiff_value,
)


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
    buf = b""
    found: dict[str, Any] = {}  # ImageMetadata's fields, as far as the walk got
    try:
        buf = Path(path).read_bytes()
        parse = (_jpeg_metadata if buf[:2] == b"\xff\xd8" else _png_metadata if buf[:8] == _PNG_SIGNATURE
                 else _webp_metadata if buf[:4] == b"RIFF" and buf[8:12] == b"WEBP"
                 else _pnm_metadata if _PNM_HEADER.match(buf[:4096]) else _tiff_metadata if _tiff_order(buf) else None)
        if parse is not None:
            parse(buf, found)
    except Exception:  # metadata is best effort: never fail a file over it
        pass
    upright = buf[:2] == b"\xff\xd8"  # (a JPEG by its bytes, whatever its name) read_image applies the EXIF orientation to these
    return ImageMetadata(**{**found, "icc_profile": _valid_icc(found.get("icc_profile")),
                            "exif": _normalise_exif(found.get("exif"), upright)})


def _jpeg_metadata(buf: bytes, found: dict[str, Any]) -> None:
    """JFIF density, 4:4:4 sampling, EXIF (APP1) and the ICC profile (APP2 chunks, all present)."""
    parts: dict[int, bytes] = {}
    for marker, a, b in _jpeg_segments(buf):
        if marker == 0xE0 and buf[a : a + 5] == b"JFIF\0" and b - a >= 12:
            found["jpeg_density"] = buf[a + 7 : a + 12] if buf[a + 7 : a + 12] != b"\0\0\x01\0\x01" else None  # not 1:1
        elif marker in (0xC0, 0xC1, 0xC2) and b - a >= 6 + 3 * buf[a + 5]:  # frame header
            factors = {buf[a + 7 + 3 * k] for k in range(buf[a + 5])}  # H/V sampling per component
            found["jpeg_full_chroma"] = buf[a + 5] in (3, 4) and len(factors) == 1  # (4: CMYK, YCCK)
        elif marker == 0xE1 and "exif" not in found and buf[a : a + 6] == b"Exif\0\0":
            found["exif"] = buf[a:b]
        elif marker == 0xE2 and buf[a : a + 12] == b"ICC_PROFILE\0" and b - a > 14:
            parts[buf[a + 12]] = buf[a + 14 : b]
    if parts and sorted(parts) == list(range(1, len(parts) + 1)):
        found["icc_profile"] = b"".join(parts[k] for k in sorted(parts))


def _png_metadata(buf: bytes, found: dict[str, Any]) -> None:
    """iCCP, eXIf, a gray/RGB tRNS, sBIT and the colour chunks copied verbatim (:data:`_PNG_COPIED`)."""
    copied: list[tuple[bytes, bytes]] = []
    found["png_chunks"] = ()
    for tag, a, b in _png_chunks(buf):
        if tag == b"iCCP":
            found["icc_profile"] = _png_icc(buf, a, b)
        elif tag == b"eXIf":
            found["exif"] = buf[a:b]
        elif tag == b"tRNS" and buf[25] in (0, 2):
            found["png_trns"] = (buf[24], buf[25], buf[a:b])
        elif tag in _PNG_COPIED:
            copied.append((tag, buf[a:b]))
            found["png_chunks"] = tuple(copied)
        elif tag == b"sBIT":
            found["png_sbit"] = (buf[24], buf[25], buf[a:b])


def _webp_metadata(buf: bytes, found: dict[str, Any]) -> None:
    """ICCP, EXIF and losslessness (a VP8L chunk)."""
    for tag, a, b in _riff_chunks(buf):
        if tag == b"ICCP":
            found["icc_profile"] = buf[a:b]
        elif tag == b"EXIF":
            found["exif"] = buf[a:b]
        elif tag == b"VP8L":
            found["lossless"] = True


def _pnm_metadata(buf: bytes, found: dict[str, Any]) -> None:
    """A PGM/PPM maximum value other than 255 or 65535."""
    m = _PNM_HEADER.match(buf[:4096])
    if m is not None and int(m.group(1)) not in (255, 65535):
        found["pnm_maxval"] = int(m.group(1))


def _tiff_metadata(buf: bytes, found: dict[str, Any]) -> None:
    """The first page's ICC profile and ``ExtraSamples`` (one malformed tag costs that tag only)."""
    order = _tiff_order(buf)
    assert order is not None
    entries, _ = _tiff_ifd(buf, order, struct.unpack_from(order + "I", buf, 4)[0])
    for entry in entries:
        tiff_tag, typ, n, at = entry
        try:
            if tiff_tag == _TIFF_ICC and n > 4:
                (start,) = struct.unpack_from(order + "I", buf, at + 8)
                found["icc_profile"] = buf[start : start + n]
            elif tiff_tag == _TIFF_EXTRA_SAMPLES and typ == 3 and n == 1:
                found["tiff_alpha"] = _tiff_value(buf, order, False, entry)
        except (struct.error, ValueError, IndexError):
            continue


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

