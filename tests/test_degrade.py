from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from cvdenoise.degrade import PRESETS, DegradationConfig, Degrader, degrade, degrade_batch
from cvdenoise.degrade_torch import TorchDegrader

from helpers import psnr


def _img(dtype: type, channels: int) -> np.ndarray:
    from skimage import data

    rgb = data.astronaut()[100:196, 150:246]
    img = rgb if channels == 3 else rgb.mean(2).astype(np.uint8)
    if dtype == np.uint16:
        return img.astype(np.uint16) * 257
    if dtype == np.float32:
        return img.astype(np.float32) / 255
    return img


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_dtype_shape_range_kept(preset: str, dtype: type, channels: int) -> None:
    clean = _img(dtype, channels)
    noisy, same = degrade(clean, preset, seed=3)
    assert same is clean
    assert noisy.dtype == clean.dtype and noisy.shape == clean.shape
    if dtype == np.float32:
        assert noisy.min() >= 0 and noisy.max() <= 1


def test_hwc1_kept() -> None:
    clean = _img(np.uint8, 1)[:, :, None]
    noisy, _ = degrade(clean, "mixed", seed=0)
    assert noisy.shape == clean.shape


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_seed_reproducible(preset: str) -> None:
    clean = _img(np.uint8, 3)
    a, _ = degrade(clean, preset, seed=11)
    b, _ = degrade(clean, preset, seed=11)
    assert np.array_equal(a, b)


def test_mixed_seeds_differ_and_cover_families() -> None:
    clean = _img(np.uint8, 3)
    outs = [degrade(clean, "mixed", seed=s)[0] for s in range(12)]
    assert len({o.tobytes() for o in outs}) == 12
    p = [psnr(o, clean) for o in outs]
    assert max(p) - min(p) > 5  # strengths vary


def test_noise_strength_ordering() -> None:
    clean = _img(np.uint8, 3)
    p = [psnr(degrade(clean, f"gaussian{s}", seed=0)[0], clean) for s in (15, 25, 50)]
    assert p[0] > p[1] > p[2]
    assert 22 < p[0] < 27  # σ=15 → about 24.6 dB before clipping


def test_batch_reproducible() -> None:
    imgs = [_img(np.uint8, 3), _img(np.uint8, 1)]
    a = degrade_batch(imgs, "mixed", seed=5)
    b = degrade_batch(imgs, "mixed", seed=5)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown degradation preset"):
        Degrader("nope")
    with pytest.raises(ValueError, match="shape"):
        Degrader("mixed")(np.zeros((8, 8, 2), np.uint8), 0)
    with pytest.raises(TypeError, match="dtype"):
        Degrader("mixed")(np.zeros((8, 8, 3), np.int32), 0)


def test_awgn_is_zero_mean_colour_noise_only() -> None:
    """`awgn`: per-channel Gaussian noise, σ within 1–55/255, nothing blurred or shifted."""
    clean = np.full((96, 96, 3), 96, np.uint8)
    clean[:, 48:] = 160  # a vertical edge: any blur, rescaling or JPEG leaves a mean error beside it
    sigmas, noises = [], []
    for seed in range(20):
        noise = degrade(clean, "awgn", seed=seed)[0].astype(np.float64) - clean
        if not noise.any():  # the 2 % clean draws
            continue
        c = np.corrcoef(noise.reshape(-1, 3).T)
        assert np.abs(c[np.triu_indices(3, 1)]).max() < 0.1  # channels independent (colour noise)
        sigmas.append(noise.std())
        noises.append(noise)
    assert len(sigmas) >= 15 and 0.5 < min(sigmas) and max(sigmas) < 56
    assert max(sigmas) - min(sigmas) > 20  # σ is drawn, not fixed
    column_mean = np.mean(noises, axis=(0, 1, 3))
    assert np.abs(column_mean).max() < 3  # zero mean everywhere, the edge columns included


def test_camera_noise_is_demosaiced_noise_only() -> None:
    """The ``camera`` preset adds noise that is spatially correlated (drawn on a Bayer mosaic and
    demosaiced) and zero-mean on mid-tones; the image itself is not blurred by the demosaicing
    (averaged over seeds the noisy copies converge on the clean image, not on a softened one)."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[::2, ::2][:96, 64:160]).astype(np.float32) / 255
    noisy = np.stack([Degrader("camera")(rgb, s) for s in range(64)])
    noise = noisy - rgb
    horiz = np.corrcoef(noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel())[0, 1]
    assert horiz > 0.3, horiz  # independent per-pixel noise gives ~0
    mid = (rgb > 0.2) & (rgb < 0.8)
    assert abs(float(noise[:, mid].mean())) < 0.004
    assert np.abs(noisy.mean(0) - rgb)[mid].mean() < 0.01  # a blurred image would stay ~0.02 away
    white = Degrader("gaussian25")(rgb, 0) - rgb
    assert abs(np.corrcoef(white[:, :-1].ravel(), white[:, 1:].ravel())[0, 1]) < 0.1


def test_linear_noise_is_white_and_lifts_blacks_by_clipping_in_linear_light() -> None:
    """The ``linear`` kind draws shot + read noise per pixel and channel on the sRGB-decoded image
    and clips it there: independent between neighbours, zero-mean on mid-tones, and a dark flat
    patch comes back brighter on average (the clipped read noise), as a raw frame developed
    without noise reduction does; the sRGB curve and its inverse are each other's inverse."""
    from cvdenoise.degrade import linear_to_srgb, srgb_to_linear

    ramp = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(ramp)) - ramp).max() < 1e-5
    assert abs(float(srgb_to_linear(np.float32(0.5))) - 0.2140) < 1e-3  # IEC 61966-2-1
    cfg = replace(PRESETS["camera"], noise_kinds=(("linear", 1.0),), camera_scale=(1 / 150, 1 / 150),
                  linear_read=(2 / 150, 2 / 150))
    img = np.full((64, 64, 3), 0.5, np.float32)
    img[:, :32] = 10 / 255
    noisy = np.stack([Degrader(cfg)(img, s) for s in range(8)])
    noise = noisy - img
    assert noisy[:, :, :32].mean() * 255 > 10 + 3  # the dark half lifted (≈ +5 levels)
    in_linear = srgb_to_linear(noisy[:, :, 40:]) - srgb_to_linear(img[:, 40:])
    assert abs(float(in_linear.mean())) < 0.0005 < float(in_linear.std())  # mid-gray: zero-mean in linear light
    horiz = np.corrcoef(noise[:, :, 40:-1].ravel(), noise[:, :, 41:].ravel())[0, 1]
    chan = np.corrcoef(noise[..., 40:, 0].ravel(), noise[..., 40:, 1].ravel())[0, 1]
    assert abs(horiz) < 0.05 and abs(chan) < 0.05, (horiz, chan)
    assert Degrader(cfg)(img[..., 0], 0).shape == (64, 64)  # gray: the same per pixel


@pytest.mark.parametrize("shape", [(1, 40, 3), (40, 1, 3), (1, 1, 3), (1, 40), (2, 3, 3)])
def test_tiny_images_stay_finite(shape: tuple[int, ...]) -> None:
    # a 1-pixel-high mosaic holds no blue photosite: the camera presets' demosaic gave 0/0 = NaN
    img = np.full(shape, 0.5, np.float32)
    for preset in PRESETS:
        for seed in range(8):
            out = Degrader(preset)(img, seed)
            assert out.shape == img.shape and np.isfinite(out).all(), (preset, seed)
            assert 0 <= out.min() and out.max() <= 1


def test_float_images_outside_0_1_or_empty_are_refused() -> None:
    from cvdenoise.degrade import Degrader

    d = Degrader("noise")
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\] \(±0.001 for rounding\); got values in \[0, 255\]"):
        d(np.linspace(0, 255, 64 * 64, dtype=np.float32).reshape(64, 64), rng=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        d(np.full((8, 8), np.nan, np.float32), rng=0)
    with pytest.raises(ValueError, match="non-empty"):
        d(np.zeros((0, 8, 3), np.uint8), rng=0)


def test_config_values_no_degradation_can_take_are_refused_naming_the_field() -> None:
    from cvdenoise.degrade import DegradationConfig

    for field, value in (("p_noise", 2.0), ("gaussian_sigma", (0.5, 0.1)), ("gaussian_sigma", (-0.1, -0.05)),
                         ("jpeg_quality", (0, 150)), ("motion_kernel", (1, 1)), ("resize_scale", (2, 3)),
                         ("poisson_scale", (0.0, 0.01)), ("p_blur", True)):
        with pytest.raises(ValueError, match=f"DegradationConfig.{field} must be"):
            DegradationConfig(**{field: value})
    for kinds in ((), (("gaussian", 0.0),), (("pink", 1.0),), (("gaussian", "x"),)):
        with pytest.raises(ValueError, match="noise_kinds"):
            DegradationConfig(noise_kinds=kinds)
    listed = DegradationConfig(gaussian_sigma=[0.01, 0.1])  # lists (from JSON) are fine, held as the tuple
    assert listed.gaussian_sigma == (0.01, 0.1) and listed == DegradationConfig(gaussian_sigma=(0.01, 0.1))
    assert hash(listed) == hash(DegradationConfig(gaussian_sigma=(0.01, 0.1)))  # (a list made it unhashable)
    assert DegradationConfig(gaussian_sigma=np.array([0.01, 0.1])).gaussian_sigma == (0.01, 0.1)  # (was refused)
    # values that passed and failed at a random later draw: a zero channel gain, an infinite weight, a name twice
    for field, value in (("camera_red_gain", (0.0, 1.0)), ("camera_blue_gain", (0.0, 0.0))):
        with pytest.raises(ValueError, match=f"DegradationConfig.{field} must be"):
            DegradationConfig(**{field: value})
    for kinds in ((("gaussian", float("inf")),), (("gaussian", 1e308), ("camera", 1e308)),
                  (("gaussian", 1.0), ("gaussian", 2.0))):
        with pytest.raises(ValueError, match="noise_kinds must be.*each name once, with finite weights"):
            DegradationConfig(noise_kinds=kinds)
    assert DegradationConfig(p_noise=np.float32(0.5), jpeg_quality=(np.int64(40), 90)).p_noise == 0.5  # numpy numbers too
    # values that passed and failed later: NaN or black blur, a torch chain crash, "no" taken as True
    for field, value, why in (("blur_sigma", (0, 0), "p_blur=0"), ("jpeg_quality", (40.5, 90), "whole numbers"),
                              ("shuffle", "no", "True or False")):
        with pytest.raises(ValueError, match=f"DegradationConfig.{field} must be.*{re.escape(why)}"):
            DegradationConfig(**{field: value})
    assert DegradationConfig(jpeg_quality=(40.0, 90)).jpeg_quality == (40, 90)  # whole floats (from JSON) are made ints
    by_dict = DegradationConfig(noise_kinds={"gaussian": 1.0, "camera": 1.0})  # a dict is (name, weight) pairs too
    assert by_dict.noise_kinds == (("gaussian", 1.0), ("camera", 1.0))
    noisy, _ = degrade(np.full((16, 16, 3), 128, np.uint8), by_dict, seed=0)
    assert noisy.shape == (16, 16, 3)


def test_torch_degrader_refuses_values_outside_0_1() -> None:
    deg = TorchDegrader("gaussian25", seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        deg(torch.rand(2, 3, 16, 16) * 255)
    with pytest.raises(ValueError, match="NaN"):
        deg(torch.full((1, 3, 8, 8), float("nan")))


def test_degrade_names_bad_arguments() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(TypeError, match="DegradationConfig or a preset name"):
        degrade(image, None, 0)  # type: ignore[arg-type]
    for seed in (-1, 1.5, "0"):
        with pytest.raises(ValueError, match="seed must be None, an integer >= 0 or a numpy Generator"):
            degrade(image, "gaussian25", seed)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TorchDegrader takes tensors"):
        degrade(torch.zeros(16, 16, 3), "gaussian25", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="motion_kernel must be odd"):
        DegradationConfig(motion_kernel=(4, 4))
    assert degrade(image, "gaussian25", np.int64(3))[0].shape == image.shape  # numpy integers are seeds too


def test_numpy_seed_objects_still_seed_a_degrader() -> None:
    image = np.full((16, 16, 3), 128, np.uint8)
    d = Degrader("gaussian25")
    assert np.array_equal(d(image, np.random.SeedSequence(3)), d(image, np.random.SeedSequence(3)))
    assert d(image, np.random.PCG64(3)).shape == image.shape
    with pytest.raises(ValueError, match="motion_kernel must be whole numbers"):
        DegradationConfig(motion_kernel=(3, 7.5))  # type: ignore[arg-type]


def test_the_jpeg_step_encodes_rgb_as_rgb() -> None:
    """albumentations hands the array to OpenCV, which reads it as BGR: red was compressed as blue
    (up to 32 levels off a true JPEG at quality 30)."""
    import cv2
    from skimage import data

    from cvdenoise.degrade import Degrader

    rgb = np.ascontiguousarray(data.astronaut()[:128, :128])
    d = Degrader(DegradationConfig(p_noise=0.0, p_blur=0.0, p_resize=0.0, p_jpeg=1.0, jpeg_quality=(30, 30)))
    out = d._jpeg(rgb.astype(np.float32) / 255, np.random.default_rng(0))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 30])
    true_jpeg = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(np.rint(out * 255) - true_jpeg.astype(np.float64)).max() <= 1


def test_unscaled_12_bit_uint16_is_warned_about_and_full_range_uint16_is_not() -> None:
    """Strengths are fractions of 65535: 12-bit samples held in uint16 got 16x their share of noise, silently."""
    twelve_bit = np.full((16, 16), 2000, np.uint16)
    with pytest.warns(UserWarning, match="10/12-bit data held unscaled.*16x stronger"):
        Degrader("gaussian25")(twelve_bit, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Degrader("gaussian25")(twelve_bit << 4, 0)  # scaled to 16 bits: no warning
        Degrader("gaussian25")(np.full((16, 16), 20, np.uint8), 0)


def test_torch_degrader_seeds_are_checked_and_none_is_not_torch_global_state() -> None:
    clean = torch.full((2, 3, 16, 16), 0.5)
    for bad in (-1, 2.5, 2**62, "3"):
        with pytest.raises(ValueError, match="TorchDegrader seed must be None or an integer"):
            TorchDegrader("gaussian25", seed=bad)  # type: ignore[arg-type]
    torch.manual_seed(0)
    a = TorchDegrader("gaussian25")(clean)
    torch.manual_seed(0)
    b = TorchDegrader("gaussian25")(clean)
    assert not torch.equal(a, b)  # a fresh seed each time, not torch's global generator replayed
    assert torch.equal(TorchDegrader("gaussian25", seed=np.int64(5))(clean), TorchDegrader("gaussian25", seed=5)(clean))


@pytest.mark.filterwarnings("ignore:Degrader. uint16 image with all values below")  # (the dark ramp: on purpose)
@pytest.mark.parametrize("channels", [1, 3])
def test_resizing_keeps_16_bit_and_float_precision(channels: int) -> None:
    # albumentations' Downscale ran on uint8: a dark 16-bit ramp of 256 values came back on 5,
    # a float ramp on the 1/255 grid
    from dataclasses import replace

    base = DegradationConfig(p_clean=0, p_blur=0, p_resize=1, p_noise=0, p_jpeg=0, shuffle=False)
    deg = Degrader(replace(base, resize_scale=(0.9, 0.9)))
    ramp = np.tile(np.linspace(0, 1000, 256), (64, 1)).astype(np.uint16)
    if channels == 3:
        ramp = np.repeat(ramp[..., None], 3, axis=2)
    out = deg(ramp, 0)
    assert out.shape == ramp.shape and out.dtype == np.uint16 and len(np.unique(out)) > 200
    assert np.abs(out.astype(float) - ramp).mean() < 2  # a smooth ramp stays where it was
    flat = (ramp / 65535).astype(np.float32)
    f = deg(flat, 0)
    assert f.dtype == np.float32 and np.abs(f * 255 - np.round(f * 255)).max() > 0.1  # not on the 8-bit grid


def test_the_linear_light_benchmark_runs_and_its_noise_lifts_blacks() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "linear_light.py"
    r = subprocess.run([sys.executable, str(script), "--weights", "fast", "gray-fast", "--crop", "96", "--no-write"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith(("| colour, 60 / 2 |", "| colour, 1000 / 3 |"))]
    assert len(rows) == 2 and "| gray, 60 / 2 |" in r.stdout, r.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    (p_in, s_in), (p_out, _) = ((float(c.split()[0]), float(c.split()[1].strip("()"))) for c in cells[1:3])
    assert s_in > 1 and p_out > p_in + 3, cells  # the clipped read noise lifts the dark pixels; fast removes noise
    light = [float(c.split()[0]) for c in rows[1].strip("|").split("|")[1:3]]
    assert light[1] > light[0] > p_in + 10, rows[1]  # 1000 photons: much less noise, still removed
    assert cells[3] == "-", cells  # a gray weights file: no colour rows
    gray = next(line for line in r.stdout.splitlines() if line.startswith("| gray, 60 / 2 |"))
    gray_cells = [c.strip() for c in gray.strip("|").split("|")]
    assert float(gray_cells[3].split()[0]) > float(gray_cells[1].split()[0]) + 3, gray_cells  # gray-fast ran


def test_resize_keeps_a_pixel_where_a_side_would_shrink_to_nothing() -> None:
    """OpenCV's empty-size assertion (a 1×64 image at ×0.5, a 16×16 one at ×0.02)."""
    from cvdenoise.degrade import DegradationConfig

    for shape, scale in (((1, 64, 3), 0.5), ((2, 3), 0.25), ((16, 16, 3), 0.02)):
        cfg = DegradationConfig(p_clean=0.0, p_blur=0.0, p_noise=0.0, p_jpeg=0.0, p_resize=1.0, resize_scale=(scale, scale))
        img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        out, clean = degrade(img, cfg, seed=1)
        assert out.shape == img.shape and out.dtype == np.uint8 and clean is img


def test_degrade_batch_refuses_one_image_and_checks_its_seed_as_degrade() -> None:
    """One (480, 640, 3) array came back as 480 pairs of (640, 3) gray images."""
    from cvdenoise.degrade import degrade_batch

    img = np.full((24, 32, 3), 100, np.uint8)
    with pytest.raises(ValueError, match=r"one array of shape \(24, 32, 3\).*pass \[image\]"):
        degrade_batch(img, "gaussian25", seed=0)
    pairs = degrade_batch(np.stack([img, img]), "gaussian25", seed=0)  # an (N,H,W,C) stack is a batch
    assert len(pairs) == 2 and pairs[0][0].shape == img.shape
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(pairs, degrade_batch([img, img], "gaussian25", seed=0)))
    for bad in (True, -1, 1.5):
        with pytest.raises(ValueError, match="seed must be None, an integer >= 0"):
            degrade_batch([img], "gaussian25", seed=bad)  # type: ignore[arg-type]


def test_big_endian_16_bit_is_degraded_like_native() -> None:
    img = np.random.default_rng(0).integers(0, 65536, (16, 16), dtype=np.uint16)
    big = img.astype(">u2")
    out, _ = degrade(big, "gaussian25", seed=3)
    assert out.dtype == np.dtype(">u2") and np.array_equal(out.astype(np.uint16), degrade(img, "gaussian25", seed=3)[0])


def test_the_12_bit_warning_points_at_the_callers_line() -> None:
    img = np.full((16, 16), 1000, np.uint16)
    with pytest.warns(UserWarning, match="10/12-bit") as caught:
        degrade(img, "gaussian25", seed=0)
    assert caught[0].filename == __file__


def test_resize_up_enlarges_with_the_interpolations_named() -> None:
    """The resize step enlarged bilinearly only; ``resize_up`` draws how (bicubic, Lanczos) per image."""
    import cv2
    from dataclasses import replace

    from cvdenoise.degrade import PRESETS

    base = DegradationConfig(p_clean=0, p_blur=0, p_resize=1, p_noise=0, p_jpeg=0, shuffle=False, resize_scale=(0.5, 0.5))
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    f = img.astype(np.float32) / 255  # (the chain works on floats)
    small = [cv2.resize(f, None, fx=0.5, fy=0.5, interpolation=i) for i in (cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC)]
    flags = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
    for kind in flags:
        out, _ = degrade(img, replace(base, resize_up=(kind,)), seed=3)
        near = {k: min(np.abs(np.clip(cv2.resize(s, (64, 48), interpolation=fl), 0, 1) * 255 - out).max() for s in small)
                for k, fl in flags.items()}
        assert near[kind] <= 1 and min(v for k, v in near.items() if k != kind) > 5, (kind, near)
    drawn = {degrade(img, replace(base, resize_up=("linear", "cubic", "lanczos")), seed=s)[0].tobytes() for s in range(12)}
    assert len(drawn) > 3  # more than the three shrinking interpolations alone give
    assert PRESETS["camera-mix-linear-resample"].resize_up == ("linear", "cubic", "lanczos")
    assert PRESETS["camera-mix-linear"].resize_up == ("linear",)
    assert replace(base, resize_up=np.array(["cubic", "linear"])).resize_up == ("cubic", "linear")
    for bad in ((), "cubic", ("nearest",), [["linear"]], ("cubic", "cubic")):
        with pytest.raises(ValueError, match="resize_up must be a non-empty tuple"):
            replace(base, resize_up=bad)
