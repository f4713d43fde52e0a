"""cvdenoise.noise: what kind of noise an image holds, and the checks on what the helpers read."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from helpers import add_noise

from cvdenoise.degrade import Degrader
from cvdenoise.noise import MIN_CONTENT, GateReading, NoiseProfile, border_bands, estimate_sigma, noise_profile, residual_sigma


def _profile(img: np.ndarray) -> NoiseProfile:
    p = noise_profile(img)
    assert isinstance(p, NoiseProfile)
    return p


def test_profile_reads_white_gaussian_noise(clean_rgb: np.ndarray) -> None:
    p = _profile(add_noise(clean_rgb, 25))
    assert 20 < p.sigma < 30
    assert abs(p.channel_corr) < 0.15 and p.whiteness < 1.4 and 0.8 < p.level_ratio < 1.4


def test_profile_tells_other_noise_kinds_apart(clean_rgb: np.ndarray) -> None:
    camera = _profile(Degrader("camera")(clean_rgb, np.random.default_rng(0)))
    assert camera.whiteness > 2.0  # demosaiced: spatially correlated
    ok, buf = cv2.imencode(".jpg", add_noise(clean_rgb, 15), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = _profile(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    assert jpeg.channel_corr > 0.5  # chroma subsampling ties the channels' noise together
    shared = np.random.default_rng(0).normal(0, 20, clean_rgb.shape[:2])[..., None]
    luma_only = _profile(np.clip(clean_rgb + shared, 0, 255).astype(np.uint8))
    assert luma_only.channel_corr > 0.9
    assert _profile(clean_rgb).sigma < 5
    speckle = np.clip(clean_rgb * (1 + np.random.default_rng(0).normal(0, 0.2, clean_rgb.shape)), 0, 255)
    assert _profile(speckle.astype(np.uint8)).level_ratio > 1.5  # multiplicative: grows with brightness


def test_profile_of_gray_and_batches(clean_gray: np.ndarray, clean_rgb: np.ndarray) -> None:
    g = _profile(add_noise(clean_gray, 20))
    assert g.channel_corr == 0.0 and 15 < g.sigma < 25
    batch = torch.from_numpy(np.stack([clean_rgb, add_noise(clean_rgb, 25)])).permute(0, 3, 1, 2)
    ps = noise_profile(batch)
    assert isinstance(ps, list) and len(ps) == 2 and ps[0].sigma < 5 < 20 < ps[1].sigma
    with pytest.raises(ValueError, match="too small"):
        noise_profile(np.zeros((4, 40, 3), np.uint8))
    big = add_noise(np.repeat(np.repeat(clean_rgb, 4, 0), 4, 1), 25)  # 1024²: read on a grid of 4×4 blocks
    assert _profile(big).sigma == pytest.approx(_profile(add_noise(clean_rgb, 25)).sigma, rel=0.1)
    deep = big.astype(np.uint16) * 257  # 16-bit: the same image, the same 8-bit-unit profile
    assert _profile(deep).sigma == pytest.approx(_profile(big).sigma, rel=1e-3)


def test_noise_helpers_refuse_what_they_cannot_read(clean_rgb: np.ndarray) -> None:
    # they used to return 0 or a plausible wrong σ for these, or fail deep inside torch
    noisy = add_noise(clean_rgb, 15)
    bad_values: list[tuple[object, type[Exception], str]] = [
        (noisy.astype(np.float64), ValueError, r"\[0, 1\]"),  # 0–255 floats
        (np.full((32, 32), np.nan, np.float32), ValueError, "NaN"),
        (noisy.astype(np.int32), TypeError, "dtype"),
        (noisy > 128, TypeError, "dtype"),
        (torch.from_numpy(noisy).permute(2, 0, 1).int(), TypeError, "dtype"),
        (noisy[:, :, 0].ravel(), ValueError, "shape"),
        (noisy[None], ValueError, "shape"),
        (np.ascontiguousarray(noisy.transpose(2, 0, 1)), ValueError, r"\(C,H,W\)"),
        (torch.from_numpy(noisy), ValueError, r"\(H,W,C\)"),
        (noisy[:, :, :2], ValueError, "channels"),
        ("image.png", TypeError, "numpy array, torch tensor or PIL image"),
    ]
    for bad, exc, msg in bad_values:
        for fn in (estimate_sigma, noise_profile, lambda im: residual_sigma(im, im)):
            with pytest.raises(exc, match=msg):
                fn(bad)  # type: ignore[operator]
    # an alpha channel holds no noise: it is left out, not averaged in as a clean channel
    rgba = np.dstack([noisy, np.full(noisy.shape[:2], 255, np.uint8)])
    assert estimate_sigma(rgba) == pytest.approx(estimate_sigma(noisy))
    assert noise_profile(rgba).sigma == pytest.approx(noise_profile(noisy).sigma)
    den = add_noise(clean_rgb, 1)
    assert residual_sigma(rgba, np.dstack([den, rgba[:, :, 3]])) == pytest.approx(residual_sigma(noisy, den))
    # read-only arrays and tensors that require grad: no warning, same answer
    ro = noisy.copy()
    ro.flags.writeable = False
    grad = torch.from_numpy(noisy).permute(2, 0, 1).float().div(255).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert estimate_sigma(ro) == estimate_sigma(noisy)
        assert estimate_sigma(grad) == pytest.approx(estimate_sigma(noisy), abs=1e-3)


def test_noise_helpers_read_pil_images_as_the_denoiser_does(clean_rgb: np.ndarray) -> None:
    """A PIL image, which the Denoiser takes, was refused (TypeError) by the noise helpers."""
    from PIL import Image

    noisy = add_noise(clean_rgb, 15)
    den = add_noise(clean_rgb, 2)
    assert estimate_sigma(Image.fromarray(noisy)) == estimate_sigma(noisy)
    assert noise_profile(Image.fromarray(noisy)) == noise_profile(noisy)
    assert residual_sigma(Image.fromarray(noisy), Image.fromarray(den)) == residual_sigma(noisy, den)
    gray = noisy[..., 1]
    la = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(np.full_like(gray, 255))])
    assert estimate_sigma(la) == estimate_sigma(gray)  # gray + alpha: the gray plane
    assert estimate_sigma(Image.fromarray(gray.astype(np.uint16) * 257)) == pytest.approx(estimate_sigma(gray), rel=1e-4)
    with pytest.raises(ValueError, match=r"mode 'P'.*convert\('L'\)"):
        estimate_sigma(Image.fromarray(gray).convert("P"))
    with pytest.raises(ValueError, match=r"needs 8×8\): \(4, 6, 3\)"):
        noise_profile(Image.fromarray(noisy[:4, :6]))


@pytest.mark.parametrize("shape", [(8, 8200), (16, 50000), (100000, 16), (3000, 2000)])
def test_thin_strips_get_a_profile_within_the_pixel_budget(shape: tuple[int, int]) -> None:
    # subsampling with one stride for both axes left a long 8- or 16-pixel strip under 8 rows
    from cvdenoise.noise import MAX_PIXELS, subsample_blocks

    img = np.clip(128 + np.random.default_rng(0).normal(0, 20, shape), 0, 255).astype(np.uint8)
    assert noise_profile(img).sigma == pytest.approx(20, abs=1.5)
    for block in (2, 4):
        h, w = subsample_blocks(torch.zeros(1, 1, *shape), block=block).shape[-2:]
        assert min(h, w) >= min(2 * block, *shape) and h * w <= MAX_PIXELS


def test_subsampling_of_ordinary_sizes_is_one_stride_and_thinner_than_a_block_is_refused() -> None:
    import math

    from cvdenoise.noise import MAX_PIXELS, estimate_sigma, subsample_blocks

    for h, w in ((480, 640), (720, 960), (1080, 1920), (2160, 3840), (4000, 6000)):
        x = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
        for block in (2, 4):
            step = math.ceil(math.sqrt(h * w / MAX_PIXELS))  # what the automatic strength was fitted with
            hb, wb = h // block, w // block
            want = x[..., : hb * block, : wb * block].reshape(1, 1, hb, block, wb, block)[:, :, ::step, :, ::step, :]
            assert torch.equal(subsample_blocks(x, block=block), want.reshape(1, 1, want.shape[2] * block, -1))
    for shape in ((1, 70000), (3, 30000), (70000, 1)):  # divided by zero
        with pytest.raises(ValueError, match="too small"):
            noise_profile(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="too small"):  # a clear error, not ZeroDivisionError
        estimate_sigma(np.zeros((1, 70000), np.uint8))


def test_noise_tools_take_big_endian_arrays_as_the_denoiser_does(clean_rgb: np.ndarray) -> None:
    # '>u2' was refused as "unsupported image dtype >u2; expected ... uint16", '>f4' with torch's byte-order error
    from cvdenoise.noise import estimate_sigma, noise_profile, residual_sigma

    noisy = add_noise(clean_rgb[:96, :96], 10)
    for native in (noisy.astype(np.uint16) * 257, noisy.astype(np.float32) / 255):
        swapped = native.astype(native.dtype.newbyteorder(">"))
        assert float(estimate_sigma(swapped)) == pytest.approx(float(estimate_sigma(native)))
        assert noise_profile(swapped).sigma == pytest.approx(noise_profile(native).sigma)
    f = noisy.astype(np.float32) / 255
    assert float(residual_sigma(f.astype(">f4"), f)) == pytest.approx(0.0)


def test_gate_reading_maps_a_residual_to_white_noise_sigma() -> None:
    r = GateReading((2.0, 4.0, 10.0), (1.0, 2.5, 9.0))
    assert r.white_sigma(0.0) == 0.0 and r.white_sigma(0.5) == pytest.approx(1.0)  # below: in proportion
    assert r.white_sigma(1.75) == pytest.approx(3.0) and r.white_sigma(2.5) == pytest.approx(4.0)  # between: linear
    assert r.white_sigma(20.0) == pytest.approx(21.0)  # above: the last point's offset
    assert GateReading.from_card({"gate_reading": {**r.to_card(), "fitted_on": "x"}}) == r
    assert GateReading.from_card({}) is None
    for bad in ({"sigma": [2, 4]}, {"sigma": [2, 4], "residual": [3, 1]}, {"sigma": [2], "residual": [1]},
                {"sigma": [2, 4], "residual": [1, float("nan")]}):
        with pytest.raises(ValueError, match="gate_reading"):
            GateReading.from_card({"gate_reading": bad})


def test_the_noise_helpers_warn_on_unscaled_12_bit_data_at_the_callers_line() -> None:
    """12-bit data held in uint16 read 16x low with no warning (the Denoiser and Degrader warn)."""
    a12 = np.clip(np.rint(2048 + np.random.default_rng(0).normal(0, 160, (64, 64))), 0, 4095).astype(np.uint16)
    for helper in (estimate_sigma, noise_profile):
        with pytest.warns(UserWarning, match="10/12-bit data held unscaled.*16x low") as caught:
            helper(a12)
        assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert abs(estimate_sigma(a12 << 4) - 10.0) < 0.5  # scaled: no warning, the σ it holds


def test_noise_helpers_refuse_masked_sparse_and_meta_input_and_name_the_argument() -> None:
    a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    with pytest.raises(TypeError, match="masked array"):  # (its masked cells were read as pixels)
        estimate_sigma(np.ma.masked_array(a, mask=np.zeros_like(a, bool)))
    with pytest.raises(TypeError, match="to_dense"):
        estimate_sigma(torch.rand(3, 64, 64).to_sparse())
    with pytest.raises(TypeError, match="meta"):
        noise_profile(torch.empty(3, 64, 64, device="meta"))
    with pytest.raises(ValueError, match="^denoised: image contains NaN"):
        residual_sigma(a, np.full_like(a, np.nan))
    assert noise_profile(np.full((64, 64, 3), 0.5, np.float32)).whiteness == float("inf")  # flat: was 0, "white"


def test_noise_helpers_leave_the_process_wide_warning_filters_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # a catch_warnings block per call (to hide torch's read-only warning) saved and restored the
    # process-wide filters: from several threads it left an "ignore" in place (every later UserWarning dropped)
    a = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    a.flags.writeable = False
    real = warnings.catch_warnings
    calls: list[int] = []
    with real(record=True) as caught:
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "catch_warnings", lambda *args, **kw: (calls.append(1), real(*args, **kw))[1])
        estimate_sigma(a), noise_profile(a), residual_sigma(a, a)
    assert not calls and not caught


def _letterbox(img: np.ndarray, pad: int, value: int) -> np.ndarray:
    """``img`` with ``pad`` rows of one gray ``value`` above and below (YOLO's letterbox uses 114)."""
    return cv2.copyMakeBorder(img, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(value,) * 3)


def test_border_bands_finds_letterbox_and_pillarbox_bars(clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 5)
    t = torch.from_numpy(np.stack([_letterbox(noisy, 40, 114),
                                   cv2.copyMakeBorder(noisy, 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))]))
    assert border_bands(t.permute(0, 3, 1, 2)).tolist() == [[40, 40, 0, 0], [40, 40, 0, 0]]
    # uneven sides, in one colour that is no gray; numpy in, a tuple out
    side = cv2.copyMakeBorder(noisy, 40, 25, 9, 30, cv2.BORDER_CONSTANT, value=(20, 200, 90))
    assert border_bands(side) == (40, 25, 9, 30)
    # top bars in one colour, bottom bars in another (each side reads its own corner)
    two = cv2.copyMakeBorder(noisy, 33, 0, 0, 0, cv2.BORDER_CONSTANT, value=(114,) * 3)
    two = cv2.copyMakeBorder(two, 0, 12, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert border_bands(two) == (33, 12, 0, 0)
    assert border_bands(torch.from_numpy(noisy).permute(2, 0, 1)) == (0, 0, 0, 0)  # noise: no bars
    # too thin for bars: a flat edge row, a 5-column strip (under MIN_BAR)
    assert border_bands(cv2.copyMakeBorder(noisy, 1, 0, 5, 0, cv2.BORDER_CONSTANT, value=(255,) * 3)) == (0, 0, 0, 0)
    # nearly one colour: no bars (the bands would leave fewer than MIN_CONTENT rows)
    thin = np.full((100, 100, 3), 114, np.uint8)
    thin[50:50 + MIN_CONTENT - 1] = noisy[: MIN_CONTENT - 1, :100]
    assert border_bands(thin) == (0, 0, 0, 0)


def test_the_band_mask_covers_each_side_exactly() -> None:
    from cvdenoise.noise import _in_bands

    x = torch.full((1, 1, 60, 50), 0.4)
    x[..., 10:48, 9:41] = torch.rand(38, 32) * 0.5 + 0.5  # top 10, bottom 12, left 9, right 9
    mask = _in_bands(x)[0, 0]
    want = torch.ones(60, 50, dtype=torch.bool)
    want[10:48, 9:41] = False
    assert torch.equal(mask, want)


@pytest.mark.parametrize("value", [114, 200])
def test_noise_estimates_leave_letterbox_bars_out(clean_rgb: np.ndarray, value: int) -> None:
    """Gray bars (a letterboxed frame: 40 % of it here) hold no noise; read with the picture they made
    both estimates read low (the rule then kept much of the input: ~2 dB lost on lightly noisy frames,
    `python runs/s58/letterbox.py`)."""
    noisy = add_noise(clean_rgb, 8)
    boxed = _letterbox(noisy, 86, value)
    assert abs(estimate_sigma(boxed) - estimate_sigma(noisy)) < 0.3
    assert abs(residual_sigma(boxed, _letterbox(clean_rgb, 86, value)) - residual_sigma(noisy, clean_rgb)) < 0.3
    assert estimate_sigma(boxed) > 6.5
    alone, with_bars = _profile(noisy), _profile(boxed)
    assert abs(with_bars.sigma - alone.sigma) < 0.5 and abs(with_bars.whiteness - alone.whiteness) < 0.15


def test_noise_estimates_leave_pillarbox_bars_out(clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 8)
    boxed = cv2.copyMakeBorder(noisy, 0, 0, 100, 60, cv2.BORDER_CONSTANT, value=(90,) * 3)  # 38 % bars
    assert abs(estimate_sigma(boxed) - estimate_sigma(noisy)) < 0.3
    clean_boxed = cv2.copyMakeBorder(clean_rgb, 0, 0, 100, 60, cv2.BORDER_CONSTANT, value=(90,) * 3)
    assert abs(residual_sigma(boxed, clean_boxed) - residual_sigma(noisy, clean_rgb)) < 0.3
