"""The degradations of :mod:`cvdenoise.degrade` as batched torch operations (for GPU training).

On a GPU the albumentations chain, run sample by sample in data-loader processes, cannot keep
up with the model: the CPU becomes the bottleneck. :class:`TorchDegrader` draws the same
families with the same probabilities and strength ranges from one
:class:`~cvdenoise.degrade.DegradationConfig`, for a whole ``(B,C,H,W)`` batch at once on the
batch's device — every sample gets its own operations, order and strengths. It is a training
accelerator; :class:`~cvdenoise.degrade.Degrader` stays the reference pipeline (validation
pairs and benchmarks use it).

Operations: Gaussian / Poisson (shot, on linear intensities) + read / speckle / ISO / salt-and-pepper
noise, per channel or shared across channels; camera noise (shot + read noise on a Bayer mosaic,
bilinearly demosaiced); linear-light shot + read noise per pixel (sRGB-decoded, clipped there);
Gaussian, motion and defocus blur (per-sample
kernels in one grouped convolution); down/up-scaling (enlarged bilinear, bicubic or Lanczos); JPEG as the codec's lossy steps
(YCbCr, 4:2:0 chroma subsampling, 8×8 DCT quantised with the IJG tables scaled by quality,
rounding to 8 bit) — entropy coding is lossless and left out.

Example:
    >>> import torch
    >>> from cvdenoise.degrade_torch import TorchDegrader
    >>> clean = torch.full((4, 3, 32, 32), 0.5)
    >>> noisy = TorchDegrader("gaussian25", seed=0)(clean)
    >>> noisy.shape, round(float((noisy - clean).std()) * 255)
    (torch.Size([4, 3, 32, 32]), 25)
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_float_range, is_integer
from .degrade import (
    _CFA_G, _CFA_RB, BLUR_KINDS, GAMMA, LUMA, DegradationConfig, camera_color_matrix, cfa_masks, resolve_config,
)
from .model import reflect_pad

__all__ = ["TorchDegrader", "jpeg", "blur_kernels", "filter2d", "rgb_to_ycbcr", "ycbcr_to_rgb", "srgb_to_linear", "linear_to_srgb",
           "lanczos_resize"]

# IJG (libjpeg) base quantisation tables, Annex K of the JPEG standard
_LUMA_Q = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=torch.float32).view(8, 8)
_CHROMA_Q = torch.tensor([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32, dtype=torch.float32).view(8, 8)


@functools.lru_cache(maxsize=8)
def _cfa_phases(h: int, w: int) -> torch.Tensor:
    """``(4,3,H,W)`` RGGB masks of :func:`cvdenoise.degrade.cfa_masks` at its four phases (built
    once per crop size, not per batch)."""
    return torch.stack([torch.from_numpy(cfa_masks(h, w, dy, dx)).permute(2, 0, 1) for dy in (0, 1) for dx in (0, 1)])


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """Orthonormal 8-point DCT-II matrix ``D`` (``D @ block @ D.T`` transforms a block)."""
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve undone: encoded values (any shape, float in ``[0, 1]``) → linear light."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve: linear light (any shape; clipped to ``[0, 1]``) → encoded values."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(B,3,H,W)`` RGB in ``[0,1]`` → full-range YCbCr (JPEG/BT.601) in ``[0,1]``."""
    r, g, b = x.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 0.5
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 0.5
    return torch.stack([y, cb, cr], 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clipping)."""
    y, cb, cr = x[:, 0], x[:, 1] - 0.5, x[:, 2] - 0.5
    return torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)


def _quant_tables(quality: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """IJG quality scaling: ``(B,)`` qualities in 1..100 → ``(B,1,1,1,8,8)`` tables."""
    q = quality.float().clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    t = torch.floor((base.to(q.device)[None] * scale[:, None, None] + 50) / 100).clamp(1, 255)
    return t[:, None, None, None]


def _dct_quantise(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Quantise the 8×8 DCT of ``(B,1,H,W)`` planes (0–255 scale, H and W multiples of 8)."""
    b, _, h, w = plane.shape
    d = _dct_matrix(plane.device)
    blocks = (plane - 128).view(b, 1, h // 8, 8, w // 8, 8).transpose(3, 4)  # (B,1,h/8,w/8,8,8)
    coef = d @ blocks @ d.T
    coef = torch.round(coef / table) * table
    out = d.T @ coef @ d
    return out.transpose(3, 4).reshape(b, 1, h, w) + 128


def jpeg(x: torch.Tensor, quality: torch.Tensor | int) -> torch.Tensor:
    """JPEG round trip of ``(B,C,H,W)`` images in ``[0,1]`` (C = 1 or 3), any H×W.

    ``quality`` is an int or a ``(B,)`` tensor of 1..100. Colour images are coded as YCbCr
    with 4:2:0 chroma (box-filtered down, bilinear up). Returns float32 in ``[0,1]`` on the
    8-bit grid, like a decoded file.

    Raises:
        ValueError: not a float ``(B,C,H,W)`` tensor with C 1 or 3 in ``[0, 1]``, or a quality
            outside 1..100.
    """
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point or x.ndim != 4:
        what = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"jpeg expects a float (B,C,H,W) tensor in [0, 1], got {what} (uint8: x.float() / 255; "
                         "one image: x[None])")
    b, c, h, w = x.shape
    if c not in (1, 3):
        raise ValueError(f"jpeg expects 1 or 3 channels, got {c}")
    check_float_range(x, hint="divide 8-bit values by 255")
    q = torch.as_tensor(quality, device=x.device).expand(b)
    if q.is_floating_point() and not bool((q == q.round()).all()) or not bool(((q >= 1) & (q <= 100)).all()):
        raise ValueError(f"jpeg quality must be whole numbers in 1..100, got {quality!r}")
    return _jpeg(x, q)


def _jpeg(x: torch.Tensor, quality: torch.Tensor | int) -> torch.Tensor:
    """:func:`jpeg` without its checks (the chain's own, already checked, calls)."""
    b, c, h, w = x.shape
    q = torch.as_tensor(quality, device=x.device).expand(b)
    ph, pw = (-h) % 16, (-w) % 16
    xp = F.pad(x.float(), (0, pw, 0, ph), mode="replicate") if ph or pw else x.float()
    xp = torch.round(xp.clamp(0, 1) * 255) / 255  # the encoder reads 8-bit pixels
    if c == 1:
        out = _dct_quantise(xp * 255, _quant_tables(q, _LUMA_Q)) / 255
    else:
        ycc = rgb_to_ycbcr(xp) * 255
        y = _dct_quantise(ycc[:, :1], _quant_tables(q, _LUMA_Q))
        chroma_q = _quant_tables(q, _CHROMA_Q)
        small = F.avg_pool2d(ycc[:, 1:], 2)
        chroma = torch.cat([_dct_quantise(small[:, i : i + 1], chroma_q) for i in range(2)], 1)
        chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
        out = ycbcr_to_rgb(torch.cat([y, chroma], 1) / 255)
    return (torch.round(out.clamp(0, 1) * 255) / 255)[:, :, :h, :w]


def blur_kernels(
    kind: torch.Tensor, sigma: torch.Tensor, length: torch.Tensor, angle: torch.Tensor,
    radius: torch.Tensor, size: int,
) -> torch.Tensor:
    """Per-sample normalised ``(N,size,size)`` blur kernels.

    ``kind`` (N,) long: 0 Gaussian (std ``sigma``), 1 motion (a line of ``length`` pixels at
    ``angle`` radians, anti-aliased), 2 defocus (an anti-aliased disk of ``radius``).
    """
    r = size // 2
    grid = torch.arange(-r, r + 1, dtype=torch.float32, device=sigma.device)
    v, u = torch.meshgrid(grid, grid, indexing="ij")
    u, v = u[None], v[None]
    s = sigma[:, None, None].clamp_min(1e-3)
    gauss = torch.exp(-(u**2 + v**2) / (2 * s**2))
    ca, sa = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    half = (length[:, None, None] - 1) / 2
    t = (u * ca + v * sa).clamp(-half, half)
    line = (1 - torch.sqrt((u - t * ca) ** 2 + (v - t * sa) ** 2)).clamp_min(0)
    disk = (radius[:, None, None] + 0.5 - torch.sqrt(u**2 + v**2)).clamp(0, 1)
    k = torch.where(kind[:, None, None] == 0, gauss, torch.where(kind[:, None, None] == 1, line, disk))
    return k / k.sum((1, 2), keepdim=True)


def filter2d(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each ``(C,H,W)`` image of ``x`` with its own ``(K,K)`` kernel (reflect border)."""
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    xp = reflect_pad(x.reshape(1, n * c, h, w), k // 2)
    weight = kernels.to(x.dtype).repeat_interleave(c, 0)[:, None]
    return F.conv2d(xp, weight, groups=n * c).view(n, c, h, w)


@functools.lru_cache(maxsize=64)
def _lanczos_matrix(dst: int, src: int, device: torch.device) -> torch.Tensor:
    """``(dst, src)`` float32 weights of OpenCV's ``INTER_LANCZOS4`` along one axis: the 8 taps
    around each output pixel's centre mapped into the source, ``sinc(d)·sinc(d/4)`` normalised to
    sum 1; taps beyond the edge take the edge pixel."""
    x = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    base = np.floor(x)
    d = (x - base)[:, None] + 3 - np.arange(8)[None, :]  # distance of each tap (base-3 … base+4)
    w = np.sinc(d) * np.sinc(d / 4)
    w /= w.sum(1, keepdims=True)
    taps = np.clip(base[:, None].astype(np.int64) - 3 + np.arange(8)[None, :], 0, src - 1)
    m = np.zeros((dst, src), np.float64)
    np.add.at(m, (np.repeat(np.arange(dst), 8), taps.ravel()), w.ravel())
    return torch.from_numpy(m.astype(np.float32)).to(device)  # (made once per device, not copied per call)


def lanczos_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B,C,h,w)`` float → ``(B,C,H,W)`` resized with OpenCV's ``INTER_LANCZOS4`` kernel (``size``
    is ``(H, W)``; separable, as two small matrix products; for enlarging, where OpenCV applies
    the kernel as it is). Values may overshoot ``[0, 1]`` as OpenCV's do."""
    mh = _lanczos_matrix(size[0], x.shape[-2], x.device).to(x.dtype)
    mw = _lanczos_matrix(size[1], x.shape[-1], x.device).to(x.dtype)
    return torch.einsum("Hh,bchw,Ww->bcHW", mh, x, mw)


class TorchDegrader:
    """Random degradation of whole ``(B,C,H,W)`` batches, on the batch's device.

    Args:
        config: a :class:`~cvdenoise.degrade.DegradationConfig` or a preset name.
        seed: seed of the generators (one on the CPU for the per-sample choices, one on the
            device for the noise fields), an integer in ``[0, 2**62)``; ``None`` draws a fresh
            seed from the operating system (as numpy's ``default_rng(None)``: ``torch.manual_seed``
            does not repeat it — pass a seed for reproducible pairs).

    Call with a ``(B,C,H,W)`` float tensor in ``[0,1]``, C = 1 or 3; returns a new tensor of
    the same shape, dtype and device, in ``[0,1]``. The input is not modified.
    """

    def __init__(self, config: DegradationConfig | str = "mixed", seed: int | None = None) -> None:
        self.config = config = resolve_config(config)
        self._kinds = [k for k, _ in config.noise_kinds]
        w = torch.tensor([p for _, p in config.noise_kinds], dtype=torch.float64)
        self._kind_p = w / w.sum()
        if seed is not None and not (is_integer(seed) and 0 <= int(seed) < 2**62):
            raise ValueError(f"TorchDegrader seed must be None or an integer in [0, 2**62), got {seed!r}")
        self._seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2) if seed is None else int(seed)
        self.gen = torch.Generator().manual_seed(self._seed)
        self._dev_gens: dict[torch.device, torch.Generator] = {}
        self._blur_p = torch.tensor([p for _, p in BLUR_KINDS])  # kinds in blur_kernels' order

    # -- random numbers ----------------------------------------------------------------------
    def _rand(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.gen)

    def _uniform(self, n: int, r: tuple[float, float]) -> torch.Tensor:
        return r[0] + (r[1] - r[0]) * self._rand(n)

    def _loguniform(self, n: int, r: tuple[float, float]) -> torch.Tensor:
        if r[1] <= r[0] or r[0] <= 0:
            return self._uniform(n, r)
        return torch.exp(self._uniform(n, (math.log(r[0]), math.log(r[1]))))

    def _randint(self, n: int, lo: int, hi: int) -> torch.Tensor:
        """Integers in ``[lo, hi]``."""
        return torch.randint(lo, hi + 1, (n,), generator=self.gen)

    def _dev_gen(self, device: torch.device) -> torch.Generator:
        if device not in self._dev_gens:
            self._dev_gens[device] = torch.Generator(device).manual_seed(self._seed + 1)
        return self._dev_gens[device]

    def _randn_like(self, x: torch.Tensor, shared: torch.Tensor | None = None) -> torch.Tensor:
        """Standard normal field shaped like ``x``; samples flagged in ``shared`` get one plane
        repeated over the channels (luminance-only noise)."""
        g = self._dev_gen(x.device)
        n = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        if shared is not None and x.shape[1] > 1 and bool(shared.any()):
            n = torch.where(shared.to(x.device)[:, None, None, None], n[:, :1].expand_as(n), n)
        return n

    # -- families ----------------------------------------------------------------------------
    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        c, n = self.config, x.shape[0]
        kind = torch.multinomial(self._blur_p, n, replacement=True, generator=self.gen)
        sigma = self._uniform(n, c.blur_sigma)
        length = self._randint(n, c.motion_kernel[0] // 2, c.motion_kernel[1] // 2) * 2 + 1
        angle = self._rand(n) * math.pi
        radius = self._randint(n, c.defocus_radius[0], c.defocus_radius[1])
        size = max(2 * math.ceil(3 * c.blur_sigma[1]) + 1, c.motion_kernel[1] | 1, 2 * c.defocus_radius[1] + 3)
        size = max(1, min(size, 2 * (min(x.shape[-2:]) // 2) - 1))  # reflect padding needs pad < side
        k = blur_kernels(kind, sigma, length.float(), angle, radius.float(), size)
        return filter2d(x, k.to(x.device))

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        scale = self._uniform(x.shape[0], self.config.resize_scale)
        modes = self._randint(x.shape[0], 0, 2)
        up = self.config.resize_up  # (drawn only where there is a choice: the older presets' draws stay)
        ups = self._randint(x.shape[0], 0, len(up) - 1) if len(up) > 1 else torch.zeros(x.shape[0], dtype=torch.long)
        out = torch.empty_like(x)
        for i in range(x.shape[0]):  # one size per sample: a short loop over the few samples
            size = (max(1, round(h * float(scale[i]))), max(1, round(w * float(scale[i]))))
            mode = ("bilinear", "area", "bicubic")[int(modes[i])]
            aa = {"antialias": True} if mode != "area" else {}
            small = F.interpolate(x[i : i + 1], size=size, mode=mode, **aa)
            enlarge = up[int(ups[i])]
            if enlarge == "lanczos":  # (torch's interpolate has no Lanczos)
                out[i] = lanczos_resize(small, (h, w))[0]
            else:
                out[i] = F.interpolate(small, size=(h, w), mode="bilinear" if enlarge == "linear" else "bicubic",
                                       align_corners=False)[0]
        return out.clamp(0, 1)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        c, n = self.config, x.shape[0]
        kind = torch.multinomial(self._kind_p, n, replacement=True, generator=self.gen)
        shared = self._rand(n) < c.p_gray_noise
        out = torch.empty_like(x)  # every sample gets exactly one kind
        for ki, name in enumerate(self._kinds):
            self._apply_to(out, x, kind == ki, getattr(self, f"_noise_{name}"), shared)
        return out.clamp(0, 1)

    @staticmethod
    def _apply_to(
        dst: torch.Tensor, src: torch.Tensor, mask: torch.Tensor, fn: Callable[..., torch.Tensor],
        *per_sample: torch.Tensor,
    ) -> None:
        """``dst[mask] = fn(src[mask], *(v[mask] for v in per_sample))``; ``mask`` is a (B,) bool
        CPU tensor (no device sync), the per-sample CPU values are indexed where they are."""
        idx = mask.nonzero().flatten()
        if len(idx):
            sel = idx.to(dst.device)
            dst[sel] = fn(src[sel], *(v[idx] for v in per_sample))

    def _per_sample(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return v.to(x.device, x.dtype)[:, None, None, None]

    def _noise_gaussian(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        c, n = self.config, x.shape[0]
        use_log = self._rand(n) < c.sigma_log_fraction
        s = torch.where(use_log, self._loguniform(n, c.gaussian_sigma), self._uniform(n, c.gaussian_sigma))
        return x + self._per_sample(s, x) * self._randn_like(x, shared)

    def _noise_poisson(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """Shot noise on linear intensities (gamma 2.2, as albumentations' ShotNoise) + read noise."""
        c, n = self.config, x.shape[0]
        scale = self._per_sample(self._loguniform(n, c.poisson_scale), x)
        linear = x.clamp(0, 1) ** 2.2
        photons = torch.poisson((linear + scale * 1e-6) / scale, generator=self._dev_gen(x.device))
        out = (photons * scale).clamp(0, 1) ** (1 / 2.2)
        read = self._per_sample(self._uniform(n, c.read_sigma), x)
        return out + read * self._randn_like(x, shared)

    def _noise_speckle(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        s = self._per_sample(self._uniform(x.shape[0], self.config.speckle_sigma), x)
        return x * (1 + s * self._randn_like(x, shared))

    def _noise_iso(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """Camera ISO noise as albumentations' ISONoise makes it for float images: sparse
        brightening impulses of lightness, Poisson counts with mean ``std(L) * intensity``,
        each lifting ``L`` by ``intensity * (1 - L)`` (its hue jitter is below 0.1° and left
        out); gray images get Gaussian noise of std ``intensity / 10`` as in the numpy chain."""
        i = self._per_sample(self._uniform(x.shape[0], self.config.iso_intensity), x)
        if x.shape[1] == 1:
            return x + i * 0.1 * self._randn_like(x)
        light = (x.amax(1, keepdim=True) + x.amin(1, keepdim=True)) / 2  # HLS lightness
        lam = light.flatten(1).std(1, correction=0)[:, None, None, None] * i  # np.std, as albumentations
        counts = torch.poisson(lam.expand_as(light).contiguous(), generator=self._dev_gen(x.device))
        return x + counts * i * (1 - light)

    def _noise_camera(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """As ``Degrader._camera``: back through a colour matrix and white-balance gains, shot +
        read noise on an RGGB mosaic of random phase, bilinearly demosaiced (the noise only) and
        sent forward, added in linear light; gray images: a monochrome sensor's shot + read noise
        (share ``p_camera_mono``) or the luma of a colour camera's noisy frame."""
        c, (n, ch, h, w) = self.config, x.shape
        if ch == 1:
            out = torch.empty_like(x)
            colour = self._rand(n) >= c.p_camera_mono
            self._apply_to(out, x, colour, self._noise_camera_luma)
            self._apply_to(out, x, ~colour, self._noise_camera_mono)
            return out
        linear = x.clamp(0, 1) ** GAMMA
        gains = torch.stack([self._uniform(n, c.camera_red_gain), torch.ones(n), self._uniform(n, c.camera_blue_gain)], 1)
        gains = gains.to(x.device, x.dtype)[:, :, None, None]
        sat = self._uniform(n, c.camera_saturation)
        ccm = torch.stack([torch.from_numpy(camera_color_matrix(float(v))) for v in sat]).to(x.device, x.dtype)
        sensor = torch.einsum("nij,njhw->nihw", torch.linalg.inv(ccm), linear).clamp(min=0) / gains
        masks = _cfa_phases(h, w)[self._randint(n, 0, 3)].to(x.device, x.dtype)
        noise = self._shot_read((sensor * masks).sum(1, keepdim=True))
        k = torch.stack([torch.from_numpy(_CFA_RB), torch.from_numpy(_CFA_G), torch.from_numpy(_CFA_RB)])[:, None]
        k = k.to(x.device, x.dtype)

        def conv(t: torch.Tensor) -> torch.Tensor:
            return F.conv2d(reflect_pad(t, 1), k, groups=3)

        den = conv(masks)  # 0 only where a 1-pixel-high or -wide crop holds no photosite of a colour
        demosaiced = torch.where(den > 0, conv(noise * masks) / den.clamp(min=1e-12), noise)
        noise = torch.einsum("nij,njhw->nihw", ccm, demosaiced * gains)
        return (linear + noise).clamp(0, 1) ** (1 / GAMMA)

    def _noise_camera_luma(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,1,H,W)``: the luma of a colour camera's noisy frame of a gray scene."""
        luma = torch.from_numpy(LUMA).to(x.device, x.dtype)[None, :, None, None]
        return (self._noise_camera(x.expand(-1, 3, -1, -1), x.new_zeros(0)) * luma).sum(1, keepdim=True)

    def _noise_camera_mono(self, x: torch.Tensor) -> torch.Tensor:
        """A monochrome sensor: shot + read noise on linear light, no mosaic."""
        linear = x.clamp(0, 1) ** GAMMA
        return (linear + self._shot_read(linear)).clamp(0, 1) ** (1 / GAMMA)

    def _noise_linear(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """As ``Degrader._linear``: shot + read noise (``linear_read``) per pixel and channel on
        the sRGB-decoded image, clipped in linear light, encoded again."""
        linear = srgb_to_linear(x)
        return linear_to_srgb(linear + self._shot_read(linear, self.config.linear_read))

    def _shot_read(self, signal: torch.Tensor, read_range: tuple[float, float] | None = None) -> torch.Tensor:
        """Zero-mean shot (Poisson, ``camera_scale`` per photon) + read (Gaussian, ``camera_read``
        unless ``read_range`` is given) noise for a ``(N,C,H,W)`` linear-light signal, strengths
        drawn per sample."""
        c, n = self.config, signal.shape[0]
        scale = self._per_sample(self._loguniform(n, c.camera_scale), signal)
        read = self._per_sample(self._uniform(n, c.camera_read if read_range is None else read_range), signal)
        g = self._dev_gen(signal.device)
        noise = torch.poisson(signal / scale, generator=g) * scale - signal
        return noise + read * torch.randn(signal.shape, generator=g, device=signal.device, dtype=signal.dtype)

    def _noise_saltpepper(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        a = self._per_sample(self._uniform(x.shape[0], self.config.saltpepper_amount), x)
        g = self._dev_gen(x.device)
        u = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=g, device=x.device, dtype=x.dtype)
        salt = torch.rand(u.shape, generator=g, device=x.device, dtype=x.dtype) < 0.5
        return torch.where(u < a, salt.to(x.dtype).expand_as(x), x)

    # -- the chain ---------------------------------------------------------------------------
    def __call__(self, clean: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(clean) or clean.ndim != 4 or clean.shape[1] not in (1, 3):
            shape = tuple(clean.shape) if torch.is_tensor(clean) else type(clean).__name__
            raise ValueError(f"expected a (B,C,H,W) tensor with C = 1 or 3, got {shape}")
        if clean.numel() == 0:  # (as Degrader refuses an empty image; torch failed deep inside)
            raise ValueError(f"expected a non-empty (B,C,H,W) batch, got shape {tuple(clean.shape)}")
        if not clean.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got {clean.dtype}")
        check_float_range(clean, hint="divide 8-bit values by 255")  # (0-255 floats came back all white)
        c, n = self.config, clean.shape[0]
        x = clean.to(torch.float32, copy=True)
        active = self._rand(n) >= c.p_clean
        ops = {"blur": self._blur, "resize": self._resize, "noise": self._noise}
        chosen = {
            "blur": active & (self._rand(n) < c.p_blur),
            "resize": active & (self._rand(n) < c.p_resize),
            "noise": active & (self._rand(n) < c.p_noise),
        }
        # per-sample order of blur / resize / noise (fixed in that order when not shuffled)
        keys = self._rand(n * 3).view(n, 3) if c.shuffle else torch.arange(3.0).expand(n, 3)
        rank = keys.argsort(1).argsort(1)
        for slot in range(3):
            for j, name in enumerate(ops):
                self._apply_to(x, x, chosen[name] & (rank[:, j] == slot), ops[name])
        use_jpeg = active & (self._rand(n) < c.p_jpeg)
        quality = self._randint(n, c.jpeg_quality[0], c.jpeg_quality[1])
        self._apply_to(x, x, use_jpeg, _jpeg, quality)
        return x.clamp_(0, 1).to(clean.dtype)
