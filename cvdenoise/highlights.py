"""Near-white areas keep their level: the models' lift of highlights, held to what clipping explains.

Noise added to a near-white area is clipped at white, which lowers the noisy area's mean; the
models learned to lift such areas back — and lift near-white areas whose noise was never clipped
as well: a flat 248 under σ=2 noise came out at 254.9 from ``fast`` (92 % of its pixels white), a
225→255 ramp under σ=4 noise with its worst column 6.7 levels too bright (``python
benchmarks/highlights.py``, "without hold"). Where the input's local mean (a 12×12 box) is above
``HIGHLIGHT_FROM``, :func:`keep_highlight_level` lowers the output by how much its local mean
exceeds the input's beyond what the clipped share of the input explains
(``CLIP_ALLOWANCE`` × the share of values at white): a true white area under heavy noise, half of
it clipped, still comes out white; detail within the box is kept (the local means are compared,
not the pixels).

Pure functions on ``(B,C,H,W)`` float tensors in ``[0, 1]``; :class:`cvdenoise.Denoiser` applies it
to every output of a colour model (``load()``'s result; a raw exported graph does not). Not to the
gray models: a gray image made from a noisy colour one (``cv2.IMREAD_GRAYSCALE``) holds few values
at exactly white where each channel was clipped, so too little lift would be allowed, and the gray models lift near-white areas far less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CLIP_ALLOWANCE", "HIGHLIGHT_BLOCK", "HIGHLIGHT_BLOCKS", "HIGHLIGHT_FROM", "box_means", "keep_highlight_level"]

#: the box whose means are compared: ``HIGHLIGHT_BLOCKS``² blocks of ``HIGHLIGHT_BLOCK``² pixels
#: (12×12 pixels, at every 4th pixel: computed at a quarter of the resolution, then interpolated)
HIGHLIGHT_BLOCK = 4
HIGHLIGHT_BLOCKS = 3
#: the input's local mean above which the output's local mean is held (full hold from 0.05 above it)
HIGHLIGHT_FROM = 0.8
#: how far the output's local mean may exceed the input's, per share of the box's values at white
CLIP_ALLOWANCE = 0.1


def box_means(x: torch.Tensor) -> torch.Tensor:
    """Means of ``(B,C,H,W)`` ``x`` over boxes of ``HIGHLIGHT_BLOCKS × HIGHLIGHT_BLOCK`` pixels a
    side centred on every ``HIGHLIGHT_BLOCK``-th pixel (near the edges the outer blocks count again):
    ``(B,C,⌈H/4⌉,⌈W/4⌉)``; a side that is no multiple of the block is padded by its edge values."""
    b = HIGHLIGHT_BLOCK
    ph, pw = -x.shape[-2] % b, -x.shape[-1] % b
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    blocks = F.avg_pool2d(x, b)
    k = HIGHLIGHT_BLOCKS
    return F.avg_pool2d(F.pad(blocks, (k // 2,) * 4, mode="replicate"), k, stride=1)


def keep_highlight_level(noisy: torch.Tensor, denoised: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``denoised`` (the model output for ``noisy``, both ``(B,C,H,W)`` float32 in ``[0, 1]``,
    same shape) with its near-white areas lowered to the input's local level plus what clipping
    explains (see the module docstring); unchanged where the input has no value above
    ``HIGHLIGHT_FROM``. On a CPU only the part of the image that is lowered is touched.
    ``inplace``: lower ``denoised`` itself (returned) instead of a copy; where nothing is
    lowered, ``denoised`` itself is returned either way."""
    cpu = noisy.device.type == "cpu"
    top = float(noisy.amax()) if cpu else 1.0
    if top <= HIGHLIGHT_FROM:
        return denoised  # (nothing bright: nothing to hold; on a GPU the test would cost a sync)
    level = box_means(noisy)
    lift = box_means(denoised) - level
    if top >= 1.0:  # (values at white: the lift clipping explains; threshold: the share of 1s in one kernel)
        lift -= CLIP_ALLOWANCE * box_means(F.threshold(noisy, 1.0 - 1e-6, 0.0).clamp_(max=1.0))
    drop = ((level - HIGHLIGHT_FROM) * 20.0).clamp_(0.0, 1.0).mul_(lift.clamp_(min=0.0))
    b = HIGHLIGHT_BLOCK
    y0, y1, x0, x1 = 0, drop.shape[-2], 0, drop.shape[-1]
    if cpu:  # the blocks lowered, and one around them (the interpolation reaches that far)
        rows, cols = drop.amax(dim=(0, 1, 3)).nonzero(), drop.amax(dim=(0, 1, 2)).nonzero()
        if not len(rows):
            return denoised  # (bright, but not lifted: most photos)
        y0, y1 = max(0, int(rows[0]) - 1), min(drop.shape[-2], int(rows[-1]) + 2)
        x0, x1 = max(0, int(cols[0]) - 1), min(drop.shape[-1], int(cols[-1]) + 2)
    region = F.interpolate(F.pad(drop, (1, 1, 1, 1), mode="replicate")[..., y0 : y1 + 2, x0 : x1 + 2], scale_factor=b,
                           mode="bilinear", align_corners=False)[..., b : -b, b : -b]  # (as over the whole map)
    h = min(denoised.shape[-2], y1 * b) - y0 * b
    w = min(denoised.shape[-1], x1 * b) - x0 * b
    out = denoised if inplace else denoised.clone()
    part = out[..., y0 * b : y0 * b + h, x0 * b : x0 * b + w]
    part.sub_(region[..., :h, :w]).clamp_(min=0.0)
    return out
