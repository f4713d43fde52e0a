"""Automatic per-image strength: how much of the model output to keep.

A blind denoiser trained mostly on visible degradations takes some fine texture for noise: on a
clean, lightly compressed or lightly noisy photo the plain output loses detail that blending part
of the input back restores (``python benchmarks/strength.py`` measures it). How much to blend
follows from how much the model removed, :func:`cvdenoise.noise.residual_sigma` ``σ_r`` (8-bit
units)::

    s = clip(a + b · ln(σ_r + 0.1), 0, 1)        output = input + s · (model(input) − input)

with ``s = 1`` wherever the model removed much (heavy noise: unchanged) and also where the
input's own finest-scale energy, :func:`cvdenoise.noise.estimate_sigma`, is below ``k · σ_r``
(a blurred or heavily compressed input the model sharpens or deblocks: unchanged). An estimate
of exactly 0 — more than half of the image's 2×2 blocks without any finest-scale detail — counts
there only for an image with JPEG's 8×8 block grid (:func:`grid_blockiness`): a clean photo on a
smooth background reads 0 as well and keeps the rule's own strength. ``a, b, k``
are fitted per model on its training photos (``python benchmarks/strength.py --calibrate``) and
stored in the model card as ``auto_strength``; weights without one keep the full output. A
clean drawing gets ``s = 0``: what the model removed there is anti-aliasing (:func:`is_drawing`:
black and white — few values strictly between black and white, and a finest-scale energy far
above σ_r — or on a few exactly flat colours, in thin strokes: text, charts, screen captures).

Salt-and-pepper noise is taken apart from that rule, which reads noise where the input is not
clipped and so does not see it: :func:`impulse_mask` finds the values at full black or white that
the model changed by more than a tenth of the range and that no neighbour comes within a tenth
of the range of (isolated: not a stroke, line or highlight), scattered as noise is (not a
regular pattern of lights), in images holding both salt and pepper that are no black-and-white
drawings — or pepper alone on a white page, where salt hides in the strokes — and
:func:`auto_blend` gives each the median of the model output around it (the model alone left a
gray dot at a third of them) and raises the image's strength with their share of the image
(``s = 1`` from 0.6 % of the values found), so the model's clean-up around denser impulses is kept too
(``python benchmarks/impulse.py`` measures it). This runs at every strength, also on top of white noise
that gets the full output; heavy white noise clips values too, so an image counts only if it passes
these tests also with just the values farther from the model's output than its noise reaches
(:data:`IMPULSE_BEYOND_NOISE`). Weights without a rule keep the plain output, impulses and all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch

from ._checks import is_real
from .noise import _border_bands, band_pictures, estimate_sigma, flat_blocks, flat_pixels, residual_sigma, subsample_blocks

__all__ = ["StrengthRule", "auto_blend", "check_strength", "grid_blockiness", "flat_share", "impulse_mask", "is_drawing", "mix",
           "palette_share"]

#: a clean drawing for the rule: fewer of its values than this strictly inside (0, 1) ...
DRAWING_SHARE = 0.25
#: ... and a finest-scale level (:func:`~cvdenoise.noise.estimate_sigma`) over this many times σ_r;
DRAWING_RATIO = 8.0
#: or at least this share of its 2×2 pixel blocks exactly flat (all values of a block equal, in every
#: channel): a flat background in any colours (clean text pages, screen captures and charts:
#: 0.72–0.96; clean photos: 0–0.19, JPEG q40 photos up to 0.52; noise of σ = 1 level: 0.01)
FLAT_SHARE = 0.6
#: ... with at least this share of each channel's values among its PALETTE_COLOURS most common ones
#: (a photograph on a flat field, a smooth gradient: many levels)
PALETTE_SHARE = 0.8
PALETTE_COLOURS = 8
#: ... and under this share of the pixels off its flat blocks strict local extrema (brighter or
#: darker than their four neighbours, in the channel mean): anti-aliased strokes change
#: monotonically across (text, charts, screen captures: 0–0.10), while noise or a photograph on an
#: exactly flat field (a letterboxed frame, a CT slice's air, small noisy objects) reads 0.17–0.4
DRAWING_EXTREMA = 0.15
#: ... and under this share of the pairs of neighbouring flat blocks a small step apart (1–10
#: levels): flat colours meet at strokes, while a smooth gradient, clean or compressed to flat JPEG
#: blocks, steps from block to block (drawings: 0–0.003; gradients: 0.06–0.33)
DRAWING_STEPS = 0.02
#: ... and under this share of the pixels off its flat blocks more than 2 pixels from any flat one:
#: anti-aliasing is 1–2 pixels wide (clean drawings: 0–0.30, most under 0.2), while blur (σ 0.7:
#: 0.27–0.72) or JPEG ringing (0.3–0.95) spread the strokes, which the model then sharpens or
#: deblocks
DRAWING_SPREAD = 0.3
#: impulses are looked for in images with DRAWING_SHARE of their values inside (0, 1), or a page
#: with this share of flat blocks left between them (dithered and bilevel images have few)
IMPULSE_FLAT = 0.3
#: on such a page pepper alone is enough where salt has under this share of the values to show on
#: (a white page: salt shows on its strokes only)
IMPULSE_ROOM = 0.25
#: ... and only from this many pepper values on (ten RGB pixels: two dots on a clean icon are no noise)
IMPULSE_PAGE_VALUES = 30
#: an impulse is a value at 0 or full scale the model moved by more than this (fraction of the range) ...
IMPULSE_MOVED = 0.1
#: ... with no neighbour within this of it ...
IMPULSE_ALIKE = 0.1
#: ... in images that pass the tests below also with only the values farther than this many times the
#: input's noise level from the model output around them (:func:`~cvdenoise.noise.estimate_sigma`,
#: which reads heavy clipped noise low): white noise clips values within a few σ of 0 or full
#: scale, impulses land anywhere. White noise alone on ramps with an ideal model: none taken up to
#: σ = 75 at 4, from σ = 55 on at 3.5; 1 % of impulses on σ = 25 still found in the 6 benchmark
#: photos, on σ = 50 in 2 (``python runs/s57/beyond_z.py``). Not on a white page (:data:`IMPULSE_FLAT`,
#: :data:`IMPULSE_ROOM`), which reads its strokes as the level.
IMPULSE_BEYOND_NOISE = 4.0
#: ... and their share of an image's values that raises its strength from nothing to 1
IMPULSE_DENSITY = (0.001, 0.006)
#: an image is blocky (JPEG's 8×8 grid) when its pixels step across one phase of the grid this many
#: times as often as across the median phase (clean and blurred photos: 1.00–1.02; JPEG q30: 1.2–3.8)
BLOCKY_RATIO = 1.12
#: grid_blockiness and the drawing test's pixel statistics read at most this many rows and columns
#: (a centre crop, on the image's grid)
BLOCKINESS_CROP = 1024


def check_strength(value: object) -> float | str:
    """A valid ``strength``: ``"auto"`` or a number in ``[0, 1]`` (as a float; also a 0-d real
    torch tensor or numpy array, as a sampled value often is); anything else raises ``ValueError``
    naming it."""
    if isinstance(value, str) and value == "auto":  # (not `value == "auto"`: numpy arrays compare elementwise)
        return "auto"
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_complex() and value.dtype != torch.bool:
        value = value.detach().item()
    elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"strength must be a number in [0, 1] or 'auto', got {value!r}")
    return float(value)


@dataclass(frozen=True)
class StrengthRule:
    """Per-image strength from what the model removed (see the module docstring).

    Args:
        a, b: ``s = clip(a + b·ln(σ_r + 0.1), 0, 1)``, ``σ_r`` in 8-bit units.
        k: ``s = 1`` where the input's :func:`~cvdenoise.noise.estimate_sigma` is below
            ``k·σ_r`` (blurred or blocky inputs keep the full output).

    Example:
        >>> rule = StrengthRule(a=0.3, b=0.44, k=0.3)
        >>> x = torch.rand(2, 3, 32, 32)
        >>> rule(x, x).shape  # nothing removed: s = clip(0.3 + 0.44·ln 0.1) = 0
        torch.Size([2])
    """

    a: float
    b: float
    k: float = 0.3

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.a, self.b, self.k)) or self.b < 0 or self.k < 0:
            raise ValueError(f"StrengthRule needs finite a, and b, k >= 0; got {self}")

    def strength_for(self, removed_sigma: torch.Tensor, input_sigma: torch.Tensor) -> torch.Tensor:
        """``(B,)`` strengths in ``[0, 1]`` for ``(B,)`` residual and input noise levels (8-bit units)."""
        s = (self.a + self.b * torch.log(removed_sigma + 0.1)).clamp(0.0, 1.0)
        return torch.where(input_sigma < self.k * removed_sigma, torch.ones_like(s), s)

    def __call__(self, noisy: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32 strengths for ``(B,C,H,W)`` float images in ``[0,1]`` (input, plain model output).

        A clean drawing (:func:`is_drawing`: black and white, or on a few exactly flat colours
        in thin strokes — text, line art, a screen capture, a chart) gets ``0``: what the model
        removed there is the strokes' anti-aliasing, not noise.
        """
        x, y = subsample_blocks(noisy.float()), subsample_blocks(denoised.float())
        removed = residual_sigma(x, y)
        assert isinstance(removed, torch.Tensor)  # (B,) for a batch
        level = estimate_sigma(x) if x.shape[-1] >= 2 and x.shape[-2] >= 2 else torch.zeros_like(removed)
        assert isinstance(level, torch.Tensor)
        level = level.to(removed.device)
        # a level of exactly 0 reads "flat or blocky": only an 8×8 block grid makes it a compressed input
        unknown = (level == 0) & (level < self.k * removed)
        if bool(unknown.any()):
            smooth = unknown & (grid_blockiness(noisy).to(removed.device) < BLOCKY_RATIO)
            s = self.strength_for(removed, torch.where(smooth, torch.full_like(level, math.inf), level))
        else:
            s = self.strength_for(removed, level)
        return torch.where(_drawing(x, removed, level, noisy), torch.zeros_like(s), s)

    def to_card(self) -> dict[str, float]:
        """The ``auto_strength`` entry of a model card."""
        return {k: round(v, 4) for k, v in asdict(self).items()}

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> StrengthRule | None:
        """The rule stored in a model card, or ``None`` when it has none."""
        entry = card.get("auto_strength")
        if not entry:
            return None
        try:
            return cls(float(entry["a"]), float(entry["b"]), float(entry.get("k", 0.3)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed auto_strength entry in model card: {entry!r}") from e


def grid_blockiness(x: torch.Tensor, block: int = 8) -> torch.Tensor:
    """``(B,)`` JPEG blockiness of ``(B,C,H,W)`` float images in ``[0, 1]``: the share of steps
    between neighbouring pixels (channel mean) of at least half an 8-bit level, across the
    busiest of the ``block`` phases of a ``block``-pixel grid, over the median phase's share, for
    rows and columns averaged. About ``1`` for an image without such a grid (exactly 1 for one too
    small to read one); flat JPEG blocks change only across their edges. Any grid offset counts (a
    cropped JPEG). A share, not a size, of steps: a few strong edges in one phase (a photo pasted
    on a smooth background) do not make a grid. At most :data:`BLOCKINESS_CROP` rows and columns
    are read: a centre crop."""
    b = len(x)
    luma = _centre_crop(x).float().mean(1)  # (B,h,w)

    def ratio(moved: torch.Tensor) -> torch.Tensor:  # (B, lines, n): whether position i → i + 1 steps
        n = moved.shape[-1] // block * block
        if n < 2 * block:
            return torch.ones(b, device=x.device)
        phases = moved[..., :n].reshape(b, -1, block).float().mean(1)  # (B, block)
        top, med = phases.amax(1), phases.median(1).values
        # a phase half a block from the busiest as busy: a period of 2 or 4 pixels, pixels
        # repeated by a nearest-neighbour upscale, not a block grid (a clean ×2 upscale read as
        # JPEG and was fully denoised: skimage's moon lost most of its fine grain)
        opposite = phases.gather(1, ((phases.argmax(1) + block // 2) % block)[:, None])[:, 0]
        periodic = opposite - med > 0.5 * (top - med)
        return torch.where(periodic, torch.ones_like(top), top / med.clamp_min(1e-3))

    step = 0.5 / 255
    across_columns = (luma[..., 1:] - luma[..., :-1]).abs() > step
    across_rows = ((luma[:, 1:] - luma[:, :-1]).abs() > step).transpose(1, 2)
    return (ratio(across_columns) + ratio(across_rows)) / 2


def is_drawing(noisy: torch.Tensor, removed_sigma: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: which images of ``(B,C,H,W)`` float ``noisy`` in ``[0,1]`` are clean
    drawings — text, line art, a screen capture, a chart — given what a model removed from each
    (``removed_sigma``, :func:`~cvdenoise.noise.residual_sigma`, 8-bit units). Either black and
    white: under :data:`DRAWING_SHARE` of their values strictly inside ``(0, 1)`` and a
    finest-scale level over :data:`DRAWING_RATIO` times ``removed_sigma`` (noise moves most values
    off 0 and full scale). Or on a few flat colours, whatever they are: at least
    :data:`FLAT_SHARE` of the 2×2 blocks exactly flat (:func:`flat_share`; noise of one level
    leaves almost none), :data:`PALETTE_SHARE` of each channel's values among its
    :data:`PALETTE_COLOURS` most common ones (:func:`palette_share`: not a smooth gradient
    compressed to flat JPEG blocks) and under :data:`DRAWING_EXTREMA` of the other pixels local
    extrema (anti-aliased strokes, not noise or a photo on a flat field; read on a centre crop of
    at most :data:`BLOCKINESS_CROP` pixels a side) and under :data:`DRAWING_STEPS` of the
    neighbouring flat blocks a small step apart (no smooth gradient, clean or compressed to flat
    JPEG blocks) and under :data:`DRAWING_SPREAD` of the other pixels more than 2 pixels from a flat
    block (sharp: not blurred or JPEG-compressed, which the model sharpens or deblocks). What a
    model removes there is the strokes' anti-aliasing, not noise."""
    x = subsample_blocks(noisy.float())
    level = estimate_sigma(x) if x.shape[-1] >= 2 and x.shape[-2] >= 2 else torch.zeros(len(x))
    assert isinstance(level, torch.Tensor)
    return _drawing(x, removed_sigma, level.to(removed_sigma.device), noisy)


def flat_share(x: torch.Tensor) -> torch.Tensor:
    """``(B,)`` share of the ``2×2`` pixel blocks of ``(B,C,H,W)`` images (on the even grid) whose
    four values are exactly equal in every channel: the flat background of a drawing or a screen
    capture. Noise, even of one 8-bit level, leaves almost none (0.01 at σ = 1 on a white page,
    channels independent); photographs have few (0–0.2 clean, up to about 0.5 heavily
    JPEG-compressed). ``0`` for an image under 2 pixels across."""
    flat = flat_blocks(x)
    if not flat[0].numel():
        return torch.zeros(len(x), device=x.device)
    return flat.flatten(1).float().mean(1)


def _centre_crop(x: torch.Tensor) -> torch.Tensor:
    """The centre of ``(B,C,H,W)`` images, at most :data:`BLOCKINESS_CROP` pixels a side (a view)."""
    h, w = x.shape[-2:]
    y0, x0 = max(0, (h - BLOCKINESS_CROP) // 2), max(0, (w - BLOCKINESS_CROP) // 2)
    return x[..., y0 : y0 + BLOCKINESS_CROP, x0 : x0 + BLOCKINESS_CROP]


def _extrema_share(crop: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``(B,)`` share of the pixels of ``(B,C,H,W)`` float images outside exactly flat 2×2 blocks
    (``flat``: their :func:`~cvdenoise.noise.flat_pixels`) that are strict local extrema of the
    channel mean (above or below all four neighbours, which are not all equal: a lone dot on a
    flat field is no noise): few along anti-aliased strokes, about 0.2–0.4 in noise or a photograph."""
    if crop.shape[-1] < 3 or crop.shape[-2] < 3:
        return torch.zeros(len(crop), device=crop.device)
    luma = crop.mean(1)
    c = luma[:, 1:-1, 1:-1]
    sides = (luma[:, :-2, 1:-1], luma[:, 2:, 1:-1], luma[:, 1:-1, :-2], luma[:, 1:-1, 2:])
    peak = (c > sides[0]) & (c > sides[1]) & (c > sides[2]) & (c > sides[3])
    pit = (c < sides[0]) & (c < sides[1]) & (c < sides[2]) & (c < sides[3])
    dot = (sides[0] == sides[1]) & (sides[1] == sides[2]) & (sides[2] == sides[3])  # a lone dot on a flat field
    off = ~flat[:, 0, 1:-1, 1:-1]
    return ((peak | pit) & ~dot & off).flatten(1).sum(1).float() / off.flatten(1).sum(1).clamp_min(1).float()


def _spread_share(flat: torch.Tensor) -> torch.Tensor:
    """``(B,)`` share of the pixels outside exactly flat 2×2 blocks (``flat``: ``(B,1,H,W)``
    :func:`~cvdenoise.noise.flat_pixels`) that lie more than 2 pixels from any flat one:
    anti-aliased strokes are 1–2 pixels wide, blurred or JPEG-compressed ones wider."""
    near = torch.nn.functional.max_pool2d(flat.float(), 5, stride=1, padding=2) > 0
    off = ~flat
    return (off & ~near).flatten(1).sum(1).float() / off.flatten(1).sum(1).clamp_min(1).float()


def _stepped_share(x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``(B,)`` share of the pairs of side-by-side flat blocks (``flat``: :func:`flat_blocks` of
    ``x``) whose values differ by a small step, 1–10 8-bit levels in some channel."""
    a = x[..., : flat.shape[-2] * 2 : 2, : flat.shape[-1] * 2 : 2]
    small = pairs = torch.zeros(len(x), device=x.device)
    for d in (-1, -2):  # across columns, then across rows
        step = (a.narrow(d, 1, a.shape[d] - 1) - a.narrow(d, 0, a.shape[d] - 1)).abs().amax(1)
        both = flat.narrow(d, 1, flat.shape[d] - 1) & flat.narrow(d, 0, flat.shape[d] - 1)
        small = small + (both & (step > 0.5 / 255) & (step < 10.5 / 255)).flatten(1).sum(1)
        pairs = pairs + both.flatten(1).sum(1)
    return small / pairs.clamp_min(1)


def palette_share(x: torch.Tensor, colours: int = PALETTE_COLOURS) -> torch.Tensor:
    """``(B,)`` share of the values of ``(B,C,H,W)`` images that equal one of the ``colours`` most
    common values of their channel, the least such share over the channels: near 1 for a drawing
    on a few flat colours (the benchmark's text pages, screen capture and chart: 0.86–0.98 with
    four colours), low for a photograph (0.05–0.2 with four) and for a smooth gradient (its many
    levels)."""
    b, c = x.shape[:2]
    flat = x.reshape(b * c, -1)
    if not flat.shape[1]:
        return torch.zeros(b, device=x.device)
    # run lengths of each row's sorted values, all rows at once (no per-row host sync on a GPU)
    ordered = flat.sort(dim=1).values
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = starts.cumsum(1) - 1  # (rows, N): the index of each value's run
    counts = torch.zeros_like(run).scatter_add_(1, run, torch.ones_like(run))
    share = counts.topk(min(colours, flat.shape[1]), dim=1).values.sum(1).float() / flat.shape[1]
    return share.reshape(b, c).amin(1)


def _drawing(x: torch.Tensor, removed: torch.Tensor, level: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """is_drawing on ``x`` (the :func:`~cvdenoise.noise.subsample_blocks` of ``full``)."""
    inside = ((x > 0) & (x < 1)).flatten(1).float().mean(1).to(removed.device)
    drawing = (inside < DRAWING_SHARE) & (level > DRAWING_RATIO * removed)  # black and white
    flat = (flat_share(x) >= FLAT_SHARE).to(removed.device) & ~drawing  # a few flat colours ...
    if bool(flat.any()):  # the pixel statistics, on a full-resolution centre crop of those images
        crop = _centre_crop(full)[flat.to(full.device)].float()
        crop_blocks = flat_blocks(crop)
        pixels = flat_pixels(crop, crop_blocks)
        strokes = _extrema_share(crop, pixels) < DRAWING_EXTREMA  # ... in strokes, not noise
        unstepped = _stepped_share(crop, crop_blocks) < DRAWING_STEPS  # ... no gradient
        sharp = _spread_share(pixels) < DRAWING_SPREAD  # ... not blurred or JPEG
        drawing[flat] = ((palette_share(x[flat.to(x.device)]).to(crop.device) >= PALETTE_SHARE)
                         & strokes & unstepped & sharp).to(removed.device)
    return drawing


def impulse_mask(noisy: torch.Tensor, denoised: torch.Tensor, moved: float = IMPULSE_MOVED,
                 alike: float = IMPULSE_ALIKE, beyond_noise: float = IMPULSE_BEYOND_NOISE) -> torch.Tensor:
    """Salt-and-pepper noise in ``noisy``: a bool ``(B,C,H,W)`` mask of the values at 0 or at full
    scale (1.0, or beyond for unclipped floats) that the model moved by more than ``moved`` and
    that differ by more than ``alike`` from each of their 8 neighbours in that channel, in the
    images that hold such noise.

    Isolated values only: the core of text, a 1-pixel line or a highlight on a cup rim has a
    neighbour nearly as dark or bright and is never taken for noise. And only images that hold
    salt *and* pepper, at about the same density where each can be seen (salt where values are
    more than ``alike`` — or a quarter of the range — below full scale, pepper where they are as
    far above 0),
    scattered as noise is (they fill at least half the rows and columns that as many random
    points would: a regular pattern of lights and specks does not), in all at least a quarter of the
    ramp's start (:data:`IMPULSE_DENSITY`), and that are no black-and-white drawings (at least
    :data:`DRAWING_SHARE` of their values strictly inside ``(0, 1)``, or a page:
    :data:`IMPULSE_FLAT` of its 2×2 blocks flat, :func:`flat_share`): one-pixel stars or lights
    on a dark scene, a dithered or bilevel image are left to the strength rule. A page that is
    mostly white shows pepper only — salt hides in the thin strokes — so there pepper is enough
    where salt has under :data:`IMPULSE_ROOM` of the values to show on, if pepper is found at the
    higher rate (scattered too: a dot grid is not); on a black page lone white points may be stars,
    and salt alone never counts.

    Heavy white noise clips values too, isolated ones the model moves: an image counts only if it
    passes these tests also with just the values moved by more than ``beyond_noise`` times its noise
    level (:func:`~cvdenoise.noise.estimate_sigma`, which skips clipped blocks; never less than
    ``moved``), since clipped noise lies within a few σ of its clean value and impulses anywhere.
    The distance is read from the median of the model output around each value (where the model
    left a gray dot it moved the value itself less). Then all its values found with ``moved`` are
    in the mask. Images under 2 pixels on a side have no noise level, and a white page (at least
    :data:`IMPULSE_FLAT` of its 2×2 blocks flat, under :data:`IMPULSE_ROOM` of its values off
    white) reads its strokes as one: there the test is skipped.

    Args:
        noisy: ``(B,C,H,W)`` float input in ``[0,1]`` (C in 1, 3, 4; no NaN: the noise level's
            checks, :func:`~cvdenoise.noise.estimate_sigma`, raise ``ValueError``).
        denoised: the plain model output for it, same shape.
        beyond_noise: that multiple of the noise level (``0``: no such test).
    """
    mask = torch.zeros_like(noisy, dtype=torch.bool)
    mask[tuple(_impulses_at(noisy, denoised, moved, alike, beyond_noise).unbind(1))] = True
    return mask


def _impulses_at(noisy: torch.Tensor, denoised: torch.Tensor, moved: float = IMPULSE_MOVED,
                 alike: float = IMPULSE_ALIKE, beyond_noise: float = IMPULSE_BEYOND_NOISE) -> torch.Tensor:
    """:func:`impulse_mask` as the ``(N, 4)`` indices (batch, channel, row, column) of its values."""
    mask = (noisy >= 1) | (noisy <= 0)
    for i in range(len(noisy)):  # plane by plane: one plane of temporaries, however large the image
        for ch in range(noisy.shape[1]):
            mask[i, ch] &= (denoised[i, ch] - noisy[i, ch]).abs_() > moved
    at = mask.nonzero()  # (N, 4): few, so the neighbours are looked up where they matter only
    if not len(at):
        return at
    if beyond_noise > 0 and min(noisy.shape[-2:]) >= 2:  # the tests on the values moved beyond the noise first
        b, c, y, x = at.unbind(1)
        sub = subsample_blocks(noisy)
        level = estimate_sigma(sub)
        assert isinstance(level, torch.Tensor)  # (a batch: one per image)
        # a white page (flat blocks, little room for salt) reads its strokes as the level; not a photo's
        # flat black or white areas (borders, clipped highlights), which estimate_sigma leaves out anyway
        white_page = (flat_share(sub) >= IMPULSE_FLAT) & (_room(sub.flatten(1), 1 - alike, below=True) < IMPULSE_ROOM)
        level[white_page.to(level.device)] = 0.0
        far = (beyond_noise * level.to(noisy.device) / 255).clamp_min(moved)
        sure = torch.zeros(len(noisy), dtype=torch.bool, device=noisy.device)
        # (from the output around each: where the model left a gray dot, it moved the value itself less)
        beyond = at[(_neighbour_median(denoised, at) - noisy[b, c, y, x]).abs() > far[b]]
        sure[beyond[_isolated_noise(noisy, beyond, alike), 0]] = True
        at = at[sure[at[:, 0]]]
    return at[_isolated_noise(noisy, at, alike)]


def _isolated_noise(noisy: torch.Tensor, at: torch.Tensor, alike: float) -> torch.Tensor:
    """:func:`impulse_mask`'s tests after the model's move: ``(N,)`` bool, which of the candidate values
    at ``at`` ``(N, 4)`` (batch, channel, row, column) are impulse noise."""
    b, c, y, x = at.unbind(1)
    v = noisy[b, c, y, x]
    h, w = noisy.shape[-2:]
    keep = torch.ones_like(v, dtype=torch.bool)
    if not len(at):
        return keep
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:  # a neighbour inside the image nearly as dark/bright: a line or a speck, no noise
                ny, nx = y + dy, x + dx
                inside_image = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
                near = noisy[b, c, ny.clamp(0, h - 1), nx.clamp(0, w - 1)]
                keep &= ~(inside_image & ((near - v).abs() <= alike))
    salt = torch.bincount(b[keep & (v >= 1)], minlength=len(noisy)).float()  # per image
    pepper = torch.bincount(b[keep & (v <= 0)], minlength=len(noisy)).float()
    found = (salt + pepper) / max(1, noisy[0].numel())
    if not bool((found >= IMPULSE_DENSITY[0] / 4).any()):  # too few anywhere (the tests below cost more)
        return torch.zeros_like(keep)
    sub = subsample_blocks(noisy)  # the image's shares, read on a grid of blocks
    part = sub.flatten(1)

    def rates(margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Salt and pepper per value where each can show — salt on values more than ``margin``
        below full scale, pepper on values more than ``margin`` above 0 — and salt's room."""
        salt_room, pepper_room = _room(part, 1 - margin, below=True), _room(part, margin, below=False)
        return (salt / (salt_room * noisy[0].numel()).clamp_min(1),
                pepper / (pepper_room * noisy[0].numel()).clamp_min(1), salt_room)

    inside = ((part > 0) & (part < 1)).float().mean(1)
    page = flat_share(sub) >= IMPULSE_FLAT
    # where each kind shows lies between `alike` (its isolation test: a dark-gray page shows pepper)
    # and a quarter of the range (the model must move it too: on a dark sky it hardly moves pepper)
    salt_rate, pepper_rate, salt_room = rates(alike)
    quarter_salt, quarter_pepper, _ = rates(0.25)
    both = (torch.minimum(salt, pepper) >= 2) & (
        (torch.minimum(salt_rate, pepper_rate) >= 0.25 * torch.maximum(salt_rate, pepper_rate))
        | (torch.minimum(quarter_salt, quarter_pepper) >= 0.25 * torch.maximum(quarter_salt, quarter_pepper)))
    # a mostly white page shows pepper only, at the higher rate: salt hides in its thin strokes (on a
    # black page lone white points may be stars: salt alone is never enough)
    one_kind = page & (salt_room < IMPULSE_ROOM) & (pepper_rate >= salt_rate) & (pepper >= IMPULSE_PAGE_VALUES)
    noise = (both | one_kind) & ((inside >= DRAWING_SHARE) | page) & (found >= IMPULSE_DENSITY[0] / 4)
    if bool(noise.any()):  # and scattered, as noise is: a grid of dots, lights or specks fills few rows and columns
        pixel = torch.unique((b[keep] * h + y[keep]) * w + x[keep])  # one point per pixel, whatever its channels
        pb, py, px = pixel // (h * w), pixel // w % h, pixel % w
        noise &= _scattered(pb, py, len(noisy), h) & _scattered(pb, px, len(noisy), w)
    return keep & noise[b]


def _room(part: torch.Tensor, level: float, below: bool) -> torch.Tensor:
    """``(B,)``: the share of each image's values ``(B, N)`` below ``level`` (where salt can show) or,
    with ``below=False``, above it (where pepper can)."""
    return ((part < level) if below else (part > level)).float().mean(1)


def _scattered(image: torch.Tensor, line: torch.Tensor, batch: int, lines: int) -> torch.Tensor:
    """``(B,)`` bool: whether the points on rows (or columns) ``line`` of each image fill at least
    half as many of its ``lines`` rows (columns) as as many points placed at random would."""
    found = torch.bincount(image, minlength=batch).float()
    filled = torch.zeros(batch, lines, dtype=torch.bool, device=line.device)
    filled[image, line] = True
    expected = lines * (1 - (1 - 1 / lines) ** found)
    return filled.sum(1).float() >= 0.5 * expected


def auto_blend(
    noisy: torch.Tensor, denoised: torch.Tensor, strength: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``noisy + s·(denoised − noisy)`` per image, with impulse noise taken out whole.

    The :func:`impulse_mask` values get the median of the model output's 3×3 neighbourhood (the
    model alone left a gray dot at a third of them), and each image's strength is raised to at
    least the ramp of their share over :data:`IMPULSE_DENSITY`. An image with letterbox bars
    (:func:`~cvdenoise.noise.border_bands`) is read as the picture between them alone; the bars get
    the plain blend.

    Args:
        noisy: ``(B,C,H,W)`` float input in ``[0,1]``.
        denoised: the plain model output for it, same shape.
        strength: ``(B,)`` strengths in ``[0, 1]`` (a rule's or a gate's).

    Returns:
        the output ``(B,C,H,W)`` (``denoised`` itself where every strength is 1 and no impulse was
        found, else a new tensor), the strengths used ``(B,)`` and the impulses found per image
        ``(B,)``.
    """
    strength = strength.to(noisy.device, torch.float32)
    bands = _border_bands(noisy)
    if not bool(bands.any()):
        return _auto_blend_whole(noisy, denoised, strength)
    out = mix(noisy, denoised, strength)
    out = out.clone() if out is denoised else out  # (the caller's tensor is left as it is)
    used, found = strength.clone(), torch.zeros(len(noisy), dtype=torch.int64, device=noisy.device)
    for idx, rows, cols in band_pictures(bands, *noisy.shape[-2:]):
        out[idx, :, rows, cols], used[idx], found[idx] = _auto_blend_whole(
            noisy[idx, :, rows, cols], denoised[idx, :, rows, cols], strength[idx])
    return out, used, found


def _auto_blend_whole(
    noisy: torch.Tensor, denoised: torch.Tensor, strength: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`auto_blend` of images without bars (``strength`` float32 on ``noisy``'s device)."""
    at = _impulses_at(noisy, denoised)
    found = torch.bincount(at[:, 0], minlength=len(noisy))
    lo, hi = IMPULSE_DENSITY
    share = found.float() / max(1, math.prod(noisy.shape[1:]))
    s = torch.maximum(strength, ((share - lo) / (hi - lo)).clamp(0.0, 1.0))
    out = mix(noisy, denoised, s)
    if len(at):
        out = out.clone() if out is denoised else out  # (the caller's tensor is left as it is)
        out[tuple(at.unbind(1))] = _neighbour_median(denoised, at)
    return out, s, found


def _neighbour_median(x: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """The median of the 3×3 neighbourhood (the value itself among the nine; the edge repeated
    beyond the image) of each value of ``(B,C,H,W)`` ``x`` at the ``(N, 4)`` indices ``at``, in their order."""
    b, c, y, x0 = at.unbind(1)
    h, w = x.shape[-2:]
    around = [x[b, c, (y + dy).clamp(0, h - 1), (x0 + dx).clamp(0, w - 1)] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return torch.stack(around, 1).median(1).values


def mix(noisy: torch.Tensor, denoised: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """``noisy + s·(denoised − noisy)`` per image of ``(B,C,H,W)`` for ``(B,)`` strengths, in
    ``[0, 1]`` (a float input may stray a little outside it): ``denoised`` itself where every
    strength is 1, else a new tensor."""
    if bool((strength == 1).all()):
        return denoised
    return torch.lerp(noisy, denoised, strength.to(noisy.device, noisy.dtype).view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
