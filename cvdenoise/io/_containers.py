"""Binary containers without decoding pixels: PNG chunks, RIFF (WebP) chunks, JPEG segments,
TIFF/BigTIFF IFDs, GIF frames; page and frame counts and format sniffing."""

from __future__ import annotations

import struct
import zlib
from typing import Iterator

import numpy as np



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


#: signatures of image formats OpenCV does not decode (offset, bytes, name): a file of one is
#: refused by its format's name, with advice, not as "corrupt"
_UNREAD_SIGNATURES = (
    (0, b"\x00\x00\x01\x00", "ICO"), (0, b"\x00\x00\x02\x00", "CUR"), (0, b"8BPS", "Photoshop (PSD)"),
    (4, b"ftypheic", "HEIC"), (4, b"ftypheix", "HEIC"), (4, b"ftypmif1", "HEIF"), (4, b"ftypavif", "AVIF"),
    (0, b"\xff\x0a", "JPEG XL"), (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"), (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"), (0, b"v/1\x01", "OpenEXR"), (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"%PDF", "PDF"), (0, b"<svg", "SVG"),
)


def unread_image_format(head: bytes) -> str | None:
    """The name of the image format whose signature starts ``head`` (a file's first 16 bytes)
    when it is one OpenCV cannot decode (ICO, PSD, HEIC/HEIF, AVIF, JPEG XL, JPEG 2000, EXR, HDR,
    PDF, SVG), else ``None``."""
    return next((name for at, sig, name in _UNREAD_SIGNATURES if head[at : at + len(sig)] == sig), None)


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

