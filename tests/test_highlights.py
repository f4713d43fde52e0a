"""Near-white areas keep their level (cvdenoise.highlights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cvdenoise
from cvdenoise.highlights import CLIP_ALLOWANCE, HIGHLIGHT_BLOCK, HIGHLIGHT_FROM, box_means, keep_highlight_level


def _reference(noisy: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The rule over the whole image, written plainly."""
    level = box_means(noisy)
    lift = box_means(denoised) - level - CLIP_ALLOWANCE * box_means((noisy >= 1).float())
    drop = ((level - HIGHLIGHT_FROM) * 20).clamp(0, 1) * lift.clamp(min=0)
    up = F.interpolate(drop, scale_factor=HIGHLIGHT_BLOCK, mode="bilinear", align_corners=False)
    return (denoised - up[..., : noisy.shape[-2], : noisy.shape[-1]]).clamp(min=0)


@pytest.mark.parametrize("shape", [(1, 3, 64, 80), (2, 1, 37, 53), (1, 3, 8, 8)])
def test_the_cpu_shortcut_gives_the_rule_over_the_whole_image(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    noisy = (0.75 + 0.25 * torch.rand(shape, generator=g)).clamp(max=1.0)
    noisy[..., : shape[-2] // 2, :] *= 0.5  # a dark half: nothing lowered there
    lifted = noisy.clone()
    lifted[..., -20:, -20:] += 0.05  # a lifted bright patch
    denoised = lifted.clamp(0, 1)
    out = keep_highlight_level(noisy, denoised)
    assert torch.allclose(out, _reference(noisy, denoised), atol=1e-6)
    assert torch.equal(keep_highlight_level(noisy * 0.7, denoised * 0.7), denoised * 0.7)  # (nothing bright)


def test_near_white_areas_are_not_blown_out_and_true_white_stays_white() -> None:
    """``fast`` took a flat 248 under σ=2 noise to 255 (95 % of its pixels) and a 225→255
    gradient under σ=4 to a white plateau from 247 up; ``default`` blew out JPEG skies likewise."""
    rng = np.random.default_rng(0)
    fast = cvdenoise.load("fast", half=False)
    flat = np.clip(np.rint(248 + rng.normal(0, 2, (96, 96, 3))), 0, 255).astype(np.uint8)
    out = fast(flat, strength=1.0)
    assert abs(out.mean() - 248) < 1.0 and (out == 255).mean() < 0.01
    ramp = np.tile(np.linspace(225, 255, 256)[None, :, None], (64, 1, 3))
    noisy = np.clip(np.rint(ramp + rng.normal(0, 4, ramp.shape)), 0, 255).astype(np.uint8)
    error = fast(noisy, strength=1.0).mean(axis=(0, 2)) - ramp[0, :, 0]
    assert error.max() < 5.0
    white = np.clip(np.rint(255 + rng.normal(0, 10, (96, 96, 3))), 0, 255).astype(np.uint8)  # half of it clipped
    assert fast(white, strength=1.0).mean() > 254.0  # (clipping explains the lift: kept)


def test_the_highlights_benchmark_runs_and_shows_the_hold() -> None:
    # its "without" variant lacked the `inplace` argument the Denoiser passes: the script crashed
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "highlights.py"
    r = subprocess.run([sys.executable, str(script), "--weights", "fast", "--no-write"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    row = next(line for line in r.stdout.splitlines() if line.startswith("| flat 250, σ=1 |"))
    without, held = (float(cell.split()[0]) for cell in row.strip("|").split("|")[2:4])
    assert without > 253 and abs(held - 250) < 1  # (the plain output lifts it to white: the hold keeps 250)
