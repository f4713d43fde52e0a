"""Blind noise-level estimation (for gating clean frames and reporting).

:func:`estimate_sigma` is the robust median-absolute-deviation estimator of Donoho & Johnstone
applied to the finest diagonal Haar wavelet band: ``σ ≈ median(|HH|) / 0.6745``. The HH band of
a natural image is mostly noise, and the median ignores the few edge coefficients. It needs no
model, but it sees only the finest scale: a camera's demosaiced noise, correlated between
neighbouring pixels, reads at about 0.4 of its standard deviation.

:func:`residual_sigma` measures what a denoiser removed instead (the same robust estimate on
``noisy − denoised``): it reads correlated camera noise at 0.7–0.8 of its standard deviation,
white noise at about 0.9, and clean or JPEG-compressed photos at about 1 level, which is what
:class:`cvdenoise.FrameFilter`'s gate uses (``python benchmarks/gate.py`` compares the two).

Both skip pixels the input holds at the ends of its range (0 or full scale): there the noise was
clipped away, and an image that is mostly black or white (a night frame, a silhouette, a scan)
would otherwise read as clean however noisy its other pixels are.

:func:`noise_profile` describes the *kind* of noise as well (:class:`NoiseProfile`): whether it
is white (the next-coarser Haar band holds no more than the finest), independent between the
colour channels, and the same in dark and bright parts. Additive white Gaussian noise is all
three; a camera's demosaiced noise is not white, JPEG-compressed noise is correlated between
channels (chroma subsampling), and low-light shot noise grows in the shadows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar, overload

import numpy as np
import PIL.Image
import torch

from ._checks import check_float_range, check_tensor_kind, image_bchw, image_hwc, low_bit_message, low_bit_uint16
from ._warn import user_stacklevel

_T = TypeVar("_T")

__all__ = ["GateReading", "NoiseProfile", "band_pictures", "border_bands", "estimate_sigma", "noise_profile", "residual_sigma", "subsample_blocks"]

_MAD_TO_SIGMA = 1.0 / 0.6745

#: how far float images may stray outside ``[0, 1]`` (unclipped synthetic noise); 0–255 floats are refused
UNCLIPPED_TOL = 0.5

#: residual_sigma leaves exactly flat 2×2 blocks out of images with at least this share of them
FLAT_MAJORITY = 0.5

#: border bands (:func:`border_bands`) are read as bars only where they leave at least this many rows and columns
MIN_CONTENT = 16
#: ... and where each is at least this many rows or columns wide ...
MIN_BAR = 8
#: ... and this share of the height or width
MIN_BAR_SHARE = 0.01

#: pixels per channel the noise statistics read at most (pixel blocks on a regular grid beyond it)
MAX_PIXELS = 1 << 16


def subsample_blocks(x: torch.Tensor, max_pixels: int = MAX_PIXELS, block: int = 2) -> torch.Tensor:
    """``(B,C,H,W)`` → ``(B,C,h,w)`` made of the image's ``block×block`` pixel blocks on a regular
    grid, at most about ``max_pixels`` per channel (``x`` itself when it is small enough).

    Whole blocks are kept, so neighbouring pixels stay neighbours at offsets that are multiples of
    ``block`` and the Haar bands read the same noise as on the full image (``block=2`` for the
    finest band, ``4`` for the next one too).
    """
    b, c, h, w = x.shape
    h2, w2 = h // block * block, w // block * block
    nby, nbx = h2 // block, w2 // block
    if h * w <= max_pixels or not (nby and nbx):  # small, or thinner than a block: the caller decides
        return x
    step = math.ceil(math.sqrt(h * w / max_pixels))
    sy = sx = step  # one stride for both axes ...
    ky, kx = -(-nby // step), -(-nbx // step)
    if ky < 2 or kx < 2 or ky * kx * block * block > max_pixels:
        # ... unless it leaves a strip under 2 blocks across or overshoots the budget (thin
        # images): then the short side keeps 2 blocks (or all it has), the long side the rest
        target = max(1, max_pixels // block**2)

        def steps(n_short: int, n_long: int) -> tuple[int, int]:
            s_short = max(1, min(step, n_short // 2))
            return s_short, max(1, math.ceil(n_long / max(1, target // math.ceil(n_short / s_short))))

        sy, sx = steps(nby, nbx) if nby <= nbx else steps(nbx, nby)[::-1]
    blocks = x[..., :h2, :w2].reshape(b, c, nby, block, nbx, block)[:, :, ::sy, :, ::sx, :]
    return blocks.reshape(b, c, blocks.shape[2] * block, blocks.shape[4] * block)


@dataclass(frozen=True)
class NoiseProfile:
    """What kind of noise an image holds (:func:`noise_profile`).

    Attributes:
        sigma: noise standard deviation from the finest diagonal Haar band, 8-bit units
            (:func:`estimate_sigma`).
        channel_corr: robust correlation of that band between the colour channels, averaged over
            the channel pairs: about 0 for noise drawn per channel, near 1 after JPEG's chroma
            subsampling or for one noise shared by all channels; 0 for one channel.
        whiteness: σ of the next-coarser diagonal Haar band over σ of the finest: about 1 for
            white noise, 2–4 for a camera's demosaiced (spatially correlated) noise, large for
            clean, blurred or compressed images, whose finest band holds little (``inf`` for a
            flat image, which holds nothing there).
        level_ratio: σ of the finest band in the brightest quarter of the image (by local
            mean) over σ in the darkest quarter, blocks with clipped pixels left out: about 1
            for noise that does not depend on the signal.
    """

    sigma: float
    channel_corr: float
    whiteness: float
    level_ratio: float


@overload
def estimate_sigma(image: np.ndarray | PIL.Image.Image) -> float: ...
@overload
def estimate_sigma(image: torch.Tensor) -> float | torch.Tensor: ...
def estimate_sigma(image: np.ndarray | torch.Tensor | PIL.Image.Image) -> float | torch.Tensor:
    """Noise standard deviation of an image, in 8-bit units (0–255 scale).

    Args:
        image: numpy ``(H,W)`` / ``(H,W,C)`` (uint8, uint16 or float in ``[0,1]``), a torch
            tensor ``(C,H,W)`` / ``(B,C,H,W)`` (same dtypes), or a PIL image of a mode in
            :data:`cvdenoise.denoiser.PIL_MODES`.

    Returns:
        a float for numpy input and for ``(C,H,W)`` tensors, a ``(B,)`` tensor for batches.
        Channels are estimated separately and averaged.

    Limits (the median absolute finest-scale Haar coefficient, over 2×2 blocks without a clipped
    pixel, outside letterbox bars: :func:`border_bands`): on 8-bit data the reading moves in steps
    of about 0.74 levels (light noise of σ ≲ 3 reads up to a quarter off; a clean smooth image
    reads 0 or 0.74); near black or white the blocks kept are those of the smaller noise draws, so
    it reads 25–40 % low at levels ≲ 30 or ≳ 230; on a mostly flat image with a small noisy part it reads the flat majority (0), where
    :func:`residual_sigma` reads the noisy part; fine texture at the finest scale (grass,
    foliage, gravel) reads as noise: a clean ``grass`` photo of scikit-image reads about 12, and 2
    or 5 levels of noise added to it read 12–13.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> flat = np.full((128, 128), 0.5) + rng.normal(0, 10 / 255, (128, 128))
        >>> round(estimate_sigma(flat.astype(np.float32)))
        10
    """
    x, batched = _as_float_batch(image)
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"image too small or malformed for noise estimation: {_shape_of(image)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    _, hh = _haar_ll_hh(x)
    unclipped = _blocks_unclipped(x) & ~_in_bands(x)[..., 0::2, 0::2]  # 2×2 blocks without a clipped pixel, per channel,
    # outside letterbox bars (band widths are counted in whole rows: a block on a band's inner edge is kept)
    sigma = _masked_median(hh.abs(), unclipped).mean(1) * _MAD_TO_SIGMA * 255.0
    return sigma if batched else float(sigma[0])


@overload
def residual_sigma(noisy: np.ndarray | PIL.Image.Image, denoised: np.ndarray | torch.Tensor | PIL.Image.Image) -> float: ...
@overload
def residual_sigma(noisy: torch.Tensor, denoised: np.ndarray | torch.Tensor | PIL.Image.Image) -> float | torch.Tensor: ...
def residual_sigma(noisy: np.ndarray | torch.Tensor | PIL.Image.Image,
                   denoised: np.ndarray | torch.Tensor | PIL.Image.Image) -> float | torch.Tensor:
    """Noise standard deviation that a denoiser removed, in 8-bit units (0–255 scale).

    The robust (median absolute deviation) standard deviation of ``noisy − denoised``, per
    channel, averaged, over the pixels of ``noisy`` that can hold noise: not clipped (at 0 or
    full scale), not in letterbox bars (:func:`border_bands`) and, in an image at least
    :data:`FLAT_MAJORITY` of whose 2×2 blocks are exactly flat, not in those (a flat background, which a model leaves alone: a noisy thumbnail on a
    flat page would otherwise read as clean), unless no pixel is left. Give it float images (a
    denoiser's float output) rather than rounded integers: rounding quantises the median to
    steps of 1.5 levels.

    Args:
        noisy: as :func:`estimate_sigma`.
        denoised: the denoiser's output for ``noisy``, same shape (any accepted dtype).

    Returns:
        a float, or a ``(B,)`` tensor for ``(B,C,H,W)`` batches.
    """
    x, batched = _named(_as_float_batch, noisy, "noisy")
    y, _ = _named(_as_float_batch, denoised, "denoised")
    if x.shape != y.shape:
        raise ValueError(f"noisy and denoised differ in shape: {_shape_of(noisy)} vs {_shape_of(denoised)}")
    r = x - y.to(x.device)
    keep = _unclipped(x) & ~_in_bands(x)
    blocks = flat_blocks(x)
    if blocks[0].numel():  # mostly flat (a thumbnail on a page): read the rest, where noise can be
        detail = keep & ~flat_pixels(x, blocks)
        mostly_flat = blocks.flatten(1).float().mean(1) >= FLAT_MAJORITY
        keep = torch.where((mostly_flat & detail.flatten(1).any(1))[:, None, None, None], detail, keep)
    med = _masked_median(r, keep)
    mad = _masked_median((r - med[..., None, None]).abs(), keep)
    sigma = mad.mean(1) * _MAD_TO_SIGMA * 255.0
    return sigma if batched else float(sigma[0])


@overload
def noise_profile(image: np.ndarray | PIL.Image.Image) -> NoiseProfile: ...
@overload
def noise_profile(image: torch.Tensor) -> NoiseProfile | list[NoiseProfile]: ...
def noise_profile(image: np.ndarray | torch.Tensor | PIL.Image.Image) -> NoiseProfile | list[NoiseProfile]:
    """The :class:`NoiseProfile` of an image (a list of them for a ``(B,C,H,W)`` batch).

    Reads at most about :data:`MAX_PIXELS` pixels per channel (4×4 blocks on a grid, taken
    before any dtype conversion), so its cost does not grow with the image size.

    Args:
        image: as :func:`estimate_sigma`; at least 8×8 pixels.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> flat = np.full((128, 128, 3), 0.5) + rng.normal(0, 20 / 255, (128, 128, 3))
        >>> p = noise_profile(flat.astype(np.float32))
        >>> round(p.sigma), abs(p.channel_corr) < 0.1, 0.8 < p.whiteness < 1.2
        (20, True, True)
    """
    x, batched = _as_float_batch(image, block=4)  # subsampled before the float conversion
    if x.shape[-1] < 8 or x.shape[-2] < 8:
        raise ValueError(f"image too small for a noise profile (needs 8×8): {_shape_of(image)}")
    h, w = x.shape[-2] // 4 * 4, x.shape[-1] // 4 * 4
    x = x[..., :h, :w]
    ll, hh = _haar_ll_hh(x)
    _, hh2 = _haar_ll_hh(ll)
    lum = ll.mean(1).flatten(1)  # (B, N) local means (×2)
    bars = _in_bands(x)[:, 0]  # (B, H, W): letterbox bars hold no noise
    unclipped = (_blocks_unclipped(x).all(1) & ~bars[:, 0::2, 0::2]).flatten(1)  # (B, N): no channel clipped, no bar
    coarse = ~bars[:, 0::4, 0::4].flatten(1)  # (B, N/4): the second level's blocks outside bars
    out = []
    for i in range(x.shape[0]):
        h1 = hh[i].flatten(1)  # (C, N)
        keep = unclipped[i]
        if int(keep.sum()) < 64:  # nearly all clipped: read the whole band
            keep = torch.ones_like(keep)
        hk = h1[:, keep]
        s1 = _mad(hk)  # (C,)
        s2 = _mad(hh2[i].flatten(1)[:, coarse[i]])
        sigma = float(s1.mean()) * 255.0
        # (no finest-scale signal at all, a flat image: as clean as can be, the large end)
        white = float(s2.mean() / s1.mean()) if float(s1.mean()) > 0 else math.inf
        corr = 0.0
        if len(hk) > 1:
            rs = []
            for a, b in [(0, 1), (1, 2), (0, 2)][: 3 if len(hk) >= 3 else 1]:
                sp, sd = _mad(hk[a] + hk[b]), _mad(hk[a] - hk[b])
                rs.append(float((sp**2 - sd**2) / (sp**2 + sd**2).clamp_min(1e-12)))
            corr = sum(rs) / len(rs)
        idx = keep.nonzero()[:, 0]
        order = idx[lum[i, idx].argsort()]
        q = max(1, order.numel() // 4)
        dark, bright = _mad(h1[:, order[:q]]).mean(), _mad(h1[:, order[-q:]]).mean()
        ratio = float(bright / dark) if float(dark) > 1e-6 else (1.0 if float(bright) <= 1e-6 else math.inf)
        out.append(NoiseProfile(sigma=sigma, channel_corr=corr, whiteness=white, level_ratio=ratio))
    return out if batched else out[0]


@overload
def border_bands(image: np.ndarray | PIL.Image.Image) -> tuple[int, int, int, int]: ...
@overload
def border_bands(image: torch.Tensor) -> tuple[int, int, int, int] | torch.Tensor: ...
def border_bands(image: np.ndarray | torch.Tensor | PIL.Image.Image) -> tuple[int, int, int, int] | torch.Tensor:
    """How many rows at the top and bottom, and columns at the left and right, of an image are
    bars of one exact colour — a letterbox or pillarbox, padding (each row or column of a bar
    holds only the colour of its corner of the image: top and left bars the top-left corner's,
    bottom and right bars the bottom-right corner's).

    A side counts only with at least :data:`MIN_BAR` rows or columns and :data:`MIN_BAR_SHARE` of
    the height or width (a single flat edge row is no bar), and an image
    whose bars would leave fewer than :data:`MIN_CONTENT` rows or columns between them has none
    (an image of nearly one colour). Noise is never exactly constant along a row, so a noisy
    photo's own rows never count; only digital padding does.

    Args:
        image: as :func:`estimate_sigma`.

    Returns:
        ``(top, bottom, left, right)``, or a ``(B, 4)`` int64 tensor for a ``(B,C,H,W)`` batch.

    Example:
        >>> x = torch.full((3, 64, 48), 114 / 255)
        >>> x[:, 10:50, :] = torch.rand(3, 40, 48)
        >>> border_bands(x)
        (10, 14, 0, 0)
    """
    x, batched = _as_float_batch(image)
    bands = _border_bands(x)
    if batched:
        return bands
    top, bottom, left, right = (int(v) for v in bands[0])
    return top, bottom, left, right


def _border_bands(x: torch.Tensor) -> torch.Tensor:
    """:func:`border_bands` of ``(B,C,H,W)`` float images: ``(B, 4)`` int64."""
    b, _, h, w = x.shape
    out = torch.zeros(b, 4, dtype=torch.int64, device=x.device)
    if h == 0 or w == 0:
        return out
    first, last = x[..., :1, :1], x[..., -1:, -1:]
    for side, (dim, corner, from_end) in enumerate(((2, first, False), (2, last, True), (3, first, False), (3, last, True))):
        out[:, side] = _edge_run(x, corner, dim, from_end)
    for sides, n in (((0, 1), h), ((2, 3), w)):  # (too thin for a bar: none)
        least = max(MIN_BAR, math.ceil(MIN_BAR_SHARE * n))
        out[:, sides] = torch.where(out[:, sides] >= least, out[:, sides], torch.zeros_like(out[:, sides]))
    short = (out[:, 0] + out[:, 1] > h - MIN_CONTENT) | (out[:, 2] + out[:, 3] > w - MIN_CONTENT)
    return torch.where(short[:, None], torch.zeros_like(out), out)


def _edge_run(x: torch.Tensor, corner: torch.Tensor, dim: int, from_end: bool) -> torch.Tensor:
    """``(B,)``: how many rows (``dim=2``) or columns (``dim=3``) of ``(B,C,H,W)`` images, counted from
    the first or (``from_end``) the last, hold only the ``(B,C,1,1)`` ``corner``'s colour. Read in
    chunks growing fourfold from the edge, so an image without bars costs one line."""
    n = x.shape[dim]
    run = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    going = torch.ones(len(x), dtype=torch.bool, device=x.device)
    pos, step = 0, 1
    while pos < n and bool(going.any()):
        k = min(step, n - pos)
        seg = x.narrow(dim, n - pos - k if from_end else pos, k)
        line = (seg == corner).all(dim=(1, 3) if dim == 2 else (1, 2))  # (B, k)
        lead = (line.flip(1) if from_end else line).long().cumprod(1).sum(1)
        run += torch.where(going, lead, torch.zeros_like(lead))
        going &= lead == k
        pos, step = pos + k, step * 4
    return run


def band_pictures(bands: torch.Tensor, h: int, w: int) -> list[tuple[slice | list[int], slice, slice]]:
    """The pictures between the ``(B, 4)`` :func:`border_bands` of ``h×w`` images, as ``(images, rows,
    columns)`` indices, one entry per set of images with the same bars (one batch each; ``images`` a
    slice when the bars of every image are the same, so indexing gives a view)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, band in enumerate(bands.tolist()):
        groups.setdefault(tuple(band), []).append(i)
    every: slice | None = slice(None) if len(groups) == 1 else None
    return [(every or idx, slice(top, h - bottom), slice(left, w - right)) for (top, bottom, left, right), idx in groups.items()]


def _in_bands(x: torch.Tensor) -> torch.Tensor:
    """``(B,1,H,W)`` bool: the pixels of ``(B,C,H,W)`` images in their :func:`border_bands`."""
    bands = _border_bands(x)
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device)[None]
    cols = torch.arange(w, device=x.device)[None]
    in_rows = (rows < bands[:, :1]) | (rows >= h - bands[:, 1:2])  # (B, H)
    in_cols = (cols < bands[:, 2:3]) | (cols >= w - bands[:, 3:4])  # (B, W)
    return (in_rows[:, :, None] | in_cols[:, None, :])[:, None]


def _haar_ll_hh(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal Haar low-pass and diagonal bands of ``(B,C,H,W)`` (even ``H, W``)."""
    a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (a - b - c + d) / 2


def flat_blocks(x: torch.Tensor) -> torch.Tensor:
    """``(B, H//2, W//2)`` bool: which ``2×2`` blocks of ``(B,C,H,W)`` images (on the even grid)
    have their four values exactly equal in every channel — a drawing's or a screen's flat
    background; noise, even of one 8-bit level, leaves almost none."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    v = x[..., :h, :w]
    a = v[..., 0::2, 0::2]
    return ((a == v[..., 0::2, 1::2]) & (a == v[..., 1::2, 0::2]) & (a == v[..., 1::2, 1::2])).all(1)


def flat_pixels(x: torch.Tensor, blocks: torch.Tensor | None = None) -> torch.Tensor:
    """``(B,1,H,W)`` bool: the pixels of :func:`flat_blocks` (``blocks``, when already computed;
    a last odd row/column: not flat)."""
    f = (flat_blocks(x) if blocks is None else blocks).repeat_interleave(2, 1).repeat_interleave(2, 2)[:, None]
    return torch.nn.functional.pad(f, (0, x.shape[-1] - f.shape[-1], 0, x.shape[-2] - f.shape[-2]))


def _blocks_unclipped(x: torch.Tensor) -> torch.Tensor:
    """``(B,C,H/2,W/2)``: 2×2 blocks with no pixel at 0 or full scale."""
    u = _unclipped(x)
    return u[..., 0::2, 0::2] & u[..., 0::2, 1::2] & u[..., 1::2, 0::2] & u[..., 1::2, 1::2]


def _mad(v: torch.Tensor) -> torch.Tensor:
    """Robust σ (median absolute value / 0.6745) over the last dimension (0 when empty)."""
    if v.shape[-1] == 0:
        return v.new_zeros(v.shape[:-1])
    return v.abs().median(-1).values * _MAD_TO_SIGMA


def _unclipped(x: torch.Tensor) -> torch.Tensor:
    """Pixels strictly inside ``(0, 1)``: at 0 or 1 any noise was clipped away."""
    return (x > 0) & (x < 1)


def _masked_median(v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Median over ``H, W`` of the kept elements of ``(B,C,H,W)`` ``v`` → ``(B,C)``; 0 where none is kept."""
    m = torch.where(keep, v, torch.full_like(v, float("nan"))).flatten(2).nanmedian(dim=2).values
    return torch.nan_to_num(m, nan=0.0)


def _shape_of(image: np.ndarray | torch.Tensor | PIL.Image.Image) -> tuple[int, ...]:
    """The shape of an array or tensor; a PIL image's ``(H, W[, C])``."""
    if isinstance(image, PIL.Image.Image):
        return (image.height, image.width, *([len(image.getbands())] if len(image.getbands()) > 1 else []))
    return tuple(image.shape)


def _pil_array(image: PIL.Image.Image) -> np.ndarray:
    """The pixels of a PIL image as :class:`cvdenoise.Denoiser` reads them (``LA``: its gray plane)."""
    from .denoiser import pil_pixels

    a = pil_pixels(image)
    return a[..., 0] if image.mode == "LA" else a


def _as_float_batch(image: np.ndarray | torch.Tensor | PIL.Image.Image, block: int | None = None) -> tuple[torch.Tensor, bool]:
    """numpy ``(H,W[,C])`` or tensor ``(C,H,W)``/``(B,C,H,W)`` → float ``(B,C,H,W)`` in [0,1]
    (with ``block``: :func:`subsample_blocks` first, so a large image is never converted whole).

    ``C`` is 1, 3 or 4 (an alpha channel is left out: it holds no noise). Integers must be
    uint8 or uint16; floats finite and in ``[0, 1]``, give or take :data:`UNCLIPPED_TOL` for
    noise that was not clipped (checked on the pixels read). Anything else
    raises ``ValueError``/``TypeError`` naming the problem, as :class:`cvdenoise.Denoiser` does.
    A PIL image of a mode the Denoiser takes is read as the array it holds (``LA``: its gray plane).
    """
    if isinstance(image, PIL.Image.Image):
        image = _pil_array(image)
    if isinstance(image, np.ma.MaskedArray):  # (its masked cells would be read as pixels, NaN refused)
        raise TypeError("a masked array: the noise helpers read every pixel; pass a crop without masked cells "
                        "or image.filled(value)")
    if isinstance(image, np.ndarray):
        a = image_hwc(image)
        if not a.dtype.isnative:  # (big-endian data of FITS and some scientific readers, as the Denoiser takes it)
            a = a.astype(a.dtype.newbyteorder("="))
        if a.dtype not in (np.uint8, np.uint16) and not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"unsupported image dtype {a.dtype}; expected uint8, uint16 or float in [0,1]")
        a = np.ascontiguousarray(a)
        t = torch.from_numpy(a if a.flags.writeable else a.copy()).permute(2, 0, 1)[None]  # (torch warns on read-only memory)
        batched = False
    elif isinstance(image, torch.Tensor):
        check_tensor_kind(image)
        t = image_bchw(image.detach())
        if t.dtype not in (torch.uint8, torch.uint16) and not t.dtype.is_floating_point:
            raise TypeError(f"unsupported tensor dtype {t.dtype}; expected uint8, uint16 or float in [0,1]")
        batched = image.ndim == 4
    else:
        raise TypeError(f"expected a numpy array, torch tensor or PIL image, got {type(image).__name__}")
    if low_bit_uint16(t):  # (after the dtype checks; the whole array's max, before any subsampling)
        warnings.warn(low_bit_message("cvdenoise.noise", effect="is read on the 16-bit scale, so its σ reads up to 16x low"),
                      UserWarning, stacklevel=user_stacklevel())
    if t.shape[1] == 4:
        t = t[:, :3]
    scale = 255.0 if t.dtype == torch.uint8 else 65535.0 if t.dtype == torch.uint16 else None
    if block is not None:
        t = subsample_blocks(t, block=block)
    if scale is None:
        x = t.float()
        check_float_range(x, tol=UNCLIPPED_TOL)
        return x, batched
    return t.float() / scale, batched


def _named(read: Callable[[Any], _T], image: Any, name: str) -> _T:
    """``read(image)``, its ``ValueError``/``TypeError`` prefixed with the argument's ``name``."""
    try:
        return read(image)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{name}: {e}") from e


@dataclass(frozen=True)
class GateReading:
    """How a model's :func:`residual_sigma` reads white noise: ``residual[i]`` is the mean σ it
    removes (8-bit units) from photos under white Gaussian noise of σ ``sigma[i]``.

    A gray model removes less of light noise than a colour one (it reads σ 4 as about 2 where a
    colour model reads about 4), so FrameFilter's gate maps the residual back to the white-noise σ
    it stands for (:meth:`white_sigma`) before its thresholds. Stored in the model card as
    ``gate_reading`` (``python benchmarks/gate.py --calibrate``); a model without one reads 1:1.
    """

    sigma: tuple[float, ...]
    residual: tuple[float, ...]

    def __post_init__(self) -> None:
        s, r = np.asarray(self.sigma, float), np.asarray(self.residual, float)
        if (len(s) < 2 or len(s) != len(r) or not (np.isfinite(s).all() and np.isfinite(r).all())
                or s[0] <= 0 or r[0] <= 0 or (np.diff(s) <= 0).any() or (np.diff(r) <= 0).any()):
            raise ValueError("GateReading needs two or more positive, increasing σ and residual values of one "
                             f"length; got {self}")

    def white_sigma(self, residual: float) -> float:
        """The white-noise σ a residual σ stands for: linear between the points; below the first,
        in proportion to it (0 stays 0); above the last, the last point's offset."""
        s, r = self.sigma, self.residual
        if residual <= r[0]:
            return residual * s[0] / r[0]
        if residual >= r[-1]:
            return residual + s[-1] - r[-1]
        return float(np.interp(residual, r, s))

    def to_card(self) -> dict[str, list[float]]:
        """The ``gate_reading`` entry of a model card."""
        return {"sigma": [round(v, 3) for v in self.sigma], "residual": [round(v, 3) for v in self.residual]}

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> GateReading | None:
        """The reading stored in a model card, or ``None`` when it has none."""
        entry = card.get("gate_reading")
        if not entry:
            return None
        try:
            return cls(tuple(map(float, entry["sigma"])), tuple(map(float, entry["residual"])))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed gate_reading entry in model card: {entry!r}") from e
