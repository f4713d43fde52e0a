"""Temporal smoothing: less flicker on static scenes, no ghosting behind moving objects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvdenoise.temporal import TemporalSmoother, flicker, temporal_blend
from cvdenoise.video import FrameFilter

from helpers import add_noise, psnr

SQ, STEP, N = 24, 6, 10


def _clip(clean_rgb: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A static photo with a bright square moving right; returns (clean, noisy, static mask)."""
    bg = cv2.cvtColor(np.ascontiguousarray(clean_rgb[40:168, 40:200]), cv2.COLOR_RGB2BGR)
    clean, noisy = [], []
    moving = np.zeros(bg.shape[:2], bool)
    for i in range(N):
        f = bg.copy()
        x = 8 + i * STEP
        f[50 : 50 + SQ, x : x + SQ] = (40, 220, 250)
        moving[40 : 60 + SQ, x - 8 : x + SQ + 8] = True
        clean.append(f)
        noisy.append(add_noise(f, 15, seed=100 + i))
    return clean, noisy, ~moving


@pytest.fixture(scope="module")
def ff_plain() -> FrameFilter:
    return FrameFilter("fast", half=False)


def test_temporal_reduces_flicker_without_ghosts(ff_plain: FrameFilter, clean_rgb: np.ndarray) -> None:
    clean, noisy, static = _clip(clean_rgb)
    smooth = FrameFilter(denoiser=ff_plain.denoiser, temporal=0.6)
    off = [ff_plain(f) for f in noisy]
    on = list(smooth.stream(iter(noisy), batch_size=3))
    # static background: much less frame-to-frame change, and no less accurate
    assert flicker(on, static) < 0.7 * flicker(off, static)
    assert flicker(noisy, static) > flicker(off, static)
    err_off = np.mean([np.abs(o.astype(float) - c)[static].mean() for o, c in zip(off[2:], clean[2:])])
    err_on = np.mean([np.abs(o.astype(float) - c)[static].mean() for o, c in zip(on[2:], clean[2:])])
    assert err_on <= err_off + 0.05
    # the moving square and the background it just uncovered are not smeared with old frames
    last = N - 1
    x = 8 + last * STEP
    obj = (slice(50, 50 + SQ), slice(x, x + SQ))
    behind = (slice(50, 50 + SQ), slice(x - 2 * STEP, x))
    for region in (obj, behind):
        e_on = np.abs(on[last][region].astype(float) - clean[last][region]).mean()
        e_off = np.abs(off[last][region].astype(float) - clean[last][region]).mean()
        assert e_on <= e_off + 1.5, (region, e_on, e_off)
    assert psnr(on[last], clean[last]) >= psnr(off[last], clean[last]) - 0.1


def test_blend_weights() -> None:
    prev = np.full((16, 16, 3), 100.0, np.float32)
    same = np.full((16, 16, 3), 104, np.uint8)
    moved = np.full((16, 16, 3), 160, np.uint8)
    assert np.allclose(temporal_blend(same, prev, 0.5, threshold=8.0), 104 - 0.5 * 0.5 * 4)
    assert np.allclose(temporal_blend(moved, prev, 0.9), 160)  # change above the threshold: untouched
    assert np.allclose(temporal_blend(same, prev, 0.0), 104)
    # uint16 frames: the threshold is in 8-bit units (×257)
    p16 = np.full((8, 8), 25700.0, np.float32)
    c16 = np.full((8, 8), 25700 + 4 * 257, np.uint16)
    assert np.allclose(temporal_blend(c16, p16, 0.5, threshold=8.0), 25700 + 4 * 257 - 0.25 * 4 * 257)
    with pytest.raises(ValueError, match="shapes"):
        temporal_blend(same, prev[:8], 0.5)
    with pytest.raises(ValueError, match="weight"):
        temporal_blend(same, prev, 1.0)


def test_smoother_state() -> None:
    s = TemporalSmoother(0.5)
    a = np.full((8, 8), 100, np.uint8)
    out = s(a)
    assert out is not a and (out == a).all()  # first frame passes (a copy)
    assert s(np.full((8, 8), 102, np.uint8))[0, 0] == 101
    big = np.full((4, 4), 7, np.uint8)
    assert (s(big) == big).all()  # size change: restart, no blending with the old size
    s.reset()
    assert (s(np.full((8, 8), 50, np.uint8)) == 50).all()
    with pytest.raises(ValueError, match="weight"):
        TemporalSmoother(1.5)
    with pytest.raises(ValueError, match="flicker needs"):
        flicker([a])


def test_gate_and_temporal_keep_clean_frames(ff_plain: FrameFilter, clean_rgb: np.ndarray) -> None:
    bgr = cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2BGR)
    ff = FrameFilter(denoiser=ff_plain.denoiser, gate=True, temporal=0.6)
    ff(add_noise(bgr, 20, seed=1))
    out = ff(bgr)  # clean frame after a noisy one: still passed through bit-exactly
    assert ff.info is not None and ff.info.strength == 0.0 and (out == bgr).all()
    ff.reset()
    assert ff.history == [] and ff.info is None


def test_gray_frames_after_colour_ones_stay_gray_under_temporal_smoothing() -> None:
    """A camera switching to night mode: gray-content frames after colour ones come back with
    equal planes (the smoother starts afresh instead of blending in the last colour frame)."""
    rng = np.random.default_rng(0)
    scene = np.zeros((120, 160, 3), np.uint8)
    scene[:] = (128, 134, 140)
    cv2.rectangle(scene, (20, 20), (80, 80), (60, 62, 70), -1)
    gray = cv2.cvtColor(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)

    def noisy(im: np.ndarray) -> np.ndarray:  # a gray frame gets gray noise (one sensor plane, as in IR mode)
        shape = im.shape if im is scene else im.shape[:2] + (1,)
        return np.clip(im + rng.normal(0, 3, shape), 0, 255).astype(np.uint8)

    ff = FrameFilter("fast", temporal=0.5)
    out = list(ff.stream([noisy(scene) for _ in range(3)] + [noisy(gray) for _ in range(3)] + [noisy(scene) for _ in range(2)], 1))
    spread = [int((o.astype(int).max(2) - o.astype(int).min(2)).max()) for o in out]
    assert min(spread[:3]) > 8 and spread[3:6] == [0, 0, 0] and min(spread[6:]) > 8, spread
    # within the gray stretch the smoothing still works: the second gray frame is pulled to the first
    unsmoothed = FrameFilter("fast")(noisy(gray))
    assert np.abs(out[4].astype(int) - out[3]).mean() < np.abs(unsmoothed.astype(int) - out[3]).mean()


@pytest.mark.parametrize("shape", [(40, 56), (40, 56, 1), (40, 56, 3), (40, 56, 4)])
def test_temporal_blend_follows_its_documented_formula(shape: tuple[int, ...]) -> None:
    """m = mean_c |box5x5(cur - prev)|, t = mean_c box5x5(|cur - prev|) - threshold/2, d = max(m, t),
    a = w·clip(1 - d/threshold, 0, 1), out = cur + a·(prev - cur)."""
    import cv2

    rng = np.random.default_rng(len(shape))
    cur = rng.integers(0, 256, shape).astype(np.uint8)
    prev = np.clip(cur + rng.normal(0, 6, shape), 0, 255).astype(np.float32)
    change = cur.astype(np.float32) - prev
    m = np.abs(cv2.blur(change, (5, 5))).reshape(40, 56, -1).mean(axis=2)
    t = cv2.blur(np.abs(change), (5, 5)).reshape(40, 56, -1).mean(axis=2) - 5.0
    d = np.maximum(m, t)
    a = 0.6 * np.clip(1 - d / 10.0, 0, 1)
    a = a.reshape(40, 56, *([1] if len(shape) == 3 else []))
    expected = cur + a * (prev - cur)
    out = temporal_blend(cur, prev, 0.6, 10.0)
    assert out.shape == shape and out.dtype == np.float32
    assert np.abs(out - expected).max() < 1e-3


def test_moving_texture_leaves_no_ghost_trail() -> None:
    """The motion test averaged the signed change over 5×5 pixels: a fine texture moving over a flat
    background keeps its local mean, so it read as static and was blended into a trail (~15 levels)."""
    yy, xx = np.mgrid[:64, :96]
    checker = np.where((yy // 2 + xx // 2) % 2 == 0, 60, 196).astype(np.uint8)  # mean 128, as the background
    s = TemporalSmoother(0.5)
    out = None
    for t in range(12):
        frame = np.full((64, 96), 128, np.uint8)
        x0 = 10 + 3 * t
        frame[16:48, x0 : x0 + 24] = checker[16:48, x0 : x0 + 24]
        out = s(frame)
    assert out is not None
    trail = out[16:48, x0 - 12 : x0 - 2].astype(np.float64)  # where the object was, now flat background
    assert np.abs(trail - 128).mean() < 2
    inside = out[16:48, x0 + 2 : x0 + 22].astype(np.float64)  # and the texture itself stays sharp
    assert np.abs(inside - frame[16:48, x0 + 2 : x0 + 22]).mean() < 2


def test_the_smoothing_weight_follows_the_frames_strength() -> None:
    """A frame the denoiser hardly changed (strength 0.09 on a clean clip) was still blended with the
    previous one at the full weight: clean moving detail was smeared (63 → 38 dB on a clean clip)."""
    a, b = np.full((16, 16), 100, np.float32), np.full((16, 16), 102, np.float32)
    for strength, expected in ((1.0, 101.2), (0.5, 101.6), (0.0, 102.0)):  # a = 0.5·strength·(1 - 2/10)
        s = TemporalSmoother(0.5)
        s(a)
        assert float(s(b, strength)[0, 0]) == pytest.approx(expected, abs=1e-4)
    for bad in (float("nan"), 1.5, -0.1):
        with pytest.raises(ValueError, match="strength must be a number in"):
            TemporalSmoother(0.5)(b, bad)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_smoother_outputs_share_no_memory_with_the_input_or_its_state(dtype: type) -> None:
    level = 0.5 if dtype is np.float32 else 128
    s = TemporalSmoother(0.5)
    first = np.full((8, 8, 3), level, dtype)
    out0 = s(first)
    assert not np.shares_memory(out0, first)
    out1 = s(np.full((8, 8, 3), level, dtype))
    out1[:] = 0  # drawing on an output (a box, a label) …
    out2 = s(np.full((8, 8, 3), level, dtype))
    assert float(np.abs(out2.astype(np.float32) - level).max()) == 0.0  # … does not leak into the next frame
