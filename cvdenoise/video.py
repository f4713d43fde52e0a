"""OpenCV frame filter and video re-encoding.

:class:`FrameFilter` takes OpenCV frames — BGR ``uint8`` ``(H,W,3)`` or gray ``(H,W)`` — and
returns the same, ready for a detector. With ``gate`` it measures each frame's noise level by
what the model removes (:func:`cvdenoise.noise.residual_sigma`) and passes clean frames through
unchanged, blending linearly up to full denoising between the two gate thresholds (impulse
noise, which that σ does not see, is taken out whatever the gate: :func:`cvdenoise.blend.auto_blend`). With
``temporal`` it smooths residual flicker over time where the scene is static
(:mod:`cvdenoise.temporal`).
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import struct
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import cv2
import numpy as np
import torch
from ._progress import progress_bar

from ._checks import (from_float, is_integer, is_real, low_bit_message, low_bit_uint16, not_an_image_hint,
                      uint16_scale)
from .blend import auto_blend, is_drawing
from .denoiser import GRAY_STRAY_FACTOR, GRAY_STRAY_SHARE, GRAY_TOLERANCE, Denoiser, Half, load
from ._fs import creation_problem, no_regular_file, opencv_can_open
from ._warn import user_stacklevel
from .io import STILL_IMAGE_SUFFIXES, atomic_path, file_above, still_image_format
from .io._containers import unread_image_format
from .noise import residual_sigma, subsample_blocks
from .temporal import DEFAULT_THRESHOLD, TemporalSmoother

__all__ = ["FrameFilter", "FrameInfo", "SourceFrames", "VideoReadError", "TruncatedVideoWarning", "image_sequence_message",
           "read_video", "denoise_video"]

#: default gate: σ (8-bit units) below the first value → untouched, above the second → full.
DEFAULT_GATE = (3.0, 6.0)
DEFAULT_MAX_HISTORY = 100_000
"""Records a :class:`FrameFilter` keeps by default (about 23 MB; an hour of a 30 fps stream)."""


def _equal_planes(frame: np.ndarray) -> bool:
    """``True`` for an ``(H,W,3)`` frame of gray content, by the rule and constants of
    :func:`cvdenoise.denoiser.gray_content` (OpenCV on the frame's own dtype: no float copy)."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        return False
    # (FrameFilter takes uint8 and uint16 frames only)
    peak = 255.0 if frame.dtype == np.uint8 else float(uint16_scale(float(frame.max(initial=0))))
    tol = GRAY_TOLERANCE / 255 * peak

    def close(v: np.ndarray, share: float) -> bool:
        b, g, r = cv2.split(np.ascontiguousarray(v))  # absdiff in the frame's own dtype: no int32 copies
        spread = cv2.max(cv2.max(cv2.absdiff(b, g), cv2.absdiff(g, r)), cv2.absdiff(b, r))
        return bool(float(spread.max()) <= GRAY_STRAY_FACTOR * tol and np.count_nonzero(spread > tol) <= share * spread.size)

    return close(frame[::7, ::7], 1.0) and close(frame, GRAY_STRAY_SHARE)  # a cheap rejection first


class VideoReadError(ValueError):
    """A video file cannot be opened or holds no decodable frame."""


class ImageNotVideoError(VideoReadError):
    """The "video" is a still image (by its content): ``kind`` names its format (``"PNG"``, …)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class FrameInfo:
    """What the filter did to one frame.

    Attributes:
        index: the frame's number since the last :meth:`FrameFilter.reset` (from 0); in the
            records :func:`denoise_video` returns, the source frame's number (a damaged frame
            left out is skipped, not counted).
        sigma: noise σ the gate read, in 8-bit units: what the model removed, read as white
            noise's σ where the model card has a ``gate_reading`` (``None`` when gating is off).
        strength: 0 = passed through (but for ``impulses``), 1 = fully denoised (the gate's, else
            the denoiser's).
        ms: filter time for this frame in milliseconds (batch time / batch size when streaming).
        impulses: values replaced as salt-and-pepper impulses (a colour pixel hit in all three
            channels counts 3) whatever the gate's strength (dead
            and hot pixels together on an otherwise clean frame; white points alone are no
            impulses; counted by gated filters, else 0).
    """

    index: int
    sigma: float | None
    strength: float
    ms: float
    impulses: int = 0


def check_gate(gate: object) -> tuple[float, float] | None:
    """A :class:`FrameFilter` ``gate`` as its ``(low, high)`` thresholds (``None``: no gate; ``True``:
    :data:`DEFAULT_GATE`); ``ValueError`` naming anything else."""
    if gate is False or gate is None:
        return None
    if gate is True:
        gate = DEFAULT_GATE
    pair = tuple(gate) if isinstance(gate, (tuple, list, np.ndarray)) else ()
    if len(pair) != 2 or not all(is_real(v) for v in pair) or not 0 <= float(pair[0]) < float(pair[1]) < float("inf"):
        raise ValueError(f"gate must be True, False or (low, high) finite numbers with 0 <= low < high, got {gate!r}")
    return float(pair[0]), float(pair[1])


class FrameFilter:
    """Denoise OpenCV video frames: BGR ``uint8`` in, BGR ``uint8`` out.

    Gray ``(H,W)`` frames and 16-bit (``uint16``, e.g. medical or thermal) frames are accepted
    too and returned in kind.

    A filter keeps one stream's state (the previous output, the gate's history): use one per
    stream and thread. Filters on several threads may share one :class:`Denoiser`;
    ``copy.copy(f)`` makes another filter on the same denoiser with state of its own.

    Args:
        weights: as :func:`cvdenoise.load`; ``"fast"`` by default (a frame filter runs at video
            rates: ~0.1 s a 640² frame on 2 CPU cores, where ``"default"`` takes ~0.7 s), as
            ``cvdenoise video``, ``detect`` and the YOLO ``attach()`` use.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
        half: reduced precision, ``"auto"`` by default: float16 on CUDA, bfloat16 on CPUs with
            AMX (about 3× faster) or AMD CPUs with AVX512-BF16 units (about 2×), float32 elsewhere; ``True``/``False`` force it
            (see :class:`~cvdenoise.Denoiser`).
        gate: ``False`` (every frame at the denoiser's ``strength``: ``"auto"`` by default,
            a per-frame blend from what the model removes, see :mod:`cvdenoise.blend`),
            ``True`` (the plain output blended by a gate instead; thresholds σ 3→6 in 8-bit
            units) or ``(low, high)``: frames whose noise σ is below ``low`` pass
            through unchanged, above ``high`` get full denoising, linear blend between. σ is
            the robust standard deviation of what the model removes
            (:func:`~cvdenoise.noise.residual_sigma`): on clean photos about 1 level for
            ``fast`` and 0.1 for ``default``, 1.5–1.9 on JPEG q70, 0.9 of white noise's σ,
            0.64–0.75 of a camera's correlated noise (``python benchmarks/gate.py``). A gray
            frame's model removes less of light noise (σ 4 reads about 2): its residual is read
            as the white-noise σ it stands for through the model card's
            :class:`~cvdenoise.noise.GateReading` (shipped gray models: fitted; other weights: as is). Every
            frame still goes through the model (the gate protects clean frames, it saves no time).
            Salt-and-pepper values, which σ does not see, are taken out whatever the gate
            (:func:`~cvdenoise.blend.impulse_mask`); a clean drawing (text, line art, a screen
            capture: :func:`~cvdenoise.blend.is_drawing`), whose strokes a model smooths, is
            passed through whatever its σ.
        temporal: ``0`` (off) to ``<1``: weight of the previous output frame in static regions
            (motion-adaptive recursive smoothing, :mod:`cvdenoise.temporal`), times each frame's
            strength (a frame the denoiser changed little keeps its pixels); ``0.5`` removes
            most residual flicker of a static camera. Frames must then arrive in order
            (:meth:`reset` between clips).
        temporal_threshold: local change (8-bit units) above which a pixel counts as moving
            and is not smoothed.
        denoiser: use this :class:`~cvdenoise.Denoiser` instead of loading ``weights`` (then
            ``weights``, ``device`` and ``half`` are not used and ``load_kwargs`` are refused).
        max_history: keep only the last this many :class:`FrameInfo` records in ``history``
            (default :data:`DEFAULT_MAX_HISTORY`, 100 000: an hour of a 30 fps stream, so an
            endless live stream does not grow without end; ``None``: every frame since
            :meth:`reset`); :meth:`stream` keeps at least the records of the batch it is
            yielding, also where ``batch_size`` is larger.
        **load_kwargs: further :func:`cvdenoise.load` options (``tile``, ``strength``,
            ``runtime="onnxruntime"``, …).

    A ``(H,W,3)`` frame whose three planes agree within :data:`GRAY_TOLERANCE` levels (3× that at
    up to 0.1 % of the pixels: a gray camera or video as OpenCV decodes it, also through a colour
    codec) is denoised by the
    gray model on its luma and returned with three equal planes, so it stays gray.

    ``info`` holds a :class:`FrameInfo` for the last frame and ``history`` for the frames since
    the last :meth:`reset`, in order: the last ``max_history`` of them (one small record per frame,
    about 230 bytes; ``history.clear()`` empties it and leaves the temporal state and the frame
    numbering alone).

    Example:
        >>> import numpy as np
        >>> f = FrameFilter("fast", gate=True)
        >>> f(np.zeros((48, 64, 3), np.uint8)).shape
        (48, 64, 3)
    """

    def __init__(
        self,
        weights: str | Path = "fast",
        device: str | torch.device = "cpu",
        half: Half = "auto",
        gate: bool | tuple[float, float] = False,
        temporal: float = 0.0,
        temporal_threshold: float = DEFAULT_THRESHOLD,
        denoiser: Denoiser | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
        **load_kwargs: object,
    ) -> None:
        if max_history is not None and (not is_integer(max_history) or max_history < 1):
            raise ValueError(f"max_history must be None or a positive integer, got {max_history!r}")
        self.max_history = None if max_history is None else int(max_history)
        if denoiser is not None and load_kwargs:  # they would be silently ignored
            raise TypeError(f"FrameFilter: {', '.join(sorted(load_kwargs))} has no effect with denoiser=; "
                            "pass it to cvdenoise.load() when building that Denoiser")
        if load_kwargs.get("channel_order", "bgr") != "bgr":  # (every call passes "bgr": it would be silently ignored)
            raise TypeError("FrameFilter takes OpenCV's BGR frames, so channel_order has no effect; give RGB frames as "
                            "frame[..., ::-1], or call cvdenoise.load(..., channel_order='rgb') on them")
        self.smoother = TemporalSmoother(temporal, temporal_threshold)
        self._smoothed_gray: bool | None = None  # whether the smoother's last frame was gray content
        if gate is not False and gate is not None:
            if load_kwargs.get("strength", 1.0) not in (1.0, "auto"):
                raise ValueError(f"strength={load_kwargs['strength']!r} with gate: the gate sets each frame's strength "
                                 "(drop strength, or gate=False to use it)")
            load_kwargs["strength"] = 1.0  # the gate is the blend: no "auto" rule is read
        self.denoiser = denoiser or load(weights, device=device, half=half, **load_kwargs)  # type: ignore[arg-type]
        self.gate: tuple[float, float] | None = check_gate(gate)
        self.history: list[FrameInfo] = []
        self._frames = 0  # frames since reset(): the next FrameInfo.index
        self._warned_depth = False  # the low-bit-depth uint16 warning: once per filter

    def __copy__(self) -> FrameFilter:
        """A filter for another stream (``copy.copy``): the same :class:`~cvdenoise.Denoiser` and
        settings, its own temporal state and history (copies of this one's, which go on apart)."""
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.smoother = copy.deepcopy(self.smoother)
        twin.history = list(self.history)
        return twin

    def __repr__(self) -> str:
        return (f"FrameFilter(denoiser={self.denoiser!r}, gate={self.gate!r}, temporal={self.smoother.weight}, "
                f"temporal_threshold={self.smoother.threshold}, max_history={self.max_history!r}, frames={self._frames})")

    def reset(self) -> None:
        """Start a new clip: forget the temporal state and the per-frame history."""
        self.smoother.reset()
        self._smoothed_gray = None
        self.history.clear()
        self._frames = 0

    @property
    def info(self) -> FrameInfo | None:
        """The last processed frame's :class:`FrameInfo` (``None`` before the first frame).

        ``stream()`` processes a batch ahead of what it yields: inside its loop use
        :attr:`history` (one entry per frame, in order) for the frame just yielded.
        ``sigma`` is set only with ``gate``.
        """
        return self.history[-1] if self.history else None

    @staticmethod
    def _check(frame: np.ndarray) -> None:
        if not isinstance(frame, np.ndarray):
            hint = (" (cap.read() returns None when no frame could be read: check its ok flag)" if frame is None
                    else not_an_image_hint(frame))
            raise TypeError(f"FrameFilter expects numpy frames, got {type(frame).__name__}{hint}")
        if frame.dtype not in (np.uint8, np.uint16):
            if frame.dtype.kind == "u" and frame.dtype.itemsize == 2:  # big-endian uint16
                hint = "big-endian uint16: frame.astype(np.uint16) converts it"
            elif frame.dtype.kind == "f":
                hint = "use a Denoiser (cvdenoise.load()) for float images in [0, 1]"
            else:
                hint = "scale it to uint8 or uint16 (or give floats in [0, 1] to a Denoiser)"
            raise TypeError(f"FrameFilter expects uint8 (or 16-bit uint16) frames, got {frame.dtype}; {hint}")
        if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3))):
            hint = " (BGRA: cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR))" if frame.ndim == 3 and frame.shape[2] == 4 else ""
            raise ValueError(f"FrameFilter expects (H,W) gray or (H,W,3) BGR frames, got shape {frame.shape}{hint}")
        if frame.size == 0:
            raise ValueError(f"FrameFilter got an empty frame of shape {frame.shape}")

    def _strength(self, sigma: float) -> float:
        assert self.gate is not None
        lo, hi = self.gate
        return float(np.clip((sigma - lo) / (hi - lo), 0.0, 1.0))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Denoise one frame (see the class docstring); records a :class:`FrameInfo`."""
        return self._process([frame])[0]

    def _process(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        t0 = time.perf_counter()
        for f in frames:
            self._check(f)
            if not self._warned_depth and low_bit_uint16(f):
                self._warned_depth = self.denoiser._warned_depth = True  # (said here, in a frame's words, not again by it)
                warnings.warn(low_bit_message("FrameFilter", "frame") + " with cvdenoise.load()", stacklevel=3)
        given = frames
        gray3 = [_equal_planes(f) for f in frames]  # a gray video as OpenCV decodes it: BGR, B ≈ G ≈ R
        gray_content = list(gray3)  # (gray3 is cleared for passed-through frames below)
        frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if g else f for f, g in zip(frames, gray3)]
        sigmas: list[float | None] = [None] * len(frames)
        strengths = [1.0] * len(frames)
        replaced = [0] * len(frames)
        out: list[np.ndarray] = list(frames)
        # frames of equal shape and dtype are denoised as one batch tensor
        groups: dict[tuple[tuple[int, ...], np.dtype], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault((f.shape, f.dtype), []).append(i)
        for (shape, _), idx in groups.items():
            arr = np.stack([frames[i] if frames[i].ndim == 3 else frames[i][:, :, None] for i in idx])
            x = torch.from_numpy(arr).permute(0, 3, 1, 2)
            if self.gate is None:
                y = self.denoiser(x, channel_order="bgr").permute(0, 2, 3, 1).numpy()
                for k, i in enumerate(idx):  # (a batch's frames are copied out: each owns its memory)
                    out[i] = y[k].reshape(shape) if len(idx) == 1 else y[k].reshape(shape).copy()
                    strengths[i] = self.denoiser.last_strength[k]  # the denoiser's own ("auto": per frame)
                    if gray3[i] and strengths[i] == 0.0 and np.array_equal(out[i], frames[i]):
                        out[i], gray3[i] = given[i].copy(), False  # left alone: the frame as given, not its luma
                continue
            # gated: denoise in float, so the removed residual is not rounded, then blend
            xf = x.float() / (255.0 if arr.dtype == np.uint8 else 65535.0)
            yf = self.denoiser(xf, channel_order="bgr", strength=1.0)  # the gate is the blend
            # on the blocks the auto rule reads too: within 0.1 level of the whole frame's value, 8–40× cheaper
            batch_sigma = residual_sigma(subsample_blocks(xf), subsample_blocks(yf))
            assert isinstance(batch_sigma, torch.Tensor)
            # read as the white-noise σ it stands for (a gray model removes less of light noise than a colour one)
            reading = self.denoiser.gate_readings.get(xf.shape[1])
            read = [reading.white_sigma(float(v)) if reading else float(v) for v in batch_sigma]
            gated = torch.tensor([self._strength(v) for v in read])
            gated[is_drawing(xf, batch_sigma)] = 0.0  # clean text or line art: what the model removed is no noise
            blended, used, impulses = auto_blend(xf, yf, gated)  # impulse noise is taken out whole
            for k, i in enumerate(idx):
                sigmas[i], strengths[i], replaced[i] = read[k], float(used[k]), int(impulses[k])
                if strengths[i] > 0.0 or impulses[k] > 0:
                    out[i] = from_float(blended[k].permute(1, 2, 0).numpy(), arr.dtype).reshape(shape)
                else:  # passed through: a copy, so drawing on the output leaves the caller's frame alone
                    out[i] = given[i].copy()
                    gray3[i] = False  # the frame as given, not its luma
        # C order whatever the input's layout (a rotated view): OpenCV drawing needs it
        out = [np.repeat(o[:, :, None], 3, axis=2) if g else np.ascontiguousarray(o) for o, g in zip(out, gray3)]
        if self.smoother.weight > 0:  # in frame order; passed-through frames stay untouched
            for i, (o, s) in enumerate(zip(out, strengths)):
                if self._smoothed_gray is not None and gray_content[i] != self._smoothed_gray:
                    self.smoother.reset()  # colour ↔ gray (a camera's day/night switch): no colour carried into gray frames
                self._smoothed_gray = gray_content[i]
                out[i] = self.smoother(o, s)  # (strength 0, a passed-through frame: observed, untouched)
        ms = (time.perf_counter() - t0) * 1e3 / max(1, len(frames))
        n0, self._frames = self._frames, self._frames + len(frames)
        self.history.extend(FrameInfo(n0 + k, sigmas[k], strengths[k], ms, replaced[k]) for k in range(len(frames)))
        keep = None if self.max_history is None else max(self.max_history, len(frames))  # (stream(): the batch
        if keep is not None and len(self.history) > keep:  # it is about to yield keeps its records)
            del self.history[: len(self.history) - keep]
        return out

    def stream(self, frames: Iterable[np.ndarray], batch_size: int = 4) -> Iterator[np.ndarray]:
        """Denoise an iterator of frames in batches of ``batch_size``; yields frames in order.

        Each frame is checked and copied as it arrives, so a reader that fills one array for every
        frame (``cap.read(buf)``, a camera SDK's buffer) may do so; a frame that is no frame (e.g.
        ``None`` from a failed read), or an error raised by ``frames`` itself (a camera that
        disconnects), is raised once the good frames before it are yielded.
        """
        if not is_integer(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        batch_size = int(batch_size)
        buf: list[np.ndarray] = []
        problem: Exception | None = None
        source = iter(frames)
        while True:
            try:
                f = next(source)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - the reader's own error, raised again below
                problem = e
                break
            try:
                self._check(f)
            except (TypeError, ValueError) as e:
                problem = e
                break
            buf.append(f.copy() if batch_size > 1 else f)  # (one at a time: processed before the reader's next fill)
            if len(buf) == batch_size:
                yield from self._process(buf)
                buf = []
        if buf:
            yield from self._process(buf)
        if problem is not None:
            raise problem


#: playlist suffixes (HLS .m3u8, .m3u): refused, FFmpeg would read whatever files they name
_PLAYLISTS = (".m3u8", ".m3u")

#: still-image signatures a video may start with too: a raw MJPEG stream, an animated GIF
_MAY_BE_VIDEO = ("JPEG", "GIF")


#: how a one-frame .mjpeg/.gif becomes a still image cvdenoise denoise takes
_AS_IMAGE = {"JPEG": "rename it .jpg", "GIF": "convert it to PNG"}

#: undecodable frames in a row after which a video is taken to end there
_MAX_BAD_FRAMES = 16
#: the most slots a frame is held for (repeated by the writer); a wider jump of the timestamps is
#: taken for an error of theirs (nothing is repeated)
_MAX_HELD = 256


def image_sequence_message(path: str | Path, command: str = "denoise") -> str | None:
    """What to do instead, where ``path`` does not exist but is an image-sequence pattern
    (``frames/f%04d.png``, as OpenCV's and FFmpeg's readers take) whose frames do; else ``None``.
    ``command``: the ``cvdenoise`` command that takes the frames' folder."""
    name = Path(path).name
    match = re.search(r"%(0?)(\d*)d", name)
    if match is None:
        return None
    width = int(match.group(2) or 0)
    stem = re.escape(name[:match.start()]) + (r"\d{%d,}" % width if match.group(1) else r"\d+") + re.escape(name[match.end():])
    folder = Path(path).parent
    try:
        frames = sum(1 for p in folder.iterdir() if re.fullmatch(stem, p.name) and p.is_file())
    except OSError:
        return None
    if not frames:
        return None
    return (f"{path}: an image-sequence pattern ({frames} frames in {folder}), not a video file; give the frames "
            f"as images — cvdenoise {command} {folder} -o OUT — or make a video of them first "
            f"(ffmpeg -framerate 25 -i '{path}' clip.mp4)")


def read_video(path: str | Path) -> tuple[SourceFrames, float, tuple[int, int], int]:
    """Open a video: ``(frames, fps, (width, height), frame_count)``; frames are BGR uint8.

    A frame that cannot be decoded is left out and reading goes on while the container says more
    follow (a clip with one damaged frame keeps the rest); the caller compares what it got with
    ``frame_count``, and ``frames.index`` is the source number of the frame last yielded. Frames
    are numbered by their timestamps at ``fps``: a clip that stores no frame for some of its
    slots (an AVI's empty "repeat" entries, a variable frame rate) has ``frames.held`` slots
    before a frame that only hold the frame before it (and ``frames.held_at_end`` after the last
    one); a writer at ``fps`` repeats that frame to keep the clip's timing. The slot of a damaged
    frame is held too — by the frame before it, or by the first good one at the clip's start
    (``frames.stand_ins`` counts them) — so the output's frames stay in step with the source's. ``fps`` is OpenCV's for the
    clip, or for a variable frame rate (OpenCV reports the average) its base rate: the rate of its
    fastest stretch among its first 90 frames. ``frame_count`` is the clip's length in slots of
    ``fps`` (an MP4 cut by an edit list: the frames it shows).

    Raises:
        FileNotFoundError: no such file.
        VideoReadError: a folder, an image file (by its suffix), or OpenCV cannot open it or
            decode any of its first frames.
    """
    if "://" in os.fspath(path):  # (Path would also fold the slashes of the name: http:/host/a.mp4)
        raise VideoReadError(f"{os.fspath(path)}: a URL; cvdenoise reads local video files only (download it first)")
    path = Path(path)
    if path.is_dir():
        raise VideoReadError(f"{path} is a folder, not a video file")
    if path.exists() and not path.is_file():  # a FIFO, socket or device: reading would block or never end
        raise VideoReadError(f"{path} is not a regular file (a pipe, socket or device), not a video file")
    if not path.is_file():
        if (sequence := image_sequence_message(path)) is not None:
            raise VideoReadError(sequence)
        raise FileNotFoundError(f"no such video file: {path}")
    if path.suffix.lower() in STILL_IMAGE_SUFFIXES:  # OpenCV would open it as a one-frame video
        raise VideoReadError(f"{path} is an image, not a video: use cvdenoise denoise (or cvdenoise.load()(image)); "
                             "an animated image (WebP, APNG) is neither: convert it to a video first")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise VideoReadError(f"{path} is empty (0 bytes): not a video (an interrupted copy or download?)")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"#EXTM3U", b"ffconcat", b"#EXT")) or path.suffix.lower() in _PLAYLISTS:
        # FFmpeg follows a playlist's entries: any local file (or URL) it names would be read
        raise VideoReadError(f"{path} is a playlist, not a video file: give the video itself")
    kind = still_image_format(head)
    if kind is not None and kind not in _MAY_BE_VIDEO:  # OpenCV would open it as a one-frame video
        raise ImageNotVideoError(f"{path} is a {kind} image, not a video: use cvdenoise denoise (or cvdenoise.load()(image))", kind)
    if (other := unread_image_format(head)) is not None:  # (a JPEG 2000 or Radiance HDR file named .mp4, say)
        raise VideoReadError(f"{path} is a {other} image, not a video: give it its format's suffix and use cvdenoise "
                             "denoise (or cvdenoise.load()(image))")
    if not opencv_can_open(path):
        raise VideoReadError(f"{str(path)!r}: OpenCV's video reader cannot open a name that is not valid UTF-8; rename the file")
    cap = cv2.VideoCapture(str(path))
    opened = cap.isOpened()
    listed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if opened else 0
    first, skipped = None, 0  # damaged frames at the start: their slots hold the first good frame
    while opened and first is None and skipped < (min(listed, _MAX_BAD_FRAMES) if listed > 1 else 1):
        ok, first = cap.read()
        if not ok or first is None:
            first, skipped = None, skipped + 1
    if first is None:
        cap.release()
        if opened and listed == 0:
            raise VideoReadError(f"{path}: the video holds no frames")
        if _mp4_without_index(path):
            raise VideoReadError(f"{path}: an MP4/MOV file without its index (no 'moov' box after the media data): the "
                                 "recording was most likely cut off before it was closed; a repair tool such as untrunc, "
                                 "given an intact clip from the same camera, can rebuild the index")
        raise VideoReadError(f"{path}: cannot read video (not a video, corrupt, or unsupported codec)")
    stamps = [cap.get(cv2.CAP_PROP_POS_MSEC)]  # (each frame's timestamp, read right after the frame)
    ahead: list[np.ndarray] = []
    if kind in _MAY_BE_VIDEO:  # a raw MJPEG stream or an animated GIF: a video holds a second frame
        ok, second = cap.read()
        if not ok or second is None:
            cap.release()
            raise ImageNotVideoError(f"{path} is a single {kind} image, not a video: {_AS_IMAGE[kind]} and use cvdenoise "
                                     "denoise (or cvdenoise.load()(image))", kind)
        ahead.append(second)
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))  # a raw MJPEG stream reports -2**63
    shown = _shown_seconds(path)  # an MP4's own duration: an edit list may hide some of the frames it counts
    if shown is not None and count and 1 <= round(shown * fps) < count:
        count = round(shown * fps)
    rate = _base_rate(path, fps)  # a variable frame rate: numbered at its base rate, not OpenCV's average
    if rate != fps:
        count, fps = round(count * rate / fps), rate  # (the clip's duration in slots of the base rate)
    size = (first.shape[1], first.shape[0])

    state = _Numbering()

    def frames() -> Iterator[np.ndarray]:
        try:
            state.place(skipped, _slot(stamps[0], fps), skipped)  # (damaged frames at the start: held by the first)
            yield first
            for k, f in enumerate(ahead, skipped + 1):
                state.place(k, _slot(stamps[k - skipped], fps), 0)
                yield f
            tried, misses = skipped + 1 + len(ahead), 0
            while True:
                ok, f = cap.read()
                tried += 1
                if ok and f is not None:
                    state.place(tried - 1, _slot(cap.get(cv2.CAP_PROP_POS_MSEC), fps), misses)
                    misses = 0
                    yield f
                    continue
                # a damaged frame: the decoder goes on after it while the container holds more
                misses += 1
                if count <= 0 or tried >= count or misses >= _MAX_BAD_FRAMES:
                    break
            state.finish(count)
        finally:
            cap.release()

    return SourceFrames(frames(), state, cap.release), float(fps), size, count


#: frame rates a variable-frame-rate clip's base rate is taken as when within 3 % of one
_STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0, 90.0, 100.0, 119.88, 120.0, 144.0, 240.0)
#: the frames whose timestamps show a clip's base rate
_RATE_SCAN = 90
#: the first frames that, one slot of the clip's rate apart each, show a constant rate (the scan stops)
_STEADY = 16


def _base_rate(path: Path, fps: float) -> float:
    """The rate of a clip's frames where they come fastest, from the timestamps of its first
    frames: ``fps`` (OpenCV's, the average over the clip) unless that base rate is over 3 % above
    it — a variable frame rate (a phone that drops from 30 to 15 fps in low light, a recording
    with pauses), whose frames, numbered at the average, would each come out late in a faster
    stretch. Taken as the standard rate within 3 % of it (29.97, 30, 60, …)."""
    cap = cv2.VideoCapture(str(path))
    stamps: list[float] = []
    step = 1000.0 / fps if math.isfinite(fps) and fps > 0 else math.nan
    try:
        while len(stamps) < _RATE_SCAN and cap.grab():
            stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
            if len(stamps) == _STEADY and all(abs(b - a - step) <= 0.01 * step for a, b in zip(stamps, stamps[1:])):
                return fps  # (its first frames one slot apart each: a constant rate, the scan stops here)
    finally:
        cap.release()
    steps = np.diff(np.array([t for t in stamps if math.isfinite(t)], np.float64))
    steps = steps[steps > 0]
    if len(steps) < 8:
        return fps
    fast = steps[steps <= 1.5 * np.quantile(steps, 0.1)]  # (the frames of the fastest stretch; jitter averaged)
    rate = 1000.0 / float(np.median(fast))
    if not fps * 1.03 < rate <= min(8 * fps, 480.0):  # (constant rate, an AVI's held slots; or no plausible rate)
        return fps
    near = min(_STANDARD_RATES, key=lambda r: abs(r - rate))
    return near if abs(near - rate) <= 0.03 * rate else rate


def _shown_seconds(path: Path) -> float | None:
    """An MP4/MOV file's duration (``mvhd``: what its edit lists show; a clip cut from a longer
    one without re-encoding, ``ffmpeg -ss 5 -c copy``, keeps the frames before its start but hides
    them), or ``None`` for other files."""
    try:
        with open(path, "rb") as fh:
            for kind, start, end in _mp4_boxes(fh, 0, os.fstat(fh.fileno()).st_size):
                if kind == b"moov":
                    for inner, a, _ in _mp4_boxes(fh, start, end):
                        if inner == b"mvhd":
                            fh.seek(a)
                            version = fh.read(1)
                            fh.seek(a + (12 if version == b"\0" else 20))
                            scale, duration = struct.unpack(">II" if version == b"\0" else ">IQ", fh.read(8 if version == b"\0" else 12))
                            return duration / scale if scale and duration else None
                    return None
    except (OSError, struct.error):
        return None
    return None


def _mp4_without_index(path: Path) -> bool:
    """Whether ``path`` is an MP4/MOV file that holds media data (``mdat``) but no index (``moov``): a
    recording stopped before the writer finished it, which no reader can open."""
    try:
        with open(path, "rb") as fh:
            kinds = {kind for kind, _, _ in _mp4_boxes(fh, 0, os.fstat(fh.fileno()).st_size, _QUICKTIME_FIRST)}
    except (OSError, struct.error):
        return False
    return b"mdat" in kinds and b"moov" not in kinds


#: the boxes an MP4/MOV file may start with: ``ftyp``, or in an older QuickTime file (no ``ftyp``) these
_QUICKTIME_FIRST = (b"ftyp", b"wide", b"free", b"skip", b"mdat")


def _mp4_boxes(fh: BinaryIO, start: int, end: int,
               first: tuple[bytes, ...] = (b"ftyp",)) -> Iterator[tuple[bytes, int, int]]:
    """``(type, content start, end)`` of the ISO BMFF boxes between ``start`` and ``end`` of ``fh``;
    nothing for a file that is no MP4 (its first box must be one of ``first`` at offset 0)."""
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        size, kind = struct.unpack(">I4s", fh.read(8))
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", fh.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < head or (pos == 0 and kind not in first):
            return
        yield kind, pos + head, min(pos + size, end)
        pos += size


def _slot(ms: float, fps: float) -> int:
    """The source frame number of a frame at ``ms`` milliseconds (``-1``: no timestamp)."""
    return round(ms * fps / 1000) if math.isfinite(ms) and ms > 0 and math.isfinite(fps) and fps > 0 else -1


class _Numbering:
    """Source numbers of a clip's decoded frames, and the slots between them that only hold the
    frame before (see :func:`read_video`)."""

    def __init__(self) -> None:
        self.index, self.held, self.held_total, self.held_at_end, self.widest = -1, 0, 0, 0, 0
        self.stand_ins = 0  # damaged frames whose slots hold the frame before them (the first, at the start)
        self.offset: int | None = None  # the first frame's stamped number less its place (AVIs that start at 1)

    def place(self, read: int, stamped: int, damaged: int) -> None:
        """Number the frame just decoded: ``read`` frames were read before it (``damaged`` of
        them since the last good one, left out), ``stamped`` its number by timestamp (``-1``:
        none), counted from the first frame's."""
        if self.offset is None:
            self.offset = stamped - read if stamped >= 0 else 0
        stamped = stamped - self.offset if stamped >= 0 else -1
        number = max(read, stamped, self.index + 1)  # (a burst of a variable frame rate: never back)
        gap = number - self.index - 1 - damaged  # slots the container holds no frame for
        empty = gap if 0 < gap <= _MAX_HELD else 0  # (a wider jump: a timestamp error, not a repeat)
        # a damaged frame's slot holds the frame before it too (the output keeps the clip's timing:
        # a clip with 3 damaged frames of 30 came out 27 frames long, each later frame early); it
        # still counts as not decoded. Damaged frames before the first hold the first (the writer
        # repeats a clip's first frame for the slots before it).
        lost = damaged
        self.held = empty + lost
        self.held_total += empty
        self.stand_ins += lost
        self.widest = max(self.widest, empty)
        self.index = number

    def finish(self, count: int) -> None:
        """At the clip's end: the last frame holds the slots left up to ``count``, where the clip
        held frames as wide before (an AVI that ends on repeat entries; else the end is missing)."""
        left = count - 1 - self.index
        self.held = 0
        if 0 < left <= self.widest:
            self.held_at_end = left
            self.held_total += left


class SourceFrames(Iterator[np.ndarray]):
    """The decoded frames of :func:`read_video`; :attr:`index` is the source frame number of the
    frame last yielded (frames after a damaged one keep their own numbers: none is renumbered).
    :attr:`held`: the slots just before it that only hold the frame before (an AVI's repeat
    entries, a variable frame rate; a writer at the clip's fps repeats that frame),
    :attr:`held_at_end` those after the last frame (known once the frames are exhausted) and
    :attr:`held_total` all of them so far. Dropping it releases the video at once (the generator
    holds no reference back to it)."""

    def __init__(self, frames: Iterator[np.ndarray], numbering: _Numbering,
                 release: Callable[[], object] | None = None) -> None:
        self._frames, self._numbering, self._release = frames, numbering, release

    @property
    def index(self) -> int:
        """The source frame number of the frame last yielded (``-1`` before the first)."""
        return self._numbering.index

    @property
    def held(self) -> int:
        """Slots just before the frame last yielded that only hold the frame before it."""
        return self._numbering.held

    @property
    def held_at_end(self) -> int:
        """Slots after the last frame that hold it (known once the frames are exhausted)."""
        return self._numbering.held_at_end

    @property
    def held_total(self) -> int:
        """The slots so far that the clip holds no frame for (:attr:`held` of every frame less
        :attr:`stand_ins`, and :attr:`held_at_end`)."""
        return self._numbering.held_total

    @property
    def stand_ins(self) -> int:
        """The damaged frames so far whose slots hold the frame before them (in :attr:`held`)."""
        return self._numbering.stand_ins

    def __next__(self) -> np.ndarray:
        return next(self._frames)

    def close(self) -> None:
        """Stop reading and release the file (as a generator's ``close``; also before the first
        frame was asked for, where closing a generator runs none of its code)."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()
        if self._release is not None:
            self._release()


def check_frame_size(src: str | Path, size: tuple[int, int]) -> None:
    """``ValueError`` when frames of ``size`` (``(width, height)``) leave nothing to encode once
    cropped to even sides (a side of 1 pixel): checked before a model is loaded, and by :func:`even_size`."""
    if min(size) < 2:
        raise ValueError(f"{src}: frames of {size[0]}x{size[1]} are too small to encode")


def even_size(src: str | Path, size: tuple[int, int], codec: str) -> tuple[int, int]:
    """The ``(width, height)`` a ``codec`` writer takes for ``size`` frames: even sides (the
    last odd column/row is dropped, with a warning); ``ValueError`` when nothing is left."""
    check_frame_size(src, size)
    even = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    if even != size:
        warnings.warn(
            f"{src}: {size[0]}x{size[1]} frames are written as {even[0]}x{even[1]} "
            f"(OpenCV's {codec} writer takes even sizes only; the last odd column/row is dropped)",
            stacklevel=3,
        )
    return even


_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
#: suffixes cvdenoise writes videos as (the codec follows the suffix, see :data:`_FOURCC`, unless chosen)
VIDEO_SUFFIXES: tuple[str, ...] = tuple(_FOURCC)
#: the codecs a video can be written with (``codec=`` of :func:`denoise_video`, ``cvdenoise video
#: --codec``): OpenCV fourcc and the containers that hold it. ``ffv1`` is lossless (frames read
#: back exactly; files several times larger), ``mp4v`` and ``mjpg`` are lossy.
CODECS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mp4v": ("mp4v", (".mp4", ".m4v", ".mov", ".avi", ".mkv")),
    "mjpg": ("MJPG", (".avi", ".mkv", ".mov")),
    "ffv1": ("FFV1", (".mkv", ".avi")),
}


def video_fourcc(dst: str | Path, codec: str = "auto") -> str:
    """The OpenCV fourcc ``dst`` is written with: ``codec`` (a key of :data:`CODECS`), or with
    ``"auto"`` the one its suffix names in :data:`_FOURCC`.

    Raises:
        ValueError: an unknown codec or container, or a container that cannot hold ``codec``
            (``ffv1`` in ``.mp4``).
    """
    ext = Path(dst).suffix.lower()
    if not ext:
        raise ValueError(f"output {os.fspath(dst)!r} has no video suffix; name it "
                         f"{os.fspath(dst)}.mp4 (or another of {', '.join(sorted(_FOURCC))})")
    if ext not in _FOURCC:
        raise ValueError(f"unsupported output container {ext!r}; use one of {sorted(_FOURCC)}")
    codec = codec.lower()  # any case: the summary prints MJPG, FFV1
    if codec == "auto":
        return _FOURCC[ext]
    if codec not in CODECS:
        raise ValueError(f"unknown video codec {codec!r}; use auto or one of {', '.join(CODECS)}")
    fourcc, containers = CODECS[codec]
    if ext not in containers:
        raise ValueError(f"a {ext} file cannot hold {codec} video; name the output {' or '.join(containers)} "
                         f"(e.g. {Path(dst).with_suffix(containers[0]).name}), or choose another codec")
    return fourcc


def same_file(a: str | Path, b: str | Path) -> bool:
    """``True`` when both paths exist and name one file: through a symlink, a hard link or a
    case-insensitive file system (``GOPR0001.MP4`` vs ``GOPR0001.mp4``)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_video_output(src: str | Path, dst: str | Path, codec: str = "auto") -> None:
    """``ValueError`` unless ``dst`` can take the video made from ``src``: not ``src`` itself
    (also under another name), not a folder, not under a file, a suffix of :data:`VIDEO_SUFFIXES`
    whose container holds ``codec`` (see :func:`video_fourcc`), in a folder that takes new files."""
    folder_meant = os.fspath(dst).endswith(("/", os.sep))  # `-o clips/` (Path drops the slash)
    src, dst = Path(src), Path(dst)
    if not opencv_can_open(dst.absolute()):
        raise ValueError(f"output {str(dst)!r}: OpenCV's video writer cannot open a name that is not valid UTF-8; "
                         "choose another name or folder")
    if same_file(src, dst) or dst.resolve() == src.resolve():
        raise ValueError(f"refusing to overwrite the input video {src}: choose another output name or folder")
    if dst.is_dir():
        raise ValueError(f"output {dst} is a folder; give a video file name such as {dst / (src.stem + '.mp4')}")
    if (problem := no_regular_file(dst)) is not None:
        raise ValueError(f"output {dst} {problem}")
    if (blocking := file_above(dst)) is not None:
        raise ValueError(f"output {dst}: {blocking} is a file, so no folder can be made there")
    if folder_meant:
        raise ValueError(f"output {dst} names a folder; -o names the video file, such as {dst / (src.stem + '.mp4')}")
    video_fourcc(dst, codec)
    if (problem := creation_problem(dst)) is not None:  # (now, not after the model has loaded, naming a temp file)
        raise ValueError(f"cannot write {dst}: {problem}")


#: the largest numerator of a frame rate MPEG-4's writer takes (its time base is a 16-bit fraction)
_MAX_RATE_NUMERATOR = 65535
#: the slowest rate OpenCV's writer opens at (0.001 fps is refused; this one is stored as 1/1000)
_SLOWEST_RATE = 0.0011


def writable_fps(fps: float) -> float:
    """The frame rate to give OpenCV's video writer for a clip at ``fps``: ``fps`` itself where
    the writer can store it (it keeps 3 decimals: ``fps·1000 / 1000``, reduced, whose numerator
    MPEG-4 takes up to 65535), else ``fps`` to fewer decimals — ``119.881`` (119881/1000) made
    the ``.mp4`` writer fail to open, ``119.88`` does not; a timelapse slower than
    :data:`_SLOWEST_RATE` gets that rate (stored as 0.001 fps, with a warning by the writer).
    ``ValueError`` for a rate that is not a positive number."""
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"cannot write a video at {fps} fps")
    if round(fps * 1000) <= 1:  # (kept as 1/1000 fps; the writer refuses 0.001 itself)
        return max(fps, _SLOWEST_RATE)
    for digits in (3, 2, 1, 0):
        if _storable(rate := round(fps, digits)):
            return rate
    return fps


def _storable(fps: float) -> bool:
    """Whether OpenCV's writer stores ``fps`` in a form every container takes (see :func:`writable_fps`)."""
    thousandths = round(fps * 1000)
    return thousandths > 0 and Fraction(thousandths, 1000).numerator <= _MAX_RATE_NUMERATOR


@contextmanager
def video_writer(
    src: str | Path, dst: str | Path, fps: float, size: tuple[int, int], codec: str = "auto",
    on_written: Callable[[], object] | None = None,
) -> Iterator[Callable[[np.ndarray], None]]:
    """Write frames of ``size`` (``(width, height)``) to ``dst``, encoded with ``codec`` (a key of
    :data:`CODECS`; ``"auto"``: by its suffix, see :data:`_FOURCC`).

    Yields a ``write(frame)`` function taking BGR ``(H,W,3)`` or gray ``(H,W)`` uint8 frames
    (cropped to even sides, see :func:`even_size`). Frames go to a uniquely named hidden file
    beside ``dst``, renamed onto ``dst`` only when the block ends without an error; on an error
    it is removed and an existing ``dst`` is left as it was. ``on_written()`` runs right after
    that rename, with Ctrl-C held back until it returns (e.g. to record the file).

    Raises:
        ValueError: ``dst`` is ``src`` itself, a folder, or has an unsupported suffix or one
            whose container cannot hold ``codec``.
        OSError: OpenCV cannot open a writer for it (also: this OpenCV build lacks the encoder).
    """
    src, dst = Path(src), Path(dst)
    check_video_output(src, dst, codec)
    ext = dst.suffix.lower()
    fourcc = video_fourcc(dst, codec)
    even = even_size(src, size, fourcc)
    stored = writable_fps(fps)
    kept = round(stored * 1000) / 1000  # (what the file says: a timelapse at 1 frame / 900 s is written at 0.001 fps)
    if not math.isclose(kept, fps, rel_tol=0.001):
        warnings.warn(f"{dst}: written at {kept:g} fps; OpenCV's video writer cannot store the source's {fps:g} fps",
                      UserWarning, stacklevel=user_stacklevel())
    with atomic_path(dst, prefix=f".{dst.stem[:120]}.", suffix=f".partial{ext}", then=on_written) as tmp:  # (a long name fits)
        tag = "jpeg" if fourcc == "MJPG" and Path(dst).suffix.lower() == ".mov" else fourcc  # (QuickTime's MJPEG tag:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter.fourcc(*tag), stored, even)  # OpenCV printed two lines finding it)
        if not writer.isOpened():
            if (free := _free_bytes(dst.parent)) is not None and free < _FULL_DISK:  # (OpenCV says no more than "no")
                raise OSError(f"cannot write {dst}: no space left on its disk ({free} bytes free)")
            raise OSError(f"cannot open a {fourcc} video writer for {dst} at {stored:g} fps, {even[0]}x{even[1]} (this "
                          f"OpenCV build may lack the encoder, or the container cannot take that frame rate"
                          f"{'' if codec.lower() == 'auto' else '; try another codec'})")

        written = 0

        def write(frame: np.ndarray) -> None:
            nonlocal written
            if frame.shape[:2] != (even[1], even[0]):
                frame = np.ascontiguousarray(frame[: even[1], : even[0]])
            writer.write(frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
            written += 1

        try:
            yield write
        finally:
            writer.release()  # before the rename (or the removal) of its file
        check_written(tmp, dst, written)


#: free bytes under which a video writer that will not open is taken to have met a full disk
_FULL_DISK = 1 << 20


def _free_bytes(folder: Path) -> int | None:
    """Bytes free to a new file in ``folder``, or ``None`` when that cannot be read."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def stored_frames(path: str | Path) -> int:
    """The frame count a video file's container declares (0 when it cannot be read)."""
    cap = cv2.VideoCapture(os.fspath(path))
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if cap.isOpened() else 0
    finally:
        cap.release()


def check_written(tmp: str | Path, dst: str | Path, frames: int) -> None:
    """Raise ``OSError`` unless the finished video file ``tmp`` (to become ``dst``) opens, holds
    ``frames`` frames and decodes its last one.

    ``cv2.VideoWriter`` reports no write error: a full disk leaves a truncated file (an mp4
    without its index, a 0-byte avi) that would otherwise be renamed onto ``dst`` as a success.
    """
    if frames == 0:
        return
    cap = cv2.VideoCapture(str(tmp))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else -1
        if count > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
        ok = cap.isOpened() and count in (0, frames) and cap.read()[0]
    finally:
        cap.release()
    if not ok:
        found = ("cannot be opened" if count < 0 else f"reads back {count} of its {frames} frames"
                 if count not in (0, frames) else "cannot decode its last frame")
        raise OSError(
            f"writing {dst} failed: the finished file {found} (disk full or a write error?); "
            f"{dst} was not changed"
        )


def close_frames(frames: Iterator[np.ndarray]) -> None:
    """Release the video behind ``frames`` (:class:`SourceFrames`; any iterator with ``close``)."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


class TruncatedVideoWarning(UserWarning):
    """Fewer frames were decoded than the container announced (a damaged file); the output holds those."""


def warn_if_truncated(src: str | Path, dst: str | Path, done: int, count: int, stacklevel: int = 3,
                      stand_ins: int = 0) -> str | None:
    """Warn (:class:`TruncatedVideoWarning`) when fewer frames were decoded than the container
    announced (a damaged file); returns what it said (``None``: the whole clip). ``stand_ins``:
    the damaged frames whose slots hold the frame before them (:attr:`SourceFrames.stand_ins`).
    ``stacklevel``: as :func:`warnings.warn`'s, counted from the caller (3: the caller's caller)."""
    if not count or done >= count:
        return None
    held = f"the frame before each of {stand_ins} damaged one(s) in its place, " if stand_ins else ""
    said = f"{count - done} of its {count} frames could not be decoded (a damaged or cut-short file); {dst} holds {held}the others"
    warnings.warn(f"{src}: {said}", TruncatedVideoWarning, stacklevel=stacklevel)
    return said


def denoise_video(
    src: str | Path, dst: str | Path, frame_filter: FrameFilter, batch_size: int = 4, progress: bool = True,
    codec: str = "auto", on_written: Callable[[], object] | None = None,
) -> list[FrameInfo]:
    """Re-encode ``src`` to ``dst`` with every frame filtered by ``frame_filter`` (a
    :class:`FrameFilter`, e.g. ``FrameFilter("fast")``), keeping size and timing (fps; a variable
    frame rate is written at its base rate, see :func:`read_video`).

    ``codec="auto"`` follows ``dst``'s suffix (``.mp4``/``.m4v``/``.mov`` → mp4v, ``.avi``/``.mkv``
    → MJPG): lossy, so even a frame passed through unchanged is re-encoded. ``codec="ffv1"``
    (``.mkv``/``.avi``) is lossless: the frames read back exactly as filtered (see
    :data:`CODECS`; ``"mp4v"``, ``"mjpg"`` choose a lossy one). These codecs store even sizes
    only: an odd width or height loses its last column or row (pixels keep their coordinates; a
    ``UserWarning`` says so). ``dst`` is written whole or not at all (an existing file is
    replaced only at the end; ``on_written()`` runs right after, with Ctrl-C held back until it
    returns, e.g. to record the file). The clip starts ``frame_filter`` afresh (:meth:`FrameFilter.reset`:
    no temporal state or history carried over from an earlier clip; its ``max_history`` waits
    until the clip's end). Returns the per-frame :class:`FrameInfo` records, their ``index`` the source frame's number (after a damaged frame,
    which has no record, the numbers skip it rather than shift; in ``dst`` its slot holds the
    frame before it). Fewer frames decoded than the container announced: a
    :class:`TruncatedVideoWarning` (``dst`` holds those, and a damaged frame's stand-in).
    """
    check_video_output(src, dst, codec)  # before the input is opened: a bad name costs nothing
    frames, fps, size, count = read_video(src)
    numbers: list[int] = []
    holds: list[int] = []

    def numbered() -> Iterator[np.ndarray]:
        for f in frames:
            numbers.append(getattr(frames, "index", len(numbers)))  # (any iterator of frames: in order)
            holds.append(getattr(frames, "held", 0))
            yield f

    bound, frame_filter.max_history = frame_filter.max_history, None  # every record of the clip is returned
    try:
        with video_writer(src, dst, fps, size, codec, on_written=on_written) as write:
            frame_filter.reset()
            with progress_bar(total=count or None, desc="video", unit="frame", disable=not progress) as bar:
                held = HeldFrames(write, bar)
                for i, f in enumerate(frame_filter.stream(numbered(), batch_size)):
                    held.write(f, holds[i])
                held.end(getattr(frames, "held_at_end", 0))
    finally:
        frame_filter.max_history = bound
        close_frames(frames)  # released now, also when the writer or the filter failed (its traceback would hold it)
    warn_if_truncated(src, dst, len(frame_filter.history) + getattr(frames, "held_total", 0), count,
                      stand_ins=getattr(frames, "stand_ins", 0))
    return [replace(info, index=n) for info, n in zip(frame_filter.history, numbers)]


class HeldFrames:
    """A frame writer that keeps a clip's timing: a frame held for ``k`` slots (the
    :attr:`SourceFrames.held` before it) is preceded by ``k`` copies of the frame before it (of
    itself at the clip's start)."""

    def __init__(self, write: Callable[[np.ndarray], None], bar: Any = None) -> None:
        self._write, self._bar = write, bar  # (bar: a progress bar counting the clip's slots)
        self._last: np.ndarray | None = None

    def write(self, frame: np.ndarray, held: int = 0) -> None:
        for _ in range(held):
            self._write(frame if self._last is None else self._last)
        self._write(frame)
        self._last = frame
        if self._bar is not None:
            self._bar.update(held + 1)

    def end(self, held: int) -> None:
        """The slots after the last frame (:attr:`SourceFrames.held_at_end`): copies of it."""
        if self._last is not None:
            for _ in range(held):
                self._write(self._last)
            if self._bar is not None:
                self._bar.update(held)
