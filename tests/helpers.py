"""Helpers shared by the tests."""

from __future__ import annotations

import os

import cv2
import pytest
import numpy as np


def add_noise(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """AWGN of ``sigma`` (in 8-bit units), clipped, same dtype as ``img``."""
    rng = np.random.default_rng(seed)
    scale = 255.0 if img.dtype == np.uint8 else 65535.0 if img.dtype == np.uint16 else 1.0
    x = img.astype(np.float64) + rng.normal(0, sigma / 255.0 * scale, img.shape)
    return np.clip(np.rint(x) if scale > 1 else x, 0, scale).astype(img.dtype)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(mse, 1e-12)))


_VideoWriter = cv2.VideoWriter  # the real one, also while a test patches cv2


class _DiskFullWriter:
    """A ``cv2.VideoWriter`` on a disk that fills up: writes seem to work (OpenCV reports no
    write error), but the finished file is cut to ``keep`` of its bytes."""

    keep = 0.5
    fourcc = staticmethod(cv2.VideoWriter_fourcc)

    def __init__(self, path: str, *args: object) -> None:
        self.path = path
        self.writer = _VideoWriter(path, *args)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.writer.isOpened()

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def release(self) -> None:
        self.writer.release()
        size = os.path.getsize(self.path)
        with open(self.path, "r+b") as f:
            f.truncate(int(size * self.keep))


def disk_full_writer(keep: float) -> type[_DiskFullWriter]:
    """A stand-in for ``cv2.VideoWriter`` whose finished files keep ``keep`` of their bytes."""
    return type("DiskFullWriter", (_DiskFullWriter,), {"keep": keep})


def threads_in_forked_children(imports: str, make: str) -> list[str]:
    """Torch threads of a forked ``multiprocessing.Pool`` child before and after the parent (2
    threads) runs ``make`` (after ``imports``), from a fresh interpreter: ``["2", "1"]`` when
    ``make`` arms cvdenoise's one-thread rule for forked children."""
    import subprocess
    import sys

    script = f"""
import multiprocessing as mp, torch
{imports}
torch.set_num_threads(2)
def threads(_):
    return torch.get_num_threads()
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        before = pool.map(threads, [0])[0]
    {make}
    with ctx.Pool(1) as pool:
        after = pool.map(threads, [0])[0]
    print(before, after)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()



def sigint_after(monkeypatch: pytest.MonkeyPatch, module: object, name: str, nth: int) -> None:
    """Make ``module.name`` send this process a real SIGINT right after its ``nth`` call returns
    (use with the ``python_sigint`` fixture: Python's own Ctrl-C handler in place)."""
    import signal

    real, calls = getattr(module, name), [0]

    def then_sigint(*args: object, **kwargs: object) -> object:
        out = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(module, name, then_sigint)


def mjpeg_avi(path: "os.PathLike[str] | str", frames: list[np.ndarray], fps: float, slots: list[int | None],
              start: int = 0) -> None:
    """Write an MJPEG AVI by hand whose index lists ``slots``: a frame number of ``frames``, or
    ``None`` for an empty entry (the frame before is held: as in AVIs of dropped or repeated
    frames, which OpenCV skips while its timestamps go on); ``start``: the stream's first
    timestamp, in frames (OpenCV's sample Megamind.avi starts at 1)."""
    import struct

    def chunk(tag: bytes, data: bytes) -> bytes:
        return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def listed(kind: bytes, payload: bytes) -> bytes:
        return b"LIST" + struct.pack("<I", len(payload) + 4) + kind + payload

    h, w = frames[0].shape[:2]
    jpgs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
    n = len(slots)
    avih = struct.pack("<IIIIIIIIII4I", int(1e6 / fps), 0, 0, 0x10, n, 0, 1, 0, w, h, 0, 0, 0, 0)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", b"MJPG", 0, 0, 0, 0, 1, int(fps), start, n, 0, 0xFFFFFFFF, 0, 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    hdrl = listed(b"hdrl", chunk(b"avih", avih) + listed(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi, index, offset = b"", b"", 4
    for s in slots:
        data = b"" if s is None else jpgs[s]
        c = chunk(b"00dc", data)
        index += struct.pack("<4sIII", b"00dc", 0x10 if data else 0, offset, len(data))
        movi, offset = movi + c, offset + len(c)
    body = b"AVI " + hdrl + listed(b"movi", movi) + chunk(b"idx1", index)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def mjpeg_mp4(path: "os.PathLike[str] | str", frames: list[np.ndarray], deltas: list[int], timescale: int = 90000,
              hide: int = 0) -> None:
    """Write an MP4 of Photo-JPEG samples by hand: sample ``i`` lasts ``deltas[i]`` ticks of
    ``timescale`` (unequal deltas: a variable frame rate); ``hide`` > 0 adds an edit list that
    starts the clip at frame ``hide`` (as ``ffmpeg -ss … -c copy`` cuts a clip: the frames before
    stay in the file, counted, but hidden), with the movie's duration that of the frames shown."""
    import struct

    def box(kind: bytes, *parts: bytes) -> bytes:
        data = b"".join(parts)
        return struct.pack(">I4s", len(data) + 8, kind) + data

    def full(kind: bytes, version_flags: int, *parts: bytes) -> bytes:
        return box(kind, struct.pack(">I", version_flags), *parts)

    h, w = frames[0].shape[:2]
    jpgs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
    total, shown = sum(deltas), sum(deltas[hide:])
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    entry = box(b"jpeg", bytes(6), struct.pack(">HHH12xHHIIIH32sHh", 1, 0, 0, w, h, 0x480000, 0x480000, 0, 1,
                                               b"", 24, -1))

    def moov(chunk_offset: int) -> bytes:
        stbl = box(b"stbl",
                   full(b"stsd", 0, struct.pack(">I", 1), entry),
                   full(b"stts", 0, struct.pack(">I", len(deltas)), *(struct.pack(">II", 1, d) for d in deltas)),
                   full(b"stsc", 0, struct.pack(">IIII", 1, 1, len(jpgs), 1)),
                   full(b"stsz", 0, struct.pack(">II", 0, len(jpgs)), *(struct.pack(">I", len(j)) for j in jpgs)),
                   full(b"stco", 0, struct.pack(">II", 1, chunk_offset)))
        minf = box(b"minf", full(b"vmhd", 1, bytes(8)),
                   box(b"dinf", full(b"dref", 0, struct.pack(">I", 1), full(b"url ", 1))), stbl)
        mdia = box(b"mdia", full(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, timescale, total, 0x55C4, 0)),
                   full(b"hdlr", 0, struct.pack(">I4s12x", 0, b"vide"), b"video\0"), minf)
        edts = box(b"edts", full(b"elst", 0, struct.pack(">IIiI", 1, shown, sum(deltas[:hide]), 0x10000))) if hide else b""
        tkhd = full(b"tkhd", 3, struct.pack(">IIIII8xHHHH", 0, 0, 1, 0, shown, 0, 0, 0, 0), matrix,
                    struct.pack(">II", w << 16, h << 16))
        mvhd = full(b"mvhd", 0, struct.pack(">IIIIIH10x", 0, 0, timescale, shown, 0x10000, 0x100), matrix,
                    bytes(24), struct.pack(">I", 2))
        return box(b"moov", mvhd, box(b"trak", tkhd, edts, mdia))

    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")
    head = ftyp + moov(0)
    with open(path, "wb") as fh:
        fh.write(ftyp + moov(len(head) + 8) + box(b"mdat", *jpgs))
