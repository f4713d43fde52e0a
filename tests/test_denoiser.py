from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import cvdenoise
import cvdenoise._device as device_module
import cvdenoise.denoiser as denoiser_module
from cvdenoise.model import pad_to, symmetric_pad
from cvdenoise._device import check_half
from cvdenoise.weights import load_model

from helpers import add_noise, psnr


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((37, 53), np.uint8),
        ((37, 53, 1), np.uint8),
        ((37, 53, 3), np.uint8),
        ((37, 53, 4), np.uint8),
        ((37, 53), np.uint16),
        ((37, 53, 3), np.uint16),
        ((37, 53, 3), np.float32),
        ((37, 53), np.float32),
        ((37, 53, 3), np.float64),
        ((1, 1, 3), np.uint8),
        ((3, 200, 3), np.uint8),
    ],
)
def test_numpy_round_trip(fast: cvdenoise.Denoiser, shape: tuple[int, ...], dtype: type) -> None:
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        img = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    else:
        img = rng.random(shape).astype(dtype)
    out = fast(img)
    assert isinstance(out, np.ndarray)
    assert out.shape == img.shape and out.dtype == img.dtype
    if np.issubdtype(dtype, np.floating):
        assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("shape", [(3, 40, 33), (1, 40, 33), (4, 40, 33), (2, 3, 40, 33), (2, 1, 17, 9)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float16])
def test_tensor_round_trip(fast: cvdenoise.Denoiser, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    t = torch.rand(shape)
    t = (t * 255).to(dtype) if dtype == torch.uint8 else t.to(dtype)
    out = fast(t)
    assert isinstance(out, torch.Tensor)
    assert out.shape == t.shape and out.dtype == t.dtype and out.device == t.device


def test_tensor_that_requires_grad(fast: cvdenoise.Denoiser) -> None:
    t = torch.rand(3, 24, 24, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no autograd warning from inside the Denoiser
        out = fast(t)
    assert not out.requires_grad and torch.equal(out, fast(t.detach()))


def test_uint16_tensor(fast: cvdenoise.Denoiser) -> None:
    t = (torch.rand(1, 24, 24) * 65535).to(torch.uint16)
    out = fast(t)
    assert out.dtype == torch.uint16 and out.shape == t.shape


def test_batch_equals_single(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    x = torch.from_numpy(add_noise(clean_rgb, 25)).permute(2, 0, 1).float() / 255
    batch = torch.stack([x, x.flip(-1)])
    out = fast(batch)
    assert torch.allclose(out[0], fast(x), atol=1e-4)
    assert torch.allclose(out[1], fast(x.flip(-1)), atol=1e-4)


def test_rgba_alpha_untouched(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    rgba = np.dstack([add_noise(clean_rgb, 25), np.random.default_rng(1).integers(0, 256, clean_rgb.shape[:2], dtype=np.uint8)])
    out = fast(rgba)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    assert not np.array_equal(out[..., :3], rgba[..., :3])


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_pil_round_trip(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray, mode: str) -> None:
    """A PIL image comes back as a PIL image of the same mode and size, denoised like its array
    (RGB order whatever ``channel_order`` says; alpha untouched)."""
    noisy = add_noise(clean_rgb, 25)
    arrays = {"L": noisy[..., 0], "RGB": noisy, "I;16": noisy[..., 0].astype(np.uint16) * 257,
              "RGBA": np.dstack([noisy, np.arange(noisy[..., 0].size, dtype=np.uint8).reshape(noisy.shape[:2])])}
    arrays["LA"] = arrays["RGBA"][..., [0, 3]]  # gray + alpha: was refused (the CLI took such PNGs)
    img = Image.fromarray(arrays[mode]) if mode != "LA" else Image.merge("LA", [Image.fromarray(a) for a in arrays["LA"].transpose(2, 0, 1)])
    assert img.mode == mode
    out = fast(img)
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == img.size
    if mode == "LA":  # the gray plane as the L image is denoised, the alpha plane as it was
        assert np.array_equal(np.asarray(out)[..., 0], fast(arrays["L"])) and np.array_equal(np.asarray(out)[..., 1], arrays["LA"][..., 1])
    else:
        assert np.array_equal(np.asarray(out), fast(arrays[mode]))
    bgr = cvdenoise.load("fast", channel_order="bgr")
    assert np.array_equal(np.asarray(bgr(img)), np.asarray(out))
    if mode == "RGBA":
        assert np.array_equal(np.asarray(out)[..., 3], arrays[mode][..., 3])
    clean = {"L": clean_rgb[..., 0], "LA": clean_rgb[..., 0], "I;16": clean_rgb[..., 0].astype(np.uint16) * 257}.get(mode, clean_rgb)
    planes = lambda a: a[..., 0] if mode == "LA" else a[..., :3] if a.ndim == 3 else a  # noqa: E731
    err = lambda a: np.abs(planes(a).astype(float) - clean).mean()  # noqa: E731
    assert err(np.asarray(out)) < 0.7 * err(arrays[mode])


def test_pil_mode_i_holding_16_bit_data(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    """Pillow < 10 opens a 16-bit PNG as mode ``I`` (32-bit integers): it was refused."""
    noisy16 = add_noise(clean_rgb, 25)[..., 0].astype(np.uint16) * 257
    img = Image.fromarray(noisy16.astype(np.int32))
    assert img.mode == "I"
    out = fast(img)
    assert isinstance(out, Image.Image) and out.mode == "I" and out.size == img.size
    assert np.array_equal(np.asarray(out), fast(noisy16).astype(np.int32))
    with pytest.raises(ValueError, match=r"mode 'I' with values in \[-5, 70000\]"):
        fast(Image.fromarray(np.array([[-5, 70000], [0, 1]], np.int32)))


@pytest.mark.parametrize(("mode", "hint"), [("P", "convert('RGB')"), ("CMYK", "convert('RGB')"), ("PA", "convert('RGBA')"),
                                            ("1", "convert('L')"), ("F", "np.asarray(image)"), ("gray P", "convert('L')"),
                                            ("gray PA", "convert('LA')")])
def test_pil_modes_without_a_numpy_twin_are_refused(fast: cvdenoise.Denoiser, mode: str, hint: str) -> None:
    """Bilevel and gray-palette images were pointed at convert('RGB'): a gray image back as colour."""
    gray = mode.startswith("gray ")
    mode = mode.removeprefix("gray ")
    img = (Image.new("L", (20, 16), 90) if gray else Image.new("RGB", (20, 16), (10, 200, 30))).convert(mode)
    with pytest.raises(ValueError, match=re.escape(f"mode '{mode}'") + ".*" + re.escape(hint)):
        fast(img)
    if mode == "P" and not gray:  # a palette with a transparent entry: converting to RGB would drop it
        img.info["transparency"] = 0
        with pytest.raises(ValueError, match=re.escape("convert('RGBA')")):
            fast(img)


def test_premultiplied_la_hint_converts() -> None:
    img = Image.new("La", (8, 8))
    with pytest.raises(ValueError, match=re.escape("image.convert('LA')")):
        cvdenoise.load("fast")(img)
    assert cvdenoise.load("fast")(img.convert("LA")).mode == "LA"  # the hint works


def test_pil_result_keeps_the_image_info(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    import io

    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray(clean_rgb[:32, :32]).save(buf, format="PNG", dpi=(300, 300), icc_profile=icc)
    img = Image.open(io.BytesIO(buf.getvalue()))
    out = fast(img)
    assert out.info.get("icc_profile") == icc and tuple(round(v) for v in out.info["dpi"]) == (300, 300)
    saved = io.BytesIO()
    out.save(saved, format="PNG", icc_profile=out.info["icc_profile"])
    assert Image.open(saved).info.get("icc_profile") == icc


def test_masked_array_keeps_its_mask(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    a = add_noise(clean_rgb[:32, :32], 20)
    mask = np.zeros(a.shape, bool)
    mask[:4] = True
    out = fast(np.ma.MaskedArray(a, mask=mask))
    assert isinstance(out, np.ma.MaskedArray) and np.array_equal(out.mask, mask) and out.dtype == np.uint8
    assert np.array_equal(out.data[mask], a[mask])  # masked cells come back as they were
    clean = clean_rgb[:32, :32].astype(int)
    assert np.abs(out.data[4:] - clean[4:]).mean() < 0.7 * np.abs(a[4:] - clean[4:]).mean()  # the rest: denoised


def test_masked_no_data_cells_are_denoised_around(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    """NaN or out-of-range values under the mask (``np.ma.masked_invalid``) are no reason to refuse
    the image; they stay as they were and do not leak into their neighbours."""
    clean = clean_rgb[:48, :48, 0].astype(np.float32) / 255
    noisy = np.clip(add_noise(clean_rgb[:48, :48, 0], 20).astype(np.float32) / 255, 0, 1)
    a = noisy.copy()
    a[:6, :6], a[40:, 40:] = np.nan, 7.0
    out = fast(np.ma.masked_invalid(np.ma.masked_greater(a, 1.0)))
    mask = np.ma.getmaskarray(out)
    assert mask.sum() == 36 + 64 and np.isnan(out.data[:6, :6]).all() and (out.data[40:, 40:] == 7.0).all()
    valid = out.data[~mask]
    assert np.isfinite(valid).all() and 0 <= valid.min() and valid.max() <= 1
    assert np.abs(valid - clean[~mask]).mean() < 0.7 * np.abs(noisy[~mask] - clean[~mask]).mean()
    with pytest.raises(ValueError, match="NaN"):  # unmasked NaN is still refused
        fast(np.ma.MaskedArray(a, mask=np.zeros(a.shape, bool)))


def test_strength_array_of_several_values_gets_the_strength_message(fast: cvdenoise.Denoiser) -> None:
    with pytest.raises(ValueError, match=re.escape("strength must be a number in [0, 1] or 'auto', got array(")):
        fast(np.zeros((16, 16, 3), np.uint8), strength=np.array([0.5, 0.2]))


@pytest.mark.parametrize(("mode", "dtype"), [("I;16B", ">u2"), ("I;16L", "<u2"), ("I;16N", "=u2")])
def test_pil_16_bit_modes_of_either_byte_order(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray, mode: str, dtype: str) -> None:
    """Big-endian 16-bit TIFFs open as ``I;16B``: denoised at full 16-bit range, same mode back."""
    a = add_noise(clean_rgb[:40, :40, 0], 15).astype(np.uint16) * 200
    img = Image.frombytes(mode, (40, 40), a.astype(dtype).tobytes())
    out = fast(img)
    assert out.mode == mode and out.size == img.size
    assert np.array_equal(np.asarray(out).astype(np.uint16), fast(a))


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16"])
def test_pil_image_with_a_transparent_colour_is_refused(fast: cvdenoise.Denoiser, mode: str) -> None:
    """A colour key (PNG tRNS) cannot survive denoising, which moves pixels onto and off it."""
    import io

    buf = io.BytesIO()
    src = {"L": Image.new("L", (16, 16), 7), "RGB": Image.new("RGB", (16, 16), (0, 255, 0)),
           "I;16": Image.fromarray(np.full((16, 16), 7, np.uint16))}[mode]
    src.save(buf, "PNG", transparency=7 if mode != "RGB" else (0, 255, 0))
    img = Image.open(io.BytesIO(buf.getvalue()))
    assert img.mode == mode and "transparency" in img.info
    hint = "image.convert('RGBA')" if mode != "I;16" else "image.info.pop('transparency')"
    with pytest.raises(ValueError, match="transparent colour.*" + re.escape(hint)):
        fast(img)
    if mode != "I;16":  # the hint works: the key becomes alpha, kept untouched
        rgba = img.convert("RGBA")
        assert np.array_equal(np.asarray(fast(rgba))[..., 3], np.asarray(rgba)[..., 3])


def test_tv_tensor_image_comes_back_wrapped(fast: cvdenoise.Denoiser) -> None:
    from torchvision import tv_tensors

    x = tv_tensors.Image(torch.rand(3, 24, 24))
    out = fast(x)
    assert type(out) is tv_tensors.Image and out.shape == x.shape
    assert torch.equal(out.as_subclass(torch.Tensor), fast(x.as_subclass(torch.Tensor)))
    assert type(fast(torch.nn.Parameter(torch.rand(3, 24, 24)))) is torch.Tensor  # other subclasses: plain
    video = tv_tensors.Video(torch.rand(2, 3, 24, 24))
    assert type(fast(video)) is tv_tensors.Video
    # targets are refused: a Mask of class indices came back a Mask with 95 % of its labels changed (audit s59)
    labels = tv_tensors.Mask(torch.randint(0, 21, (1, 24, 24), dtype=torch.uint8))
    with pytest.raises(TypeError, match="tv_tensors.Mask holds targets"):
        fast(labels)


def test_tensors_without_values_are_refused_by_kind(fast: cvdenoise.Denoiser) -> None:
    for t, kind in [(torch.rand(3, 8, 8).to_sparse(), "sparse"), (torch.empty(3, 8, 8, device="meta"), "meta")]:
        with pytest.raises(TypeError, match=kind):
            fast(t)


def test_normalised_floats_get_a_normalize_hint(fast: cvdenoise.Denoiser) -> None:
    with pytest.raises(ValueError, match="denoise before Normalize"):
        fast(torch.rand(3, 8, 8) * 4 - 2)
    with pytest.raises(ValueError, match="divide uint8 data by 255"):
        fast(torch.rand(3, 8, 8) * 255)


def test_float_tolerance_is_the_documented_one_thousandth(fast: cvdenoise.Denoiser) -> None:
    a = np.full((16, 16), 0.5)
    a[0, 0], a[0, 1] = -0.001, 1.001  # the bound itself (float64, cast to float32 inside) is accepted
    out = fast(a)
    assert out.dtype == np.float64 and 0.0 <= out.min() and out.max() <= 1.0  # and clipped
    a[0, 0] = -0.0011
    with pytest.raises(ValueError, match=r"\(±0.001 for rounding\); got values in \[-0.0011, "):
        fast(a)


def test_bgr_order_matches_rgb(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 25)
    rgb_out = fast(noisy)
    bgr_out = fast(np.ascontiguousarray(noisy[..., ::-1]), channel_order="bgr")
    assert np.abs(bgr_out[..., ::-1].astype(int) - rgb_out.astype(int)).max() <= 1


def test_strength(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 25)
    assert np.array_equal(fast(noisy, strength=0.0), noisy)
    full, half = fast(noisy).astype(float), fast(noisy, strength=0.5).astype(float)
    assert np.abs(half - (noisy + 0.5 * (full - noisy))).max() <= 1.0


# ---------------------------------------------------------------- tiling
def test_ensemble_averages_flipped_passes(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    # non-square: transpose path; padded by the border to 232×184, multiples of 8, so the flipped
    # pass of a separate call is on the same grid (else the ensemble pads to the grid first)
    noisy = add_noise(clean_rgb[:200, :152], 25).astype(np.float32) / 255
    ens2 = cvdenoise.load("fast", ensemble=2)
    manual = (fast(noisy) + fast(np.ascontiguousarray(noisy[:, ::-1]))[:, ::-1]) / 2
    assert np.abs(ens2(noisy) - manual).max() < 1e-5
    ens4 = cvdenoise.load("fast", ensemble=4)
    out4 = ens4(noisy)
    assert out4.shape == noisy.shape and out4.dtype == np.float32
    assert psnr(out4 * 255, clean_rgb[:200, :152]) > psnr(fast(noisy) * 255, clean_rgb[:200, :152])
    with pytest.raises(ValueError, match="ensemble"):
        cvdenoise.load("fast", ensemble=3)
    assert "ensemble=4" in repr(ens4)


def test_tiling_matches_single_pass(clean_rgb: np.ndarray) -> None:
    half = np.concatenate([clean_rgb, clean_rgb[::-1]], 0)
    noisy = add_noise(np.concatenate([half, half[:, ::-1]], 1), 25).astype(np.float32) / 255  # 512×512
    whole = cvdenoise.load("fast", tile=0)(noisy)
    # the default overlap (96) covers the model's context: with 64 the camera-noise-trained fast
    # model left up to 7 levels at seams; with 96 under 3
    tiled_den = cvdenoise.load("fast", tile=320, batch_size=3)  # 4×4 tiles
    tiled = tiled_den(noisy)
    diff = np.abs(whole - tiled)
    assert diff.mean() < 5e-4 and diff.max() < 0.02, (diff.mean(), diff.max())


@pytest.mark.parametrize("hw, ensemble", [((301, 437), 1), ((256, 333), 1), ((301, 437), 2)])
def test_tiling_matches_single_pass_at_odd_sizes(clean_rgb: np.ndarray, hw: tuple[int, int], ensemble: int) -> None:
    # sizes whose last tile would start off the model's 8-pixel grid: the models are not
    # shift-invariant, so such a tile differed from the whole pass by up to ~30 levels; with an
    # ensemble, the whole pass's flipped passes were padded off the grid (up to 8 levels, 0.37 on average)
    big = np.concatenate([clean_rgb, clean_rgb[::-1]], 0)
    big = np.concatenate([big, big[:, ::-1]], 1)[: hw[0], : hw[1]]
    noisy = add_noise(np.ascontiguousarray(big), 20)
    whole = cvdenoise.load("fast", tile=0, half=False, ensemble=ensemble)(noisy).astype(int)
    tiled = cvdenoise.load("fast", tile=200, half=False, ensemble=ensemble)(noisy)
    diff = np.abs(whole - tiled)
    assert diff.max() <= 6 and diff.mean() < 0.1, (diff.max(), diff.mean())


@pytest.mark.parametrize("n, before, after, multiple", [(37, 16, 16, 8), (5, 16, 16, 16), (1, 3, 4, 8), (64, 0, 0, 16),
                                                        (20, 16, 5, 16), (2, 0, 0, 8)])
def test_padded_index_reads_the_rows_of_the_padded_image(n: int, before: int, after: int, multiple: int) -> None:
    # a tile gathers its rows and columns from the unpadded image: the same values as a slice of
    # the whole image padded (mirrored border, then reflected to the model's multiple)
    x = torch.rand(2, 3, n, 11)
    padded = symmetric_pad(x, (before, after, 0, 0))
    padded = pad_to(padded, -(-padded.shape[-2] // multiple) * multiple, 11)
    rows = denoiser_module._padded_index(n, before, after, multiple, x.device)
    assert torch.equal(x[:, :, rows], padded)


def test_a_tiled_image_is_never_padded_whole(clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # the whole-image padded copy was a full-size float32 buffer (580 MB for 48 MP): each tile now
    # gathers its own pixels, with the same result
    img = add_noise(np.concatenate([clean_rgb, clean_rgb[::-1]], 0), 20)  # 256×256
    sizes: list[int] = []
    real_pad = denoiser_module.symmetric_pad
    monkeypatch.setattr(denoiser_module, "symmetric_pad", lambda x, p: (sizes.append(x.numel()), real_pad(x, p))[1])
    out = cvdenoise.load("fast", tile=128, overlap=32, half=False)(img)
    assert sizes and max(sizes) < img.size / 8, sizes  # (only the index vectors of the rows and columns)
    assert psnr(out, np.concatenate([clean_rgb, clean_rgb[::-1]], 0)) > psnr(img, np.concatenate([clean_rgb, clean_rgb[::-1]], 0)) + 3


def test_tiling_batch_tensor(clean_rgb: np.ndarray) -> None:
    x = torch.from_numpy(add_noise(clean_rgb, 15)).permute(2, 0, 1).float()[None] / 255
    x = torch.cat([x, x.flip(-2)])
    whole = cvdenoise.load("fast", tile=0)(x)
    tiled = cvdenoise.load("fast", tile=128, overlap=32)(x)
    assert (whole - tiled).abs().mean() < 1e-3


def test_large_image_bounded(fast: cvdenoise.Denoiser) -> None:
    den = cvdenoise.load("fast", tile=256, overlap=32)
    img = np.full((700, 1100, 3), 128, np.uint8)
    out = den(img)
    assert out.shape == img.shape and np.abs(out.astype(int) - 128).max() <= 2


# ---------------------------------------------------------------- quality
@pytest.mark.parametrize("name", ["fast", "default"])
def test_shipped_model_removes_noise_color(name: str, clean_rgb: np.ndarray, request: pytest.FixtureRequest) -> None:
    den = request.getfixturevalue(name)
    for sigma in (15, 25, 50):
        noisy = add_noise(clean_rgb, sigma, seed=sigma)
        gain = psnr(den(noisy), clean_rgb) - psnr(noisy, clean_rgb)
        assert gain > 3.0, (name, sigma, gain)


@pytest.mark.parametrize("name", ["fast", "default"])
def test_shipped_model_removes_noise_gray_16bit(name: str, clean_gray: np.ndarray, request: pytest.FixtureRequest) -> None:
    den = request.getfixturevalue(name)
    clean16 = clean_gray.astype(np.uint16) * 257
    noisy = add_noise(clean16, 20)
    out = den(noisy)
    assert out.dtype == np.uint16
    gain = psnr(out, clean16, 65535.0) - psnr(noisy, clean16, 65535.0)
    assert gain > 3.0, gain


def test_gray_input_on_color_only_model(clean_gray: np.ndarray) -> None:
    den = cvdenoise.load("color-fast")
    assert den.channels == (3,)
    noisy = add_noise(clean_gray, 25)
    assert psnr(den(noisy), clean_gray) > psnr(noisy, clean_gray) + 3


def test_color_input_on_gray_only_model(clean_rgb: np.ndarray) -> None:
    den = cvdenoise.load("gray-fast")
    noisy = add_noise(clean_rgb, 25)
    out = den(noisy)
    assert out.shape == noisy.shape and psnr(out, clean_rgb) > psnr(noisy, clean_rgb) + 3


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gray_stored_as_three_planes_stays_gray(fast: cvdenoise.Denoiser, clean_gray: np.ndarray, dtype: type) -> None:
    # cv2.imread of a gray file gives three equal planes; the colour model gave them up to
    # 18 levels of false colour (and a gray frame must come out gray for a detector)
    noisy = add_noise(clean_gray[:96, :96], 25)
    planes = np.repeat(noisy[:, :, None], 3, axis=2)
    if dtype == np.float32:
        noisy, planes = noisy.astype(np.float32) / 255, planes.astype(np.float32) / 255
    for order in ("rgb", "bgr"):
        out = fast(planes, channel_order=order)
        assert out.dtype == dtype and out.flags.c_contiguous
        assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], out[:, :, 2])
        assert np.abs(out[:, :, 0].astype(np.float64) - fast(noisy)).max() <= (1 if dtype == np.uint8 else 1e-5)
    # nearly equal planes (a colour codec's rounding) are gray content too: the gray model's change
    # is added to each plane, so no colour is made and the small differences stay as they were
    off = planes.copy()
    top = 255 if dtype == np.uint8 else 1.0
    off[::2, ::2, 0] = np.minimum(off[::2, ::2, 0] + top * 2 / 255, top).astype(dtype)
    out = fast(off)
    tol = 1 if dtype == np.uint8 else 1e-5
    inside = ((out > 0) & (out < top)).all(axis=2)  # (a plane stepped over an end is clamped: outputs stay in range)
    kept = (out[..., 0].astype(float) - out[..., 2]) - (off[..., 0].astype(float) - off[..., 2])
    assert inside.mean() > 0.9 and np.abs(kept[inside]).max() <= tol
    assert np.abs(out[..., 2].astype(float) - fast(noisy)).max() <= (1 if dtype == np.uint8 else 1.5 / 255)
    tinted = planes.copy()
    tinted[40:60, 40:60, 2] = 0
    out = fast(tinted)
    assert not np.array_equal(out[:, :, 0], out[:, :, 2])


def test_a_dark_16_bit_gray_image_takes_the_gray_path_like_its_8_bit_copy(fast: cvdenoise.Denoiser,
                                                                           clean_gray: np.ndarray) -> None:
    """The gray tolerance of uint16 data is taken of its full scale (65535 for values from 4096 on),
    not of a dark image's own peak: its uint8 copy and it get the same model."""
    from cvdenoise.video import FrameFilter

    base = clean_gray[:96, :96].astype(float) * 0.3  # a dark gray scene, peak about 77
    noise = np.random.default_rng(0).normal(0, 5, (96, 96, 1))
    u8 = np.clip(np.dstack([base + 2, base, base - 1]) + noise, 0, 255).round().astype(np.uint8)
    u16 = u8.astype(np.uint16) * 257
    o8, o16 = fast(u8), fast(u16).astype(float) / 257
    assert np.abs(o8 - o16).max() <= 1.0  # (the colour model for the uint16 copy: 6.6 levels apart)
    assert np.ptp(o16, axis=2).max() <= 3.5  # no colour made up
    ff = FrameFilter("fast")
    f8, f16 = ff(u8), FrameFilter("fast")(u16).astype(float) / 257
    assert np.abs(f8 - f16).max() <= 1.0


def test_gray_content_is_told_apart_from_toned_and_deep_colour(fast: cvdenoise.Denoiser, clean_gray: np.ndarray,
                                                               clean_rgb: np.ndarray) -> None:
    from cvdenoise.denoiser import gray_content

    g = clean_gray[:64, :64].astype(int)
    warm = np.dstack([g + 4, g, g - 4]).clip(0, 255).astype(np.uint8)  # R and B 8 levels apart: toned, not gray
    as_t = lambda a, full: torch.from_numpy(a / full).float().permute(2, 0, 1)[None]  # noqa: E731
    assert gray_content(as_t(warm, 255)) == [False]
    out = fast(warm)
    assert abs((out[..., 0].astype(float) - out[..., 2]).mean() - 8) < 1.5  # the tone is kept
    ten_bit = (clean_rgb[:64, :64].astype(np.uint32) * 1023 // 255).astype(np.uint16)  # 10-bit colour held in uint16
    assert gray_content(as_t(ten_bit, 65535), relative=True) == [False]
    with warnings.catch_warnings():  # (the unscaled-10-bit warning: this test feeds such data on purpose)
        warnings.simplefilter("ignore")
        out = fast(ten_bit)
    assert np.abs(np.diff(out.astype(int), axis=2)).max() > 100  # colour kept
    # per image in a batch: a gray image next to a colour one still goes the gray way
    g3 = np.repeat(add_noise(clean_gray[:64, :64], 20)[..., None], 3, axis=2)
    batch = torch.from_numpy(np.stack([g3, clean_rgb[:64, :64]])).permute(0, 3, 1, 2)
    out = fast(batch)
    s_batch = fast.last_strength
    alone = fast(torch.from_numpy(g3).permute(2, 0, 1))
    assert torch.equal(out[0], alone) and torch.equal(out[0, 0], out[0, 2])
    fast(g3)
    assert len(s_batch) == 2 and s_batch[0] == fast.last_strength[0]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "bad,exc,words",
    [
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        (np.zeros((10, 10, 2), np.uint8), ValueError, "channels"),
        (np.zeros((10, 10, 5), np.uint8), ValueError, "channels"),
        (np.zeros((2, 10, 10, 3), np.uint8), ValueError, "dimensions"),
        (np.full((8, 8, 3), np.nan, np.float32), ValueError, "NaN"),
        (np.full((8, 8, 3), 2.0, np.float32), ValueError, "[0, 1]"),
        (np.zeros((8, 8, 3), np.int32), TypeError, "dtype"),
        (np.zeros((8, 8, 3), bool), TypeError, "dtype"),
        (torch.zeros(2, 8, 8), ValueError, "channels"),
        (torch.zeros(20, 30, 3), ValueError, "looks like (H,W,C): use t.permute(2, 0, 1)"),
        (np.zeros((3, 20, 30), np.uint8), ValueError, "looks like (C,H,W): use a.transpose(1, 2, 0)"),
        (torch.zeros(8), ValueError, "(C,H,W)"),
        (torch.zeros(3, 0, 8), ValueError, "empty"),
        (torch.zeros(3, 8, 8, dtype=torch.int64), TypeError, "dtype"),
        ([[0, 1], [2, 3]], TypeError, "numpy array, torch tensor, PIL image or pydicom Dataset"),
        ([np.zeros((8, 8, 3), np.uint8)] * 2, TypeError, "got builtins.list (one image per call, or a (B,C,H,W) torch tensor for a batch"),
        (cv2.UMat(np.zeros((8, 8, 3), np.uint8)), TypeError, "UMat (umat.get() gives its numpy array)"),
        ("image.png", TypeError, "got builtins.str (a path: read the file first, e.g. cv2.imread(path)"),
        (None, TypeError, "got builtins.NoneType (cv2.imread returns None for a file it cannot read: check the path)"),
    ],
)
def test_bad_input_errors(fast: cvdenoise.Denoiser, bad: object, exc: type, words: str) -> None:
    with pytest.raises(exc, match=words.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        fast(bad)  # type: ignore[arg-type]


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="channel_order"):
        cvdenoise.load("fast", channel_order="brg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strength"):
        cvdenoise.load("fast", strength=2.0)
    with pytest.raises(ValueError, match="half must be"):
        cvdenoise.load("fast", half="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tile"):
        cvdenoise.load("fast", tile=64, overlap=64)
    with pytest.raises(ValueError, match=r"tile must be an integer \(0: no tiling\), got None"):
        cvdenoise.load("fast", tile=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("like_true", [np.True_, 1, 1.0, np.int64(1)])
def test_half_takes_a_value_equal_to_true_as_true(like_true: object) -> None:
    # np.True_ / 1 passed the "half must be" check but not a later `half is True`: on a CPU with
    # slow bf16 units half=np.True_ was refused ("no bfloat16 units") where half=True runs bf16
    def outcome(half: object) -> str:
        try:
            return cvdenoise.load("fast", half=half).precision  # type: ignore[arg-type]
        except ValueError as e:  # (half=True where this machine has no half type: the same refusal)
            return str(e)

    assert outcome(like_true) == outcome(True)
    assert cvdenoise.load("fast", half=np.False_).precision == "fp32"
    assert check_half(like_true) is True and check_half(0) is False and check_half("auto") == "auto"
    for bad in (2, None, "true", np.array([1]), float("nan")):
        with pytest.raises(ValueError, match="half must be True, False or 'auto'"):
            check_half(bad)


def test_options_set_after_loading_are_checked_at_the_call() -> None:
    den = cvdenoise.load("fast")
    x = torch.rand(2, 3, 16, 16)
    den.batch_size = 0
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        den(x)
    den.batch_size = 4
    den.tile = 50  # below 2 × overlap + multiple: load() refuses it, so must the call
    with pytest.raises(ValueError, match=r"tile \(50\) must be at least"):
        den(x)
    den.tile = 2048
    assert den(x).shape == x.shape


def test_last_strength_is_a_copy_and_cleared_by_a_failed_call(fast: cvdenoise.Denoiser) -> None:
    fast(np.zeros((16, 16, 3), np.uint8), strength=0.5)
    got = fast.last_strength
    got.append(99.0)
    assert fast.last_strength == [0.5]
    with pytest.raises(ValueError):
        fast(np.zeros((16, 16, 2), np.uint8))
    assert fast.last_strength == []


def test_repr_and_channels(default: cvdenoise.Denoiser) -> None:
    assert default.channels == (1, 3)
    assert "default" in repr(default)


def test_half_on_a_cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_bf16_units", lambda: None)
    with pytest.raises(ValueError, match="AMX"):
        cvdenoise.load("fast", half=True)
    assert cvdenoise.load("fast", half="auto").precision == "fp32"
    assert cvdenoise.load("fast").precision == "fp32"


@pytest.mark.parametrize(("amx", "avx512_bf16", "vendor", "expected", "auto"), [
    (True, True, "GenuineIntel", "amx", "bf16"), (True, False, "GenuineIntel", "amx", "bf16"),
    (False, True, "AuthenticAMD", "avx512_bf16", "bf16"),  # Zen 4 and newer: about 2x float32
    (False, True, "GenuineIntel", "avx512_bf16", "fp32"),  # Cooper Lake, AMX hidden by a VM: slower than float32
    (False, False, "AuthenticAMD", None, "fp32"),
])
def test_cpu_bf16_units_reads_the_cpu_flags(monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool, vendor: str,
                                            expected: str | None, auto: str) -> None:
    """AMX wins over AVX512-BF16 (Sapphire Rapids has both); "auto" takes bfloat16 only where it is
    faster than float32: AMX, or AVX512-BF16 on AMD (on an Intel VM without AMX it took 1.6x the
    float32 time); half=True takes it wherever the units are."""
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(device_module, "cpu_vendor", lambda: vendor)
    assert denoiser_module.cpu_bf16_units() == expected
    assert denoiser_module.cpu_has_fast_bf16() is (auto == "bf16")
    assert denoiser_module.resolve_precision("auto", torch.device("cpu")) == auto
    if expected is not None:
        assert denoiser_module.resolve_precision(True, torch.device("cpu")) == "bf16"
    else:
        with pytest.raises(ValueError, match="AMX"):
            denoiser_module.resolve_precision(True, torch.device("cpu"))


@pytest.mark.parametrize(("units", "vendor", "flags", "auto"), [
    (None, "AuthenticAMD", {"avx2", "avx_vnni"}, ("fp32", 1)),
    ("avx512_bf16", "AuthenticAMD", {"avx512_bf16", "avx512_vnni"}, ("bf16", 1)),  # Zen 4: two passes > 1 s
    ("avx512_bf16", "AuthenticAMD", {"avx512_bf16", "avx512_vnni", "avx_vnni"}, ("bf16", 2)),  # Zen 5
    ("avx512_bf16", "GenuineIntel", {"avx512_bf16", "avx512_fp16", "avx_vnni"}, ("fp32", 1)),  # Intel, AMX hidden
    ("amx", "GenuineIntel", {"amx_tile", "avx512_bf16"}, ("bf16", 2)),
])
def test_auto_ensemble_spends_bf16_speed_on_the_quality_model(monkeypatch: pytest.MonkeyPatch, units: str | None,
                                                              vendor: str, flags: set[str], auto: tuple[str, int],
                                                              tmp_path: Path) -> None:
    """``load()`` defaults: bfloat16 on CPUs with AMX or AMD's AVX512-BF16, with a 2-pass self-ensemble
    for ``default``-size models where two bfloat16 passes are fast (AMX; AVX512-BF16 with AVX-VNNI,
    i.e. Zen 5) and one pass on other AMD AVX512-BF16 CPUs (Zen 4), float32 elsewhere (an Intel CPU
    with AVX512-BF16 and AVX-VNNI but no AMX too: bfloat16 is slower there); ``fast``
    models, float32 and explicit values are left alone."""
    monkeypatch.setattr(device_module, "cpu_bf16_units", lambda: units)
    monkeypatch.setattr(device_module, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(device_module, "cpu_flags", lambda: frozenset(flags))
    for name in ("default", "gray-default", "color-default"):
        den = cvdenoise.load(name)
        assert (den.precision, den.ensemble) == auto, name
    assert (cvdenoise.load("fast").precision, cvdenoise.load("fast").ensemble) == (auto[0], 1)
    assert cvdenoise.load("default", half=False).ensemble == 1
    assert cvdenoise.load("default", ensemble=2).ensemble == 2
    assert cvdenoise.load("default", half=False, ensemble=8).ensemble == 8
    # a file of the default architecture counts; another architecture does not
    from cvdenoise.weights import save_weights

    save_weights(load_model("color-default"), tmp_path / "mine.safetensors")
    assert cvdenoise.load(tmp_path / "mine.safetensors", strength=1.0).ensemble == auto[1]
    with pytest.raises(ValueError, match="ensemble"):
        cvdenoise.load("default", ensemble="best")  # type: ignore[arg-type]


def test_cpu_vendor_reads_proc_cpuinfo_or_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    vendor = denoiser_module.cpu_vendor()
    assert vendor is denoiser_module.cpu_vendor()  # cached
    if Path("/proc/cpuinfo").exists() and platform.machine() in ("x86_64", "AMD64"):
        assert vendor in ("GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls", "Shanghai")
    cpu_vendor = device_module.cpu_vendor.__wrapped__  # (uncached) where Linux gives no vendor_id: Windows' platform string
    monkeypatch.setattr(device_module, "_cpuinfo", lambda field: "")
    monkeypatch.setattr(platform, "processor", lambda: "AMD64 Family 25 Model 97 Stepping 2, AuthenticAMD")
    assert cpu_vendor() == "AuthenticAMD"
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert cpu_vendor() == ""


def test_cpu_flags_reads_proc_cpuinfo() -> None:
    """The flags line of /proc/cpuinfo where Linux has one, an empty set elsewhere; cached."""
    flags = denoiser_module.cpu_flags()
    assert flags is denoiser_module.cpu_flags()
    if Path("/proc/cpuinfo").exists() and platform.machine() in ("x86_64", "AMD64"):
        assert {"sse2", "fpu"} <= flags  # every x86-64 CPU has them
        assert all(f == f.strip() and f for f in flags)
    else:
        assert isinstance(flags, frozenset)


@pytest.mark.skipif(denoiser_module.cpu_bf16_units() is None, reason="needs a CPU with AMX or AVX512-BF16")
def test_cpu_bf16_is_close_to_fp32(clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 25)
    fp32, bf16 = cvdenoise.load("fast", half=False), cvdenoise.load("fast", half=True)
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, b = fp32(noisy).astype(float), bf16(noisy).astype(float)
    assert np.abs(a - b).mean() < 0.5 and np.abs(a - b).max() <= 4  # 8-bit levels
    assert abs(psnr(b.astype(np.uint8), clean_rgb) - psnr(a.astype(np.uint8), clean_rgb)) < 0.1


def test_staging_path_gives_identical_results(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path (integers uploaded, converted and quantised on the device) is exact: here it
    is forced onto the CPU and must equal the plain path for every input kind."""
    noisy = add_noise(clean_rgb, 25)
    inputs = [noisy, noisy[:, :, :1], (noisy.astype(np.uint16) * 257), noisy.astype(np.float32) / 255,
              torch.from_numpy(noisy).permute(2, 0, 1), torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255]
    plain = [fast(x) for x in inputs]
    monkeypatch.setattr(fast, "_staging_device", lambda hw: torch.device("cpu"))
    for x, ref in zip(inputs, plain):
        out = fast(x)
        assert type(out) is type(ref) and out.dtype == ref.dtype and out.shape == ref.shape
        assert (np.array_equal(out, ref) if isinstance(ref, np.ndarray) else torch.equal(out, ref))


def test_staging_device_choice() -> None:
    den = cvdenoise.load("fast", tile=256)
    assert den._staging_device((100, 100)) is None  # CPU: nothing to stage
    den._device = torch.device("cuda")  # only the decision is exercised; nothing runs there
    assert den._staging_device((100, 100)) == torch.device("cuda")
    assert den._staging_device((100, 300)) is None  # tiled: stays in host memory
    assert den._staging_device((240, 100)) is None  # 240 + 2 × 16 border > 256: tiled too
    assert den._will_tile(240, 100) and not den._will_tile(224, 224)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half(clean_rgb: np.ndarray) -> None:
    den = cvdenoise.load("fast", device="cuda", half=True)
    noisy = add_noise(clean_rgb, 25)
    out = den(noisy)
    assert np.isfinite(out).all() and psnr(out, clean_rgb) > psnr(noisy, clean_rgb) + 3
    t = torch.from_numpy(noisy).permute(2, 0, 1).cuda()
    assert den(t).device.type == "cuda"
    cpu_t = torch.from_numpy(noisy).permute(2, 0, 1)  # a CPU tensor is staged and comes back
    res = den(cpu_t)
    assert res.device.type == "cpu" and res.dtype == torch.uint8
    assert (res.int() - torch.from_numpy(out).permute(2, 0, 1).int()).abs().max() <= 1


def test_loaded_model_is_the_file() -> None:
    m = load_model("color-fast")
    den = cvdenoise.load("color-fast", tile=0, border=0, half=False)
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(den(x), m(x), atol=1e-6)


def test_first_calls_from_two_threads_load_the_gray_model_once(clean_gray: np.ndarray) -> None:
    # the gray twin loads lazily; two threads racing into the first gray call used to see the
    # loader in place of the model (one of them failed)
    import pickle
    import threading

    for _ in range(3):
        den = cvdenoise.load("fast", half=False)
        img = add_noise(clean_gray[:64, :64], 20)
        outs: list[np.ndarray] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                outs.append(den(img))
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(outs) == 4 and all(np.array_equal(o, outs[0]) for o in outs)
    clone = pickle.loads(pickle.dumps(den))  # still picklable (the lock is rebuilt)
    assert np.array_equal(clone(img), outs[0])


def test_bad_arguments_are_named_at_load() -> None:
    for bad in ("gpu", "tpu:0", 3.5):
        with pytest.raises(ValueError, match="device"):
            cvdenoise.load("fast", bad)  # type: ignore[arg-type]
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS"):
            cvdenoise.load("fast", "mps")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA device"):
            cvdenoise.load("fast", f"cuda:{torch.cuda.device_count()}")
    for kw in ({"tile": 256.5}, {"batch_size": 2.5}, {"overlap": "32"}, {"border": True}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            cvdenoise.load("fast", **kw)  # type: ignore[arg-type]
    assert cvdenoise.load("fast", tile=np.int64(256)).tile == 256  # numpy integers are integers
    den = cvdenoise.load("fast", strength=np.float32(0.5))  # and numpy floats are numbers
    assert den.strength == 0.5


def test_tensor_outputs_keep_a_plain_memory_layout(fast: cvdenoise.Denoiser) -> None:
    # batch-1 outputs used to come back with channels-last strides (`.view(-1)` failed)
    for x in (torch.rand(3, 40, 56), torch.rand(1, 3, 40, 56), (torch.rand(2, 1, 40, 56) * 255).byte()):
        y = fast(x)
        assert y.is_contiguous() and y.view(-1).numel() == x.numel()
    cl = torch.rand(2, 3, 40, 56).contiguous(memory_format=torch.channels_last)
    assert fast(cl).is_contiguous(memory_format=torch.channels_last)


def test_tiles_per_pass_are_capped_by_pixels(clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # peak memory follows the pixels of one forward pass: batch_size tiles, but no more than
    # TILE_PIXELS_PER_PASS of them (4 tiles of 2048² took 3.3 GB with `fast`)
    monkeypatch.setattr(denoiser_module, "TILE_PIXELS_PER_PASS", 2 * 200 * 200)
    den = cvdenoise.load("fast", tile=200, batch_size=4, half=False)
    model = den._backend(3)
    seen: list[int] = []
    monkeypatch.setitem(den._models, 3, lambda x: (seen.append(x.shape[0]), model(x))[1])
    img = add_noise(np.concatenate([clean_rgb, clean_rgb], 1), 20)  # 256×512: 2×5 tiles of 200²
    out = den(img)
    assert len(seen) >= 3 and max(seen) == 2 and all(n == 2 for n in seen[:-1])
    assert np.array_equal(out, cvdenoise.load("fast", tile=200, batch_size=1, half=False)(img))


def test_float64_input_keeps_exact_alpha_and_strength_zero(fast: cvdenoise.Denoiser) -> None:
    a = np.random.default_rng(3).random((40, 50, 4))  # float64 RGBA
    assert np.array_equal(fast(a, strength=0), a)  # used to come back rounded through float32
    out = fast(a)
    assert out.dtype == np.float64 and np.array_equal(out[..., 3], a[..., 3])
    t = torch.rand(2, 3, 20, 20, dtype=torch.float64)
    assert torch.equal(fast(t, strength=0), t) and fast.last_strength == [0.0, 0.0]


def test_last_strength_is_per_thread() -> None:
    """Two threads sharing a Denoiser each read the strengths of their own last call."""
    import threading

    den = cvdenoise.load("fast", half=False)
    x = np.full((16, 16, 3), 128, np.uint8)
    both_called = threading.Barrier(2)
    seen: dict[float, list[float]] = {}

    def run(strength: float) -> None:
        den(x, strength=strength)
        both_called.wait()  # both calls are done before either reads
        seen[strength] = den.last_strength

    threads = [threading.Thread(target=run, args=(s,)) for s in (0.25, 0.75)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {0.25: [0.25], 0.75: [0.75]}
    assert den.last_strength == []  # this thread made no call
    den(x, strength=0.5)
    assert den.last_strength == [0.5]
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(den)).last_strength == [] and copy.deepcopy(den)(x).shape == x.shape


def test_argument_checks_found_by_the_api_audit(tmp_path: Path) -> None:
    for kw, match in ((dict(ensemble=True), "ensemble"), (dict(ensemble=2.0), "ensemble"), (dict(tile=-5), "0: no tiling")):
        with pytest.raises(ValueError, match=match):
            cvdenoise.load("fast", **kw)
    den = cvdenoise.load("fast")
    with pytest.raises(ValueError, match="channel_order"):  # "" was taken as the default
        den(np.zeros((8, 8, 3), np.uint8), channel_order="")
    with pytest.raises(cvdenoise.weights.WeightsError, match="folder"):
        cvdenoise.load(str(tmp_path))
    assert den(Image.new("LA", (8, 8))).mode == "LA"  # gray + alpha is taken as it is (was: convert('RGBA'))
    with pytest.raises(ValueError, match=r"convert\('RGBA'\)"):  # keeps the alpha of a colour palette image
        den(Image.new("RGBA", (8, 8), (200, 10, 10, 128)).convert("PA"))


def test_float64_tensor_alpha_comes_back_exactly() -> None:
    den = cvdenoise.load("fast")
    for x in (torch.rand(4, 24, 24, dtype=torch.float64), torch.rand(2, 4, 24, 24, dtype=torch.float64)):
        y = den(x)
        assert y.dtype == torch.float64 and torch.equal(y[..., 3, :, :], x[..., 3, :, :])


def test_weights_without_their_card_warn_that_auto_strength_has_no_rule(tmp_path: Path) -> None:
    import shutil

    from cvdenoise.weights import resolve

    src = resolve("color-fast")
    shutil.copy(src, tmp_path / "copy.safetensors")
    with pytest.warns(UserWarning, match="no model card"):
        bare = cvdenoise.load(tmp_path / "copy.safetensors")
    assert bare.rules == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cvdenoise.load(tmp_path / "copy.safetensors", strength=1.0)  # a fixed strength needs no rule
        shutil.copy(src.with_suffix(".json"), tmp_path / "copy.json")
        assert cvdenoise.load(tmp_path / "copy.safetensors").rules  # the card brings the rule
    card = json.loads(src.with_suffix(".json").read_text())
    del card["auto_strength"]  # a card as `cvdenoise train` writes it: no fitted rule
    (tmp_path / "copy.json").write_text(json.dumps(card))
    with pytest.warns(UserWarning, match="its model card has no auto_strength rule"):
        assert cvdenoise.load(tmp_path / "copy.safetensors").rules == {}


def test_big_endian_arrays_keep_their_dtype(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    noisy = add_noise(clean_rgb, 20)[:48, :64].astype(np.uint16) * 257
    big = noisy.astype(">u2")
    out = fast(big)
    assert out.dtype == np.dtype(">u2") and np.array_equal(out, fast(noisy))
    f = (noisy / 65535).astype(">f4")
    assert fast(f).dtype == np.dtype(">f4")


def test_auto_strength_zero_result_never_shares_the_input(fast: cvdenoise.Denoiser) -> None:
    # a black frame with a line of "text": the auto rule leaves it alone (strength 0)
    a = np.zeros((64, 64, 3), np.float32)
    a[30:34, 10:50] = 1.0
    out = fast(a)
    assert fast.last_strength == [0.0]
    assert not np.shares_memory(out, a)
    t = torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous()
    o = fast(t)
    assert fast.last_strength == [0.0]
    o.fill_(0.5)
    assert t.max().item() == 1.0 and t.min().item() == 0.0


@pytest.mark.parametrize("kind", ["tiled", "rgba", "gray-model-on-colour"])
def test_numpy_results_are_c_contiguous_for_opencv(kind: str) -> None:
    rng = np.random.default_rng(3)
    if kind == "tiled":
        den, img = cvdenoise.load("fast", tile=96, overlap=16), rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
    elif kind == "rgba":
        den, img = cvdenoise.load("fast"), rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    else:
        den, img = cvdenoise.load("gray-fast"), rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = den(img, strength=1.0)
    assert out.flags.c_contiguous, "cv2 drawing functions need a C-contiguous image"
    cv2.rectangle(out, (1, 1), (10, 10), (255, 0, 0), 1)  # raised "Layout ... incompatible with cv::Mat"
    f = den(img.astype(np.float32) / 255, strength=1.0)
    assert f.flags.c_contiguous


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs fork (POSIX)")
@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_denoiser_works_in_a_forked_multiprocessing_pool(runtime: str) -> None:
    """multiprocessing.Pool forks on Linux: the child inherits torch's OpenMP pool, which does not
    survive fork, and its first parallel op used to wait forever (the parent had run a call)."""
    pytest.importorskip("onnxruntime") if runtime == "onnxruntime" else None
    script = f"""
import multiprocessing as mp, numpy as np, cvdenoise
den = cvdenoise.load("fast", runtime="{runtime}")
img = (np.random.default_rng(0).random((192, 192, 3)) * 255).astype(np.uint8)
ref = den(img)  # the parent runs torch's thread pool first
def work(i):
    return bool(np.array_equal(den(img), ref))
if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map_async(work, range(4)).get(timeout=90))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[True, True, True, True]"


def test_masked_array_keeps_its_fill_value_and_hard_mask(fast: cvdenoise.Denoiser) -> None:
    a = np.ma.MaskedArray(np.zeros((16, 16), np.uint8), mask=np.eye(16, dtype=bool), fill_value=7, hard_mask=True)
    out = fast(a)
    assert out.fill_value == 7 and out.hardmask


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs fork (POSIX)")
def test_a_forked_child_keeps_its_threads_unless_a_denoiser_was_made() -> None:
    from helpers import threads_in_forked_children

    # an import alone changes nothing (pre-forking servers)
    assert threads_in_forked_children("import cvdenoise", 'cvdenoise.load("fast")') == ["2", "1"]


def test_unscaled_12_bit_uint16_data_gets_one_warning_from_the_denoiser(fast: cvdenoise.Denoiser) -> None:
    """10/12-bit samples held unscaled in uint16 come back nearly unchanged: said once, not silently."""
    import warnings

    den = cvdenoise.load("fast", half=False)
    img12 = np.random.default_rng(0).integers(0, 4096, (32, 32, 3)).astype(np.uint16)
    with pytest.warns(UserWarning, match="uint16 image with all values below 4096.*x << 4|image << 4"):
        den(img12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        den(img12)  # once per Denoiser
        den(torch.from_numpy(img12.astype(np.int32)).permute(2, 0, 1).to(torch.uint16))
        cvdenoise.load("fast", half=False)(img12 << 4)  # 16-bit data: no warning
        cvdenoise.load("fast", half=False)(img12.astype(np.float32) / 4095)  # scaled floats: none
    rgba = np.dstack([img12, np.full(img12.shape[:2], 65535, np.uint16)])  # an opaque 16-bit alpha plane
    with pytest.warns(UserWarning, match="uint16 image with all values below 4096"):
        cvdenoise.load("fast", half=False)(rgba)  # the colour planes decide, not the alpha


def test_the_unscaled_uint16_warning_names_the_users_line_for_every_input_kind() -> None:
    """PIL images, masked and big-endian arrays (denoised through a second call) and the v2
    transform pointed the warning at a line inside cvdenoise."""
    import warnings

    import PIL.Image

    from cvdenoise.transforms import Denoise

    img = np.full((16, 16), 1000, np.uint16)
    calls = [lambda: cvdenoise.load("fast", half=False)(PIL.Image.fromarray(img)),
             lambda: cvdenoise.load("fast", half=False)(np.ma.MaskedArray(img)),
             lambda: cvdenoise.load("fast", half=False)(img.astype(">u2")),
             lambda: Denoise("fast")(torch.from_numpy(img.astype(np.int32))[None].to(torch.uint16))]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        said = [w for w in caught if "below 4096" in str(w.message)]
        assert len(said) == 1 and said[0].filename == __file__, [(w.filename, w.lineno) for w in said]


def test_denoise_tensor_checks_its_documented_input() -> None:
    """A uint8 tensor or floats in 0..255 came back all white (1.0), without a word."""
    den = cvdenoise.load("fast", half=False)
    with pytest.raises(TypeError, match=r"float tensor in \[0, 1\].*x.float\(\) / 255"):
        den.denoise_tensor(torch.full((1, 3, 24, 24), 128, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        den.denoise_tensor(torch.full((1, 3, 24, 24), 200.0))
    with pytest.raises(ValueError, match=r"\(B,1\|3,H,W\)"):
        den.denoise_tensor(torch.rand(3, 24, 24))
    x = torch.rand(1, 3, 24, 24)
    assert den.denoise_tensor(x).shape == x.shape


def test_denoiser_settings_fixed_at_construction_say_so_and_ensemble_is_checked() -> None:
    """den.ensemble = 3 gave a bare KeyError at the next call, den.device = 'cpu' an AttributeError
    from deep inside, den.half = True was silently ignored."""
    den = cvdenoise.load("fast", half=False)
    for bad in (3, "auto", 2.0, True):
        with pytest.raises(ValueError, match="ensemble must be one of"):
            den.ensemble = bad  # type: ignore[assignment]
    den.ensemble = 2
    assert den.ensemble == 2 and den(np.zeros((16, 16, 3), np.uint8)).shape == (16, 16, 3)
    with pytest.raises(AttributeError, match=r"device is fixed when it is made: cvdenoise.load\(\.\.\., device="):
        den.device = "cpu"  # type: ignore[assignment]
    for name in ("half", "precision"):
        with pytest.raises(AttributeError, match="precision is fixed when it is made"):
            setattr(den, name, True)
    with pytest.raises(AttributeError, match="runtime is fixed"):
        den.runtime = "onnxruntime"  # type: ignore[assignment]
    assert den.precision == "fp32" and den.half is False and den.device == torch.device("cpu") and den.runtime == "torch"
    clone = __import__("pickle").loads(__import__("pickle").dumps(den))
    assert clone.ensemble == 2 and clone.precision == "fp32"


def test_a_side_just_over_the_tile_is_covered_by_evenly_sized_tiles(clean_rgb: np.ndarray,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Full-size tiles covered a side just over the tile twice: a 2068² photo with the default
    tile 2048 ran the network on 3.8× its pixels."""
    den = cvdenoise.load("fast", tile=320, half=False)
    model = den._backend(3)
    pixels: list[int] = []
    monkeypatch.setitem(den._models, 3, lambda x: (pixels.append(x.shape[0] * x.shape[-2] * x.shape[-1]), model(x))[1])
    big = np.concatenate([clean_rgb, clean_rgb[::-1]], 0)
    img = add_noise(np.ascontiguousarray(np.concatenate([big, big[:, ::-1]], 1)[:340, :340]), 20)
    out = den(img)
    padded = (340 + 2 * den.border) ** 2
    assert sum(pixels) < 1.8 * padded  # 4 × 240² (the 96-px overlaps); full 320² tiles: 3× the padded image
    whole = cvdenoise.load("fast", tile=0, half=False)(img).astype(int)
    diff = np.abs(whole - out)
    assert diff.max() <= 6 and diff.mean() < 0.1, (diff.max(), diff.mean())


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs fork (POSIX)")
@pytest.mark.parametrize("mid_load", [False, True])
def test_a_child_forked_while_the_load_lock_is_held_does_not_hang(mid_load: bool) -> None:
    """A fork made while another thread lazily loads a model (holding ``_load_lock``) gave the
    child a lock that stays held for good: its first call waited forever. The state is made
    directly (lock held, optionally the gray model already loaded but still marked lazy, as a fork
    inside ``_load`` leaves it); the child runs under an alarm so a hang fails instead of blocking."""
    import signal

    den = cvdenoise.load("default")
    assert 1 in den._lazy, "the gray model of 'default' is loaded lazily"
    gray = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    with den._load_lock:  # as another thread inside _backend would hold it
        if mid_load:
            den._models[1] = den._models[1]()  # loaded, not yet taken off _lazy
        pid = os.fork()
        if pid == 0:  # child: exit status 0 when the call comes back with the right shape
            signal.alarm(10)
            try:
                code = 0 if den(gray).shape == gray.shape else 1
            except BaseException:
                code = 2
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), "the forked child hung on the inherited load lock"
    assert os.WEXITSTATUS(status) == 0


def test_strength_zero_returns_the_container_and_layout_of_any_other_strength(fast: cvdenoise.Denoiser,
                                                                             tmp_path: Path) -> None:
    img = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img.tofile(tmp_path / "m.bin")
    mm = np.memmap(tmp_path / "m.bin", np.uint8, "r", shape=img.shape)
    for s in (0, 1):
        out = fast(mm, strength=s)
        assert type(out) is np.ndarray and out.flags.c_contiguous and out.flags.writeable
    t = torch.from_numpy(img).permute(2, 0, 1)  # (C,H,W) view of an HWC buffer
    for s in (0, 1):
        assert fast(t, strength=s).is_contiguous()
    batch = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
    assert fast(batch, strength=0).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(fast(t, strength=0), t) and np.array_equal(fast(mm, strength=0), img)


def test_bgr_order_leaves_a_float_input_alone_and_matches_rgb(fast: cvdenoise.Denoiser, clean_rgb: np.ndarray) -> None:
    """BGR order is turned to RGB in place where the float copy is the call's own (uint8 input),
    never in the caller's float32 array or tensor."""
    noisy = add_noise(clean_rgb, 25)
    rgb = fast(noisy, strength=1.0)
    bgr8 = np.ascontiguousarray(noisy[..., ::-1])
    assert np.array_equal(fast(bgr8, channel_order="bgr", strength=1.0)[..., ::-1], rgb)
    f = bgr8.astype(np.float32) / 255
    before = f.copy()
    out = fast(f, channel_order="bgr", strength=1.0)
    assert np.array_equal(f, before) and np.abs(out[..., ::-1] * 255 - rgb).max() <= 1.0
    t = torch.from_numpy(f).permute(2, 0, 1)[None].contiguous()
    fast(t, channel_order="bgr")
    assert torch.equal(t, torch.from_numpy(before).permute(2, 0, 1)[None])


def test_a_batch_of_images_that_fit_a_tile_keeps_the_pixel_bound_of_a_pass(
        monkeypatch: pytest.MonkeyPatch, clean_rgb: np.ndarray) -> None:
    """Only tiles were bounded per pass: four 1080p frames in one call went through as one 8.3 MP
    pass (2.4 GB more than one at a time)."""
    den = cvdenoise.load("fast", half=False, strength=1.0, batch_size=8)
    monkeypatch.setattr(denoiser_module, "TILE_PIXELS_PER_PASS", 2 * 80 * 96)  # two 48×64 images with their 16-px border
    passes: list[int] = []
    forward = den._forward
    monkeypatch.setattr(den, "_forward", lambda backend, x: (passes.append(x.shape[0]), forward(backend, x))[1])
    x = torch.from_numpy(np.stack([add_noise(clean_rgb, 20, seed=s)[:48, :64] for s in range(5)])).permute(0, 3, 1, 2)
    out = den(x)
    assert passes == [2, 2, 1]
    assert torch.equal(out[3], den(x[3]))  # the same result as one at a time


def test_a_float64_default_dtype_does_not_break_loading(clean_rgb: np.ndarray) -> None:
    """torch.set_default_dtype(torch.float64) made the weights float64: every call failed in conv2d."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        den = cvdenoise.load("fast", half=False)
        out = den(add_noise(clean_rgb[:48, :64], 20))
        gray = den(np.ascontiguousarray(clean_rgb[:48, :64, 1]))  # (the gray model loads at its first image)
    finally:
        torch.set_default_dtype(before)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3) and gray.shape == (48, 64)


@pytest.mark.parametrize("rows", [4, 8, 16])
def test_thin_strips_are_denoised_like_taller_images(fast: cvdenoise.Denoiser, clean_gray: np.ndarray,
                                                    clean_rgb: np.ndarray, rows: int) -> None:
    """A side of 16 px or less was padded by copying its edge rows: streaks of noise the models
    left in place (a gray 16-row strip gained 0.3 dB where 17 rows gained 13)."""
    for clean in (clean_gray, clean_rgb):
        strip = np.ascontiguousarray(clean[100 : 100 + rows])
        noisy = add_noise(strip, 20, seed=rows)
        tall = add_noise(clean[100:140], 20, seed=rows)
        gain = psnr(fast(noisy), strip) - psnr(noisy, strip)
        assert gain > 2.5
        assert gain > 0.4 * (psnr(fast(tall), clean[100:140]) - psnr(tall, clean[100:140]))
        assert psnr(fast(noisy.T if noisy.ndim == 2 else noisy.transpose(1, 0, 2).copy()),
                    strip.T if strip.ndim == 2 else strip.transpose(1, 0, 2)) - psnr(noisy, strip) > 2.5  # columns too


def test_the_white_noise_specialist_denoises_gray_images_with_the_gray_model(clean_gray: np.ndarray) -> None:
    # color-default-awgn has no gray model: gray images ran through the colour model as three equal
    # planes, whose equal noise the specialist (trained on noise independent per channel) left in
    # place — +0.15 dB on a gray σ=25 image, where gray-default gains 8.6
    awgn = cvdenoise.load("color-default-awgn", half=False)
    assert awgn.channels == (1, 3)
    from cvdenoise.weights import WEIGHTS_DIR

    assert cvdenoise.load(WEIGHTS_DIR / "color-default-awgn.safetensors").channels == (1, 3)  # by its path too
    noisy = add_noise(clean_gray[:128, :128], 25)
    gain = psnr(awgn(noisy), clean_gray[:128, :128]) - psnr(noisy, clean_gray[:128, :128])
    assert gain > 5, gain
    planes = awgn(np.repeat(noisy[:, :, None], 3, axis=2))  # a gray photo as cv2.imread gives it
    assert np.array_equal(planes[..., 0], awgn(noisy)) and np.array_equal(planes[..., 0], planes[..., 2])


def test_a_shallow_copy_shares_the_lazy_load_with_its_original() -> None:
    """copy.copy shared the models' dict and lazy set but made a new load lock: the original and the
    copy, first called at once from two threads, both ran the lazy loader."""
    import copy
    import threading
    import time

    den = cvdenoise.load("fast", half=False)
    loader, calls = den._models[1], []
    assert 1 in den._lazy

    def slow_loader() -> object:
        calls.append(1)
        time.sleep(0.3)
        return loader()

    den._models[1] = slow_loader
    twin = copy.copy(den)
    twin.strength = 1.0  # its own settings
    gray = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    threads = [threading.Thread(target=d, args=(gray,)) for d in (den, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and den.strength == "auto"
    twin(gray)  # (last_strength is per thread and per Denoiser)
    assert twin.last_strength == [1.0] and den.last_strength == []


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs fork (POSIX)")
def test_a_copy_shares_its_load_lock_after_pickling_and_fork_too() -> None:
    """Pickled together, or in a forked child, a Denoiser and its shallow copy shared their models
    but got a lock each (and ``rules`` was shared with the copy)."""
    import copy
    import pickle

    den = cvdenoise.load("fast", half=False)
    twin = copy.copy(den)
    twin.rules[3] = None  # type: ignore[assignment]
    assert den.rules[3] is not None
    a, b = pickle.loads(pickle.dumps((den, twin)))
    assert a._models is b._models and a._load_lock is b._load_lock and a._load_lock is not den._load_lock
    c, d = copy.deepcopy((den, twin))
    assert c._load_lock is d._load_lock and copy.deepcopy(den)._load_lock is not den._load_lock
    with den._load_lock:  # (a lock held at the fork: the child's comes back free)
        pid = os.fork()
        if pid == 0:
            ok = den._load_lock is twin._load_lock and den._load_lock._lock.acquire(blocking=False)
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
