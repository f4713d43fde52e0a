"""Training data: clean image sources and on-the-fly ``(degraded, clean)`` pairs.

Clean sources are folders of photos (any format OpenCV reads) and a procedural *dead leaves*
generator (occluding disks with power-law sizes), which is known to train denoisers that
transfer to real photos and lets training run with no data at all, and procedural *drawings*
(text, lines and shapes on flat backgrounds: documents and screen captures).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import torch

from ._checks import check_float_range
from .degrade import Degrader, DegradationConfig, to_float
from .io import IMAGE_SUFFIXES
from ._warn import WARNINGS_LOCK

__all__ = ["IMAGE_SUFFIXES", "list_images", "dead_leaves", "drawing", "add_lights", "load_clean_images", "PairSampler", "PairBatches"]

_GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;-+/()%#@"
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)



def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive, sorted), found as the folder command finds them:
    linked folders are followed, each real folder once (a link loop ends); hidden folders
    (``.git``), thumbnail folders (``@eaDir``, ``__MACOSX``), macOS ``._name`` companions and the
    copies cvdenoise wrote there (its ``.cvdenoise-output`` records) are left out. ``root`` may
    also be a single file. A broken symbolic link with an image name (also ``root`` itself) is
    listed (the readers skip it with a warning naming it, as any unreadable file)."""
    from .folder import _files_under, _is_apple_double  # (on use: folder brings in the Denoiser and its I/O)

    root = Path(root)
    if root.is_file() or _broken_link(root):
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {root}")
    return sorted(p for p in _files_under(root) if p.suffix.lower() in IMAGE_SUFFIXES and (p.is_file() or _broken_link(p))
                  and not _is_apple_double(p) and not p.name.startswith(".cvdenoise-"))


def _broken_link(p: Path) -> bool:
    """``p`` is a symbolic link to nothing (its target moved or deleted)."""
    return p.is_symlink() and not p.exists()


def dead_leaves(size: int, rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    """One ``(size, size, channels)`` float32 dead-leaves image in ``[0, 1]``.

    Disks with radius drawn from ``p(r) ∝ r^-3`` on ``[size/200, size/3]`` are painted back
    to front with random colours, some with a soft gradient; a mild blur removes aliasing.
    """
    img: np.ndarray = np.empty((size, size, 3), np.float32)
    img[:] = rng.random(3).astype(np.float32)
    rmin, rmax = max(1.0, size / 200), size / 3
    coverage = np.zeros((size, size), np.uint8)
    for i in range(4000):
        u = rng.random()
        r = (rmin**-2 + u * (rmax**-2 - rmin**-2)) ** -0.5  # inverse CDF of r^-3
        cx, cy = rng.integers(0, size, 2)
        color = rng.random(3).astype(np.float32)
        if rng.random() < 0.3:
            color = np.full(3, rng.random(), np.float32)
        cv2.circle(img, (int(cx), int(cy)), int(r), color.tolist(), -1, lineType=cv2.LINE_AA)
        cv2.circle(coverage, (int(cx), int(cy)), int(r), 1, -1)
        if i % 64 == 63 and coverage.mean() > 0.999:  # checking every disk cost more than painting
            break
    if rng.random() < 0.5:  # slow illumination gradient
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        g = 0.6 + 0.4 * (rng.random() * xx + rng.random() * yy) / 2
        img *= g[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    if channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.clip(img, 0, 1)


def drawing(size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``(size, size, 3)`` float32 drawing in ``[0, 1]`` on exact 8-bit values: lines of text
    (OpenCV's fonts, scale log-uniform in 0.3–1.4, 1–2 px strokes, 80 % anti-aliased), lines,
    rectangles and circles on a flat background (55 % white, 15 % black, 30 % a random colour),
    each stroke in the gray opposite to the background's mean (black on white, white on black; a
    mid gray on a mid-tone colour: a faint stroke), a random gray or a saturated colour — a
    document or screen capture, whose strokes a denoiser should keep. (The shipped stage-25
    weights trained on exactly this generator; ``PairSampler``'s ``p_colour_gain`` also applies to
    drawing crops, which then leave the 8-bit grid.)"""
    u = rng.random()
    bg = [255, 255, 255] if u < 0.55 else [0, 0, 0] if u < 0.7 else [int(v) for v in rng.integers(0, 256, 3)]
    img = np.empty((size, size, 3), np.uint8)
    img[:] = bg

    def colour() -> list[int]:
        v = rng.random()
        if v < 0.45:  # the background's opposite: black on white, white on black
            return [255 - int(np.mean(bg))] * 3
        if v < 0.6:
            return [int(rng.integers(0, 256))] * 3
        c = rng.integers(0, 256, 3)
        c[int(rng.integers(3))] = int(rng.integers(0, 60))  # saturated: one channel low
        return [int(x) for x in c]

    for _ in range(int(rng.integers(3, 12))):
        aa = cv2.LINE_AA if rng.random() < 0.8 else cv2.LINE_8
        thick = 1 if rng.random() < 0.7 else 2
        kind = rng.random()
        if kind < 0.6:
            text = "".join(rng.choice(list(_GLYPHS), int(rng.integers(3, 24))))
            org = (int(rng.integers(-size // 4, size // 2)), int(rng.integers(8, size + 8)))
            scale = float(np.exp(rng.uniform(np.log(0.3), np.log(1.4))))  # small text as often as large
            cv2.putText(img, text, org, int(rng.choice(_FONTS)), scale, colour(), thick, aa)
        elif kind < 0.8:
            p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
            if rng.random() < 0.5:  # axis-aligned, as in charts and user interfaces
                axis = int(rng.integers(2))  # 0: a vertical line, 1: a horizontal one
                q[axis] = p[axis]
            cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), colour(), thick, aa)
        elif kind < 0.92:
            p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), colour(), -1 if rng.random() < 0.3 else thick, aa)
        else:
            c = rng.integers(0, size, 2)
            cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(2, size // 2)), colour(), thick, aa)
    return img.astype(np.float32) * np.float32(1 / 255)


def add_lights(crop: np.ndarray, rng: np.random.Generator, p_glow: float = 0.33, max_gain: float = 0.5,
               p_aa: float = 0.7) -> np.ndarray:
    """``crop`` (``(H,W,3)`` float32 in ``[0, 1]``) darkened to a night scene (gain log-uniform in
    0.04–``max_gain``, 0.5 by default; 1 also keeps day scenes with white in them) with 1–6 lights
    drawn on it: lines 1–8 px wide, discs, rectangles or text at exact white (70 %) or a saturated
    warm or cold colour with one channel at 1, a share ``p_aa`` of them anti-aliased (70 % by
    default; OpenCV 5 draws text anti-aliased always), a share ``p_glow`` (a third by default) with
    a faint glow. Street lamps, headlights, stars, lit windows and overlays on a dark frame: under
    noise the models darkened the background beside such full-white structures (up to 19 levels
    on a background of 20 at σ=20, ``python benchmarks/lights.py``) as if removing a blur's glow
    that was never there. The random draws do not depend on ``p_glow`` and ``p_aa``, so a seed
    gives the same lights, with or without glow and anti-aliasing. Returns a new float32 array."""
    h, w = crop.shape[:2]
    if not 0.04 <= max_gain <= 1:
        raise ValueError(f"max_gain must be in [0.04, 1], got {max_gain}")
    gain = float(np.exp(rng.uniform(np.log(0.04), np.log(max_gain))))
    out = crop * np.float32(gain)
    for _ in range(int(rng.integers(1, 7))):
        mask = np.zeros((h, w), np.uint8)
        aa = cv2.LINE_AA if rng.random() < p_aa else cv2.LINE_8
        kind = rng.random()
        if kind < 0.45:
            p, q = rng.integers(-w // 4, w + w // 4, 2), rng.integers(-h // 4, h + h // 4, 2)
            if rng.random() < 0.5:  # axis-aligned (stage 30 trained with a quarter of them so, not half: see RECIPE.md)
                axis = int(rng.integers(2))
                q[axis] = p[axis]
            thick = int(np.clip(np.round(np.exp(rng.uniform(0.0, np.log(8.0)))), 1, 8))
            cv2.line(mask, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 255, thick, aa)
        elif kind < 0.75:
            c = rng.integers(0, min(h, w), 2)
            cv2.circle(mask, (int(c[0]), int(c[1])), int(rng.integers(1, max(2, min(h, w) // 6))), 255, -1, aa)
        elif kind < 0.9:
            p = rng.integers(0, min(h, w), 2)
            q = p + rng.integers(2, max(3, min(h, w) // 3), 2)
            cv2.rectangle(mask, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 255, -1, aa)
        else:
            text = "".join(rng.choice(list(_GLYPHS), int(rng.integers(2, 10))))
            org = (int(rng.integers(0, w // 2)), int(rng.integers(8, h)))
            cv2.putText(mask, text, org, int(rng.choice(_FONTS)), float(rng.uniform(0.3, 1.2)), 255,
                        1 if rng.random() < 0.7 else 2, aa)
        m = mask.astype(np.float32) * np.float32(1 / 255)
        if rng.random() < p_glow:  # a faint glow around the light, part of the clean scene
            glow = cv2.GaussianBlur(m, (0, 0), float(rng.uniform(1.5, 6.0)))
            m = np.maximum(m, glow * np.float32(rng.uniform(0.1, 0.5)))
        colour = np.ones(3, np.float32)
        if rng.random() >= 0.7:
            colour = rng.uniform(0.2, 1.0, 3).astype(np.float32)
            colour[int(rng.integers(3))] = 1.0
        out = out + m[:, :, None] * (colour - out)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


def _read_rgb(path: Path) -> np.ndarray:
    """``path`` as float32 RGB ``(H,W,3)`` in ``[0, 1]``, read as the folder command reads it
    (:func:`cvdenoise.io.read_image`: EXIF orientation; 10/12/14-bit data in 16-bit files at its
    own full scale); ``ValueError`` saying why it cannot be a training image: unreadable, several
    pages/frames, a truncated JPEG (its missing part would be a flat grey target), or float data
    with NaN/inf or outside ``[0, 1]``."""
    from .folder import stored_full_scale  # (on use, as above)
    from .io import read_image, read_metadata

    with WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            img = read_image(path)
        except (OSError, ValueError) as e:
            raise ValueError(str(e).removeprefix(f"{path}: ")) from e
    if any("truncated JPEG" in str(w.message) for w in caught):
        raise ValueError("truncated JPEG (no end marker)")
    if img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = img[..., 0]
    meta = read_metadata(path) if img.dtype == np.uint16 else None  # (the declared depth: PNG sBIT, PNM maxval)
    if meta is not None and (full := stored_full_scale(img, meta.significant_bits, meta.pnm_maxval)) < 65535:
        f = np.minimum(img.astype(np.float32) / full, 1.0)
    else:
        f = to_float(img)
    if img.dtype.kind == "f":
        check_float_range(f, hint="HDR or linear data: scale it to [0, 1] first")
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    elif f.shape[2] == 4:
        f = f[:, :, :3]
    return np.ascontiguousarray(f[:, :, ::-1])  # BGR → RGB


def load_clean_images(
    folders: Sequence[str | Path], min_size: int = 64, downscale: float = 1.0,
    skipped: list[tuple[Path, str]] | None = None,
) -> list[np.ndarray]:
    """Read every image under ``folders`` (folders or files) as RGB ``(H,W,3)`` ``uint16``
    (0–65535 for ``[0, 1]``: half the memory of float32, steps far below an 8-bit level).

    ``downscale`` < 1 shrinks each photo (INTER_AREA) first, which averages away the sensor
    noise and JPEG artifacts that "clean" photos already carry. A file that cannot be read,
    holds float data with NaN/inf or outside ``[0, 1]``, or has a short side under
    ``min_size`` after ``downscale`` is left out; ``skipped`` (if given) receives
    ``(path, reason)`` for each.
    """
    out: list[np.ndarray] = []
    for folder in folders:
        for p in list_images(folder):
            if _broken_link(p):
                if skipped is not None:
                    skipped.append((p, f"a broken symbolic link (to {os.readlink(p)})"))
                continue
            try:
                img = _read_rgb(p)
            except ValueError as e:
                if skipped is not None:
                    skipped.append((p, str(e)))
                continue
            if min(img.shape[:2]) * downscale < min_size:
                if skipped is not None:
                    skipped.append((p, f"{img.shape[1]}x{img.shape[0]} px is too small"))
                continue
            if downscale != 1.0:
                img = cv2.resize(img, None, fx=downscale, fy=downscale, interpolation=cv2.INTER_AREA)
            out.append(np.rint(img * 65535).astype(np.uint16))  # 16-bit: steps of 1/65535, half of float32's memory
    return out


class PairSampler:
    """Random ``(degraded, clean)`` crop batches from photos and/or dead leaves.

    Args:
        images: clean RGB photos, float32 in ``[0, 1]`` or ``uint16`` (as
            :func:`load_clean_images` holds them); may be empty when ``p_dead_leaves == 1``.
        crop: square crop side.
        channels: 3 for RGB pairs, 1 for gray (luma of the RGB crop).
        degradation: a config or preset name for :class:`~cvdenoise.degrade.Degrader`.
        p_dead_leaves: share of crops taken from procedural images.
        seed: seed of the single generator behind every random choice.
        p_colour_gain: share of RGB crops whose channels are scaled by independent random gains
            in ``[0, 1]`` (squared uniforms, so small gains are common): dark, saturated colours
            with near-empty channels, where noise clipped at 0 lifts the channel mean.
        p_drawing: share of crops that are procedural :func:`drawing` s (text, lines, shapes)
            instead of photos or dead leaves.
        p_lights: share of photo and dead-leaves crops made night scenes with full-white or
            saturated lights on them (:func:`add_lights`).
        lights_glow: share of those lights drawn with a faint glow around them (``p_glow`` of
            :func:`add_lights`).
        lights_max_gain: the brightest those scenes are kept (``max_gain`` of :func:`add_lights`).
        lights_aa: share of those lights drawn anti-aliased (``p_aa`` of :func:`add_lights`).

    ``batch(n)`` returns two ``(n, channels, crop, crop)`` float32 tensors: degraded, clean.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        crop: int = 64,
        channels: int = 3,
        degradation: DegradationConfig | str = "mixed",
        p_dead_leaves: float = 0.3,
        seed: int | np.random.SeedSequence = 0,
        leaves_pool: int = 64,
        p_colour_gain: float = 0.0,
        p_drawing: float = 0.0,
        p_lights: float = 0.0,
        lights_glow: float = 0.33,
        lights_max_gain: float = 0.5,
        lights_aa: float = 0.7,
    ) -> None:
        if not images and p_dead_leaves < 1.0:
            raise ValueError("no clean images given: pass image folders or set p_dead_leaves=1")
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        self.crop, self.channels = crop, channels
        self.degrader = Degrader(degradation)
        self.rng = np.random.default_rng(seed)
        self.p_dead_leaves = p_dead_leaves if self.images else 1.0
        self._leaves: list[np.ndarray] = []
        self._leaves_pool = leaves_pool
        self.p_colour_gain = p_colour_gain
        self.p_drawing = p_drawing
        self.p_lights = p_lights
        self.lights_glow = lights_glow
        self.lights_max_gain = lights_max_gain
        self.lights_aa = lights_aa

    def _leaf(self) -> np.ndarray:
        if len(self._leaves) < self._leaves_pool:
            self._leaves.append(dead_leaves(max(4 * self.crop, 256), self.rng))
            return self._leaves[-1]
        i = int(self.rng.integers(len(self._leaves)))
        if self.rng.random() < 0.02:  # refresh the pool slowly (a 512² leaf costs ~50× a crop)
            self._leaves[i] = dead_leaves(max(4 * self.crop, 256), self.rng)
        return self._leaves[i]

    def clean_crop(self) -> np.ndarray:
        drawn = bool(self.p_drawing) and self.rng.random() < self.p_drawing
        if drawn:
            src = drawing(self.crop, self.rng)
        elif self.rng.random() < self.p_dead_leaves:
            src = self._leaf()
        else:
            src = self.images[int(self.rng.integers(len(self.images)))]
        h, w = src.shape[:2]
        y, x = int(self.rng.integers(0, h - self.crop + 1)), int(self.rng.integers(0, w - self.crop + 1))
        c = src[y : y + self.crop, x : x + self.crop]
        if c.dtype == np.uint16:  # photos are held as 16-bit (half the memory of float32)
            c = c.astype(np.float32) * np.float32(1 / 65535)
        k = int(self.rng.integers(4))
        c = np.rot90(c, k)
        if self.rng.random() < 0.5:
            c = c[:, ::-1]
        if self.p_lights and not drawn and self.rng.random() < self.p_lights:
            c = add_lights(np.ascontiguousarray(c), self.rng, self.lights_glow, self.lights_max_gain, self.lights_aa)
        if self.channels == 1:
            c = cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2GRAY)[:, :, None]
        elif self.p_colour_gain and self.rng.random() < self.p_colour_gain:
            c = c * (self.rng.random(3) ** 2).astype(np.float32)
        return np.ascontiguousarray(c, dtype=np.float32)

    def _clean_8bit(self) -> np.ndarray:
        clean = self.clean_crop()
        if self.rng.random() < 0.5:  # quantise to 8 bit like most real inputs
            clean = np.round(clean * 255) / 255
        return clean

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        clean = self._clean_8bit()
        return self.degrader(clean, self.rng), clean

    def batch(self, n: int, degraded: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` clean crops and the degraded copies of the first ``degraded`` of them (all by
        default; fewer when the rest is degraded elsewhere, e.g. on a GPU by
        :class:`~cvdenoise.degrade_torch.TorchDegrader`).

        Returns ``(degraded, C, crop, crop)`` and ``(n, C, crop, crop)`` float32 tensors.
        """
        k = n if degraded is None else max(0, min(n, degraded))
        pairs = [self.pair() for _ in range(k)]
        cleans = [p[1] for p in pairs] + [self._clean_8bit() for _ in range(n - k)]
        c = self.channels
        noisy = torch.from_numpy(np.stack([p[0] for p in pairs])) if pairs else torch.empty(0, self.crop, self.crop, c)
        clean = torch.from_numpy(np.stack(cleans))
        return noisy.permute(0, 3, 1, 2).contiguous(), clean.permute(0, 3, 1, 2).contiguous()

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield self.pair()


class PairBatches(torch.utils.data.IterableDataset):
    """Endless ``(degraded, clean)`` batches for a ``DataLoader`` with worker processes.

    Each worker builds its own :class:`PairSampler` seeded ``SeedSequence((seed, worker_id))``, so
    workers never repeat each other, nor the workers of another ``seed`` (``cvdenoise train``
    passes its seed plus the step a run resumes at); use it with ``batch_size=None``. With
    ``num_workers=0`` it behaves like worker 0. Yields ``PairSampler.batch(batch,
    degraded)``: ``(degraded, C, crop, crop)`` noisy and ``(batch, C, crop, crop)`` clean
    float32 tensors.
    """

    def __init__(
        self, images: Sequence[np.ndarray], batch: int, seed: int = 0, degraded: int | None = None,
        **sampler_kwargs: Any,
    ) -> None:
        super().__init__()
        self.images, self.batch, self.seed, self.kwargs = list(images), batch, seed, sampler_kwargs
        self.degraded = degraded

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        if info is not None:  # one thread per worker process; never change the caller's setting
            torch.set_num_threads(1)
        sampler = PairSampler(self.images, seed=np.random.SeedSequence((self.seed, wid)), **self.kwargs)
        while True:
            yield sampler.batch(self.batch, self.degraded)
