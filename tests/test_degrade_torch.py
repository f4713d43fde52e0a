"""The batched torch degradations agree with the albumentations / OpenCV reference chain."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from cvdenoise.degrade import PRESETS, Degrader
from cvdenoise.degrade_torch import TorchDegrader, blur_kernels, filter2d, jpeg

from helpers import psnr


def _photo(channels: int = 3) -> np.ndarray:
    """A 128² uint8 crop of a real photo."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[::2, ::2][:128, 64:192])
    return rgb if channels == 3 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _tensor(img: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(img).float() / 255
    return (t.permute(2, 0, 1) if t.ndim == 3 else t[None])[None].contiguous()


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).squeeze(2).numpy()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("quality", [30, 60, 90])
def test_jpeg_matches_opencv(channels: int, quality: int) -> None:
    """The simulated codec loses what libjpeg loses: same PSNR to the original within 0.15 dB,
    and its output is within 38 dB of OpenCV's decoded file (a 3-unit odd-shaped crop too)."""
    img = _photo(channels)[:, :125]
    ok, buf = cv2.imencode(".jpg", img[..., ::-1] if channels == 3 else img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    ref = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    ref = ref[..., ::-1] if channels == 3 else ref
    sim = np.rint(_numpy(jpeg(_tensor(img), quality)) * 255)
    assert sim.shape == img.shape
    assert abs(psnr(sim, img) - psnr(ref, img)) < 0.15
    assert psnr(sim, ref) > 38


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.6])
def test_gaussian_blur_matches_opencv(sigma: float) -> None:
    img = _photo().astype(np.float32) / 255
    k = blur_kernels(torch.tensor([0]), torch.tensor([sigma]), torch.ones(1), torch.zeros(1), torch.ones(1), 11)
    out = _numpy(filter2d(_tensor(img * 255), k))
    ref = cv2.GaussianBlur(img, (11, 11), sigma, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(out - ref).max() < 1e-5


def test_motion_and_defocus_kernels() -> None:
    """A horizontal motion kernel is one row of ``length`` taps; a defocus kernel is a round disk."""
    kind = torch.tensor([1, 2])
    k = blur_kernels(kind, torch.ones(2), torch.tensor([5.0, 1.0]), torch.zeros(2), torch.tensor([1.0, 3.0]), 11)
    assert torch.allclose(k.sum((1, 2)), torch.ones(2))
    motion, disk = k[0], k[1]
    assert torch.count_nonzero(motion[5]) == 5 and torch.count_nonzero(motion) == 5
    assert torch.allclose(disk, disk.T) and torch.allclose(disk, disk.flip(0))
    assert disk[5, 5] > 0 and disk[5, 9] == 0 and disk[5, 8] > 0


@pytest.mark.parametrize("preset", ["gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"])
def test_presets_match_reference_chain(preset: str) -> None:
    """Each fixed benchmark chain degrades a photo as much as the albumentations chain does
    (mean PSNR over seeds within 0.35 dB)."""
    img = _photo()
    x = _tensor(img).expand(48, -1, -1, -1)
    ours = TorchDegrader(preset, seed=0)(x)
    ours_db = np.mean([psnr(np.rint(_numpy(ours[i : i + 1]) * 255), img) for i in range(len(ours))])
    ref = Degrader(preset)
    ref_db = np.mean([psnr(ref(img, s), img) for s in range(48)])
    assert abs(ours_db - ref_db) < 0.35, (ours_db, ref_db)


@pytest.mark.parametrize("kind", ["poisson", "speckle", "iso", "saltpepper", "camera", "linear"])
def test_noise_kinds_match_reference(kind: str) -> None:
    """At one fixed strength each noise family degrades a photo as much as the reference does
    (mean PSNR within 0.5 dB; ISO lifts lightness in RGB, not HLS: 0.36 dB apart) and shifts
    its mean as much (ISO noise brightens)."""
    cfg = dataclasses.replace(
        PRESETS["noise"], p_clean=0.0, p_blur=0.0, p_resize=0.0, p_jpeg=0.0, p_noise=1.0,
        noise_kinds=((kind, 1.0),), poisson_scale=(0.01, 0.01), read_sigma=(2 / 255, 2 / 255),
        speckle_sigma=(0.1, 0.1), iso_intensity=(0.4, 0.4), saltpepper_amount=(0.01, 0.01),
        camera_scale=(0.01, 0.01), camera_read=(3 / 255, 3 / 255), linear_read=(4 / 255, 4 / 255),
    )
    img = _photo().astype(np.float32) / 255
    rng = np.random.default_rng(0)
    ref = [Degrader(cfg)(img, rng) for _ in range(16)]
    ours = TorchDegrader(cfg, seed=0)(_tensor(img * 255).expand(16, -1, -1, -1))
    ref_db = np.mean([psnr(r, img, 1.0) for r in ref])
    ours_db = np.mean([psnr(_numpy(ours[i : i + 1]), img, 1.0) for i in range(16)])
    assert abs(ours_db - ref_db) < 0.5, (ours_db, ref_db)
    shift_ref = np.mean([r - img for r in ref])
    shift_ours = float((ours - _tensor(img * 255)).mean())
    assert abs(shift_ours - shift_ref) < 0.002, (shift_ours, shift_ref)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_range_seed(channels: int) -> None:
    clean = _tensor(_photo(channels)).expand(16, -1, -1, -1).contiguous()
    before = clean.clone()
    a = TorchDegrader("mixed", seed=3)(clean)
    assert a.shape == clean.shape and a.dtype == clean.dtype
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(clean, before)  # input untouched
    assert torch.equal(TorchDegrader("mixed", seed=3)(clean), a)
    assert not torch.equal(TorchDegrader("mixed", seed=4)(clean), a)
    per_sample = (a - clean).abs().flatten(1).mean(1)
    assert len(set(per_sample.tolist())) > 8  # every sample gets its own chain


def test_half_precision_input() -> None:
    x = _tensor(_photo()).expand(4, -1, -1, -1).half()
    out = TorchDegrader("noise", seed=0)(x)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


def test_bad_inputs() -> None:
    d = TorchDegrader("noise", seed=0)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        d(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="B,C,H,W"):
        d(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="float"):
        d(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    for empty in ((0, 3, 8, 8), (2, 1, 0, 8)):  # (a raw RuntimeError from deep inside torch)
        with pytest.raises(ValueError, match="non-empty"):
            d(torch.zeros(empty))
    with pytest.raises(ValueError, match="unknown degradation preset"):
        TorchDegrader("nope")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_distribution() -> None:
    """On a GPU the chain runs on the batch's device and keeps the preset's strength."""
    x = _tensor(_photo()).expand(16, -1, -1, -1).cuda()
    out = TorchDegrader("gaussian25", seed=0)(x)
    assert out.device.type == "cuda"
    assert abs(float((out - x).std()) * 255 - 23.5) < 2.0  # 25 before clipping at the photo's extremes
    assert TorchDegrader("noise", seed=0)(x).device.type == "cuda"


@pytest.mark.parametrize(("channels", "mono"), [(3, 0.5), (1, 0.0), (1, 1.0)])
def test_camera_noise_correlation_matches_reference(channels: int, mono: float) -> None:
    """Demosaiced camera noise is correlated between horizontal neighbours — in RGB and in the
    luma of a colour camera's frame, not from a monochrome sensor — as much in the torch chain
    as in the reference."""
    cfg = dataclasses.replace(PRESETS["camera"], p_camera_mono=mono)
    img = _photo(channels).astype(np.float32) / 255
    ref = [Degrader(cfg)(img, s) - img for s in range(8)]
    ours = TorchDegrader(cfg, seed=0)(_tensor(img * 255).expand(8, -1, -1, -1)) - _tensor(img * 255)

    def corr(noise: np.ndarray) -> float:
        n = noise.reshape(noise.shape[0], noise.shape[1], -1)
        return float(np.corrcoef(n[:, :-1].ravel(), n[:, 1:].ravel())[0, 1])

    ref_c = np.mean([corr(n) for n in ref])
    ours_c = np.mean([corr(_numpy(ours[i : i + 1])) for i in range(8)])
    assert abs(ours_c - ref_c) < 0.05, (ours_c, ref_c)
    assert (abs(ref_c) < 0.1) if mono == 1.0 else (ref_c > 0.3), ref_c


@pytest.mark.parametrize("shape", [(3, 3, 1, 40), (3, 3, 40, 1), (3, 3, 1, 1), (3, 1, 1, 24), (3, 3, 2, 3)])
def test_tiny_images_every_preset(shape: tuple[int, int, int, int]) -> None:
    # 1-pixel sides: reflect padding, an empty Bayer colour and a one-pixel std used to raise or give NaN
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    for preset in PRESETS:
        d = TorchDegrader(preset, seed=2)
        for _ in range(4):
            y = d(x)
            assert y.shape == x.shape and torch.isfinite(y).all(), preset
            assert 0 <= float(y.min()) and float(y.max()) <= 1, preset


def test_public_jpeg_refuses_what_it_cannot_code() -> None:
    """uint8 tensors and 0-255 floats came out all white, a quality of 0 or 500 was clamped, and a
    (C,H,W) tensor failed with "not enough values to unpack"."""
    from cvdenoise.degrade_torch import jpeg

    x = torch.rand(1, 3, 16, 16)
    for bad, match in ((x * 255, r"\[0, 1\].*255"), ((x * 255).to(torch.uint8), "float"), (x[0], r"\(B,C,H,W\).*x\[None\]")):
        with pytest.raises(ValueError, match=match):
            jpeg(bad, 50)
    for q in (0, 101, 50.5, torch.tensor([500])):
        with pytest.raises(ValueError, match="quality must be whole numbers in 1..100"):
            jpeg(x, q)  # type: ignore[arg-type]
    assert jpeg(x, torch.tensor([40])).shape == x.shape and jpeg(x, 40.0).shape == x.shape  # type: ignore[arg-type]


def test_resize_up_enlarges_bicubic_on_the_device_too() -> None:
    cfg = dataclasses.replace(PRESETS["mixed"], p_clean=0.0, p_blur=0.0, p_noise=0.0, p_jpeg=0.0, p_resize=1.0,
                              shuffle=False, resize_scale=(0.5, 0.5))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    linear = TorchDegrader(cfg, seed=1)(x.clone())
    cubic = TorchDegrader(dataclasses.replace(cfg, resize_up=("cubic",)), seed=1)(x.clone())
    assert cubic.shape == x.shape and float(cubic.min()) >= 0 and float(cubic.max()) <= 1
    assert (cubic - linear).abs().mean() > 1e-3
    # bicubic keeps more of the image's detail than bilinear
    assert float((cubic - x).abs().mean()) < float((linear - x).abs().mean())


def test_lanczos_resize_matches_opencv() -> None:
    from cvdenoise.degrade_torch import lanczos_resize

    rng = np.random.default_rng(0)
    for (h, w), (hh, ww) in (((16, 24), (32, 48)), ((20, 30), (37, 51)), ((7, 5), (21, 9))):
        a = rng.random((h, w, 3)).astype(np.float32)
        ref = cv2.resize(a, (ww, hh), interpolation=cv2.INTER_LANCZOS4)
        out = lanczos_resize(torch.from_numpy(a).permute(2, 0, 1)[None], (hh, ww))[0].permute(1, 2, 0).numpy()
        assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-4


def test_resize_up_draws_one_enlargement_per_sample() -> None:
    """Each sample is enlarged by one of the interpolations named, the draws before it untouched."""
    cfg = dataclasses.replace(PRESETS["mixed"], p_clean=0.0, p_blur=0.0, p_noise=0.0, p_jpeg=0.0, p_resize=1.0,
                              shuffle=False, resize_scale=(0.5, 0.8))
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    alone = {k: TorchDegrader(dataclasses.replace(cfg, resize_up=(k,)), seed=4)(x.clone())
             for k in ("linear", "cubic", "lanczos")}
    mixed = TorchDegrader(dataclasses.replace(cfg, resize_up=("linear", "cubic", "lanczos")), seed=4)(x.clone())
    kinds = [[k for k, y in alone.items() if torch.equal(y[i], mixed[i])] for i in range(8)]
    assert all(len(k) == 1 for k in kinds), kinds
    assert len({k[0] for k in kinds}) >= 2
