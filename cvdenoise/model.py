"""The cvdenoise autoencoder family: small convolutional encoder–decoders.

Pure ``torch.nn`` code: no I/O, no numpy. Every model maps ``(B,C,H,W) float`` in ``[0,1]`` to
the same shape, pads internally to :attr:`DenoiseAutoencoder.multiple` and crops back, and
predicts a residual (``out = clamp(x + r, 0, 1)``).

Layout (``unshuffle=f``, ``widths=(w0, w1, …)``)::

    x ─ pixel_unshuffle(f) ─ conv3x3 ─ [blocks w0] ─ down ─ [blocks w1] ─ … ─ [bottleneck]
                                          │skip                │skip
    x + pixel_shuffle(f) ─ conv3x3 ─ [blocks w0] ─ up ─ [blocks w1] ─ … ─ up ─┘

``down`` is a stride-2 2×2 conv, ``up`` a stride-2 2×2 transposed conv, skips are added.
The pixel-unshuffle front end lets every convolution work at reduced resolution, which keeps
multiply-adds per pixel low enough for CPU video.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float_range

__all__ = ["ModelConfig", "DenoiseAutoencoder", "ResBlock", "count_macs", "count_params", "pad_to", "CONFIGS"]


def _is_int(value: object) -> bool:
    """A Python or numpy integer, not a bool (nor a float of integral value)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


#: bounds of :class:`ModelConfig` (the shipped models: 3–4 levels, widths ≤ 256, ≤ 4 blocks, unshuffle 2)
MAX_LEVELS, MAX_WIDTH, MAX_BLOCKS, MAX_UNSHUFFLE = 8, 2048, 64, 8


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one autoencoder.

    Attributes:
        channels: image channels, 1 (gray) or 3 (RGB).
        widths: feature channels per encoder level, full→coarse; ``len(widths)`` levels.
        enc_blocks: residual blocks per encoder level (the last entry is the bottleneck).
        dec_blocks: residual blocks per decoder level (``len(widths) - 1`` entries).
        unshuffle: pixel-unshuffle factor of the front end (1 = work at full resolution).
    """

    channels: int = 3
    widths: tuple[int, ...] = (64, 96, 160, 256)  # the defaults are CONFIGS["default"]
    enc_blocks: tuple[int, ...] = (3, 2, 3, 4)
    dec_blocks: tuple[int, ...] = (3, 2, 2)
    unshuffle: int = 2

    def __post_init__(self) -> None:
        # types first (a weights file's header is JSON: 28.0, "3" or true must not reach a layer's constructor)
        for key in ("channels", "unshuffle"):
            if not _is_int(getattr(self, key)):
                raise TypeError(f"{key} must be an integer, got {getattr(self, key)!r}")
        for key in ("widths", "enc_blocks", "dec_blocks"):
            seq = getattr(self, key)
            if not isinstance(seq, (tuple, list)) or not all(_is_int(n) for n in seq):
                raise TypeError(f"{key} must be a sequence of integers, got {seq!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if len(self.widths) < 1 or any(w <= 0 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths!r}")
        if len(self.enc_blocks) != len(self.widths):
            raise ValueError(
                f"enc_blocks (--enc-blocks) needs one entry per level: {len(self.widths)} for widths "
                f"{self.widths}, got {self.enc_blocks} (give it when you change the number of levels)"
            )
        if len(self.dec_blocks) != len(self.widths) - 1:
            raise ValueError(
                f"dec_blocks (--dec-blocks) needs one entry per level but the last: {len(self.widths) - 1} for "
                f"widths {self.widths}, got {self.dec_blocks}"
            )
        if any(n < 0 for n in (*self.enc_blocks, *self.dec_blocks)):
            raise ValueError(f"block counts must be >= 0, got enc_blocks {self.enc_blocks}, dec_blocks {self.dec_blocks}")
        if self.unshuffle < 1:
            raise ValueError(f"unshuffle must be >= 1, got {self.unshuffle}")
        # sane bounds (a weights file's header is read before its tensors: a hostile config must not
        # build a model of terabytes or of a million blocks)
        limits = (("levels", len(self.widths), MAX_LEVELS), ("a width", max(self.widths), MAX_WIDTH),
                  ("a level's block count", max(*self.enc_blocks, *self.dec_blocks, 0), MAX_BLOCKS),
                  ("unshuffle", self.unshuffle, MAX_UNSHUFFLE))
        over = [f"{what} {value} > {limit}" for what, value, limit in limits if value > limit]
        if over:
            raise ValueError(f"architecture out of bounds: {', '.join(over)}")

    @property
    def multiple(self) -> int:
        """Height and width are padded to a multiple of this."""
        return self.unshuffle * 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values (tuples as lists), as the model cards store it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if not isinstance(d, dict):
            raise TypeError(f"the config must be a JSON object of {sorted(cls.__dataclass_fields__)}, got {d!r:.80}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)


#: Named sizes. ``fast`` is budgeted for real-time CPU video, ``default`` for quality.
CONFIGS: dict[str, ModelConfig] = {
    # 3 levels, 0.63 M parameters, 17 k MACs/px (stage 9 added the second block of the coarsest level)
    "fast": ModelConfig(widths=(28, 56, 112), enc_blocks=(0, 1, 2), dec_blocks=(0, 1), unshuffle=2),
    "default": ModelConfig(),  # 4 levels, 8.65 M parameters, 216 k MACs/px
}


class ResBlock(nn.Module):
    """``x + conv3x3(relu(conv3x3(x)))`` at constant width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,width,H,W)`` → same shape."""
        # in place on the convolutions' fresh outputs (autograd-safe: neither convolution keeps
        # its output for backward); saves two full-size allocations per block, ~15 % of the
        # `default` model's CPU time
        return self.conv2(F.relu(self.conv1(x), inplace=True)).add_(x)


def _stage(width: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(width) for _ in range(n)])


class DenoiseAutoencoder(nn.Module):
    """Residual convolutional denoising autoencoder.

    Args:
        config: architecture; see :class:`ModelConfig`.

    Shapes:
        input ``(B, C, H, W)`` float in ``[0, 1]``, any ``H, W >= 1`` (internally reflect-padded
        to :attr:`multiple`; ``H`` and ``W`` must exceed the pad, which the :class:`Denoiser`
        guarantees); output the same shape and dtype, clamped to ``[0, 1]``.

    Example:
        >>> m = DenoiseAutoencoder(CONFIGS["fast"])
        >>> m(torch.rand(2, 3, 37, 50)).shape
        torch.Size([2, 3, 37, 50])
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        c, f, ws = self.config.channels, self.config.unshuffle, self.config.widths
        self.head = nn.Conv2d(c * f * f, ws[0], 3, padding=1)
        self.encoders = nn.ModuleList(_stage(w, n) for w, n in zip(ws, self.config.enc_blocks))
        self.downs = nn.ModuleList(nn.Conv2d(ws[i], ws[i + 1], 2, stride=2) for i in range(len(ws) - 1))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(ws[i + 1], ws[i], 2, stride=2) for i in range(len(ws) - 1)
        )
        self.decoders = nn.ModuleList(_stage(w, n) for w, n in zip(ws[:-1], self.config.dec_blocks))
        self.tail = nn.Conv2d(ws[0], c * f * f, 3, padding=1)

    @property
    def multiple(self) -> int:
        """Height and width are padded to a multiple of this (8 for ``fast``, 16 for ``default``)."""
        return self.config.multiple

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        ph = (m - x.shape[-2] % m) % m
        pw = (m - x.shape[-1] % m) % m
        return F.pad(x, (0, pw, 0, ph), mode="reflect") if m > 1 else x

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features, full→coarse, of ``x``: ``(B,C,H,W)`` or ``(C,H,W)`` float in
        ``[0,1]`` of the model's dtype (float32 as loaded), ``H`` and ``W`` already multiples of
        :attr:`multiple`.

        Returns one ``(B, widths[i], H/(f·2^i), W/(f·2^i))`` tensor per level (unbatched,
        ``(widths[i], …)``, for a ``(C,H,W)`` input); the last is the bottleneck code. Call it
        under ``torch.inference_mode()`` (or ``no_grad``) unless you train through it: the
        parameters require grad, so the features otherwise keep an autograd graph.
        """
        if self._check_input(x):
            check_float_range(x, hint="uint8 data: x.float() / 255")  # (a 0..255 batch gave features 255× too large)
        return self._features(x)

    def _check_input(self, x: torch.Tensor) -> bool:
        """Whether this is an eager call (not traced or compiled); if so, refuse an ``x`` that :meth:`encode`
        cannot take, naming what is wrong."""
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):  # eager calls: say what is wrong
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"encode needs a torch tensor, got {type(x).__name__} (torch.from_numpy(...))")
            want = self.head.weight.dtype
            if x.dtype != want:  # (uint8 and float64 batches failed inside a convolution)
                to = "x.float()" if want == torch.float32 else f"x.to({want})"
                raise TypeError(f"encode needs a {want} tensor in [0, 1] (the model's dtype), got {x.dtype} "
                                f"(uint8: {to} / 255; other floats: {to})")
            m, c = self.config.multiple, self.config.channels
            if x.ndim not in (3, 4) or x.shape[-3] != c or x.shape[-2] % m or x.shape[-1] % m or not x.numel():
                raise ValueError(
                    f"encode needs a non-empty (B,{c},H,W) or ({c},H,W) tensor with H and W multiples of {m} (model.multiple; "
                    f"pad first, as forward does); got shape {tuple(x.shape)}"
                )
            return True
        return False

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.head(F.pixel_unshuffle(x, self.config.unshuffle))
        feats: list[torch.Tensor] = []
        for i, enc in enumerate(self.encoders):
            if i > 0:
                h = F.relu(self.downs[i - 1](h), inplace=True)
            h = enc(h)
            feats.append(h)
        return feats

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Residual ``(B, C, H, W)`` from :meth:`encode`'s features."""
        h = feats[-1]
        for i in range(len(self.decoders) - 1, -1, -1):
            u = F.relu(self.ups[i](h), inplace=True)
            # in place when nothing is recorded for backward (relu keeps its output for it)
            h = u + feats[i] if torch.is_grad_enabled() else u.add_(feats[i])
            h = self.decoders[i](h)
        return F.pixel_shuffle(self.tail(h), self.config.unshuffle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,C,H,W)`` float in ``[0,1]`` (any H, W: reflect-padded to :attr:`multiple` at the
        bottom/right, cropped back) → the denoised image, same shape, clamped to ``[0, 1]``."""
        h, w = x.shape[-2], x.shape[-1]
        xp = self._pad(x)
        self._check_input(xp)  # (the range is the caller's: forward clamps its output)
        out = xp + self.decode(self._features(xp))
        return out[..., :h, :w].clamp(0.0, 1.0)


def pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pad ``(…, H, W)`` at the bottom and right to ``h×w`` by reflection, as the models pad.

    Reflects again where one reflection is not enough (a side shorter than its padding), and
    replicates a side of one pixel, which has nothing to reflect.
    """
    while x.shape[-2] < h or x.shape[-1] < w:
        ch, cw = x.shape[-2:]
        ph, pw = min(h - ch, ch - 1), min(w - cw, cw - 1)
        if (ph <= 0 < h - ch) or (pw <= 0 < w - cw):  # a 1-pixel side: nothing to reflect
            return F.pad(x, (0, max(0, w - cw), 0, max(0, h - ch)), mode="replicate")
        x = F.pad(x, (0, max(0, pw), 0, max(0, ph)), mode="reflect")
    return x


def symmetric_pad(x: torch.Tensor, p: int | tuple[int, int, int, int]) -> torch.Tensor:
    """Pad ``(…, H, W)`` by mirroring with the edge repeated (numpy's ``mode="symmetric"``,
    OpenCV's ``BORDER_REFLECT``): by ``p`` on every side, or by ``(top, bottom, left, right)``. A
    side shorter than its padding is mirrored again and again (the image mirror-tiled, as numpy
    pads); a side of one pixel is so replicated.

    The context border :class:`cvdenoise.Denoiser` adds: mirrored about the edge pixel
    (:func:`reflect_pad`), the noise beside the outermost row is that of the row inside it, a
    pattern the models smooth less: the outermost rows and columns came out with 4–13 % more
    squared error than with the edge repeated, on every preset of the quality benchmark
    (``python runs/s51/edge_pad.py``).
    """
    top, bottom, left, right = (p, p, p, p) if isinstance(p, int) else p
    if max(top, bottom, left, right) <= 0:
        return x
    h, w = x.shape[-2:]
    if max(top, bottom) <= h and max(left, right) <= w:  # one mirror a side: one copy, as F.pad makes
        out = x.new_empty(*x.shape[:-2], h + top + bottom, w + left + right)
        out[..., top : top + h, left : left + w] = x
        out[..., :top, left : left + w] = x[..., :top, :].flip(-2)
        out[..., top + h :, left : left + w] = x[..., h - bottom :, :].flip(-2)
        out[..., :left] = out[..., left : 2 * left].flip(-1)
        out[..., left + w :] = out[..., left + w - right : left + w].flip(-1)
        return out
    for dim, (lo, hi) in ((-2, (top, bottom)), (-1, (left, right))):  # mirror-tiled: periodic with period 2n
        n = x.shape[dim]
        j = torch.arange(-lo, n + hi, device=x.device) % (2 * n)
        x = x.index_select(dim % x.ndim, torch.where(j < n, j, 2 * n - 1 - j))
    return x


def reflect_pad(x: torch.Tensor, p: int | tuple[int, int, int, int]) -> torch.Tensor:
    """Pad ``(…, H, W)`` by reflection (OpenCV's ``BORDER_REFLECT_101``, numpy's
    ``mode="reflect"``): by ``p`` on every side, or by ``(top, bottom, left, right)``. A side
    shorter than its padding is reflected again and again (the image mirror-tiled, as numpy pads),
    a side of one pixel replicated (nothing to reflect).

    (Replicating a short side instead made a 16-pixel strip a stack of copies of its first and
    last rows: streaks of noise the models left in place — a gray 16×3000 strip came out as noisy
    as it went in, where 17 rows gained 13 dB.)
    """
    top, bottom, left, right = (p, p, p, p) if isinstance(p, int) else p
    if max(top, bottom, left, right) <= 0:
        return x
    h, w = x.shape[-2:]
    if h > max(top, bottom) and w > max(left, right):
        return F.pad(x, (left, right, top, bottom), mode="reflect")
    for dim, (lo, hi) in ((-2, (top, bottom)), (-1, (left, right))):
        while lo > 0 or hi > 0:
            n = x.shape[dim]
            a, b = (lo, hi) if n == 1 else (min(lo, n - 1), min(hi, n - 1))
            pads = (a, b, 0, 0) if dim == -1 else (0, 0, a, b)
            x = F.pad(x, pads, mode="replicate" if n == 1 else "reflect")
            lo, hi = lo - a, hi - b
    return x


def count_params(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: DenoiseAutoencoder, size: int = 64) -> float:
    """Multiply–accumulates per input pixel, counted on a ``size×size`` input."""
    total = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels // mod.groups
            total += inp[0].numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.config.channels, size, size, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return total / (size * size)
