"""The torchvision v2 and albumentations adapters (cvdenoise.transforms, cvdenoise.integrations)."""

from __future__ import annotations

import pickle
import re
from typing import Any
import warnings

import numpy as np
import PIL.Image
import pytest
import torch

import cvdenoise
from helpers import add_noise, psnr
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from cvdenoise.transforms import Denoise

SIGMA = 25


@pytest.fixture(scope="module")
def clean128() -> np.ndarray:
    """128×128 RGB uint8 crop of skimage's astronaut."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:228, 180:308])


@pytest.fixture(scope="module")
def noisy128(clean128: np.ndarray) -> np.ndarray:
    return add_noise(clean128, SIGMA, seed=0)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


# ------------------------------------------------------------------ torchvision v2
def test_v2_compose_denoises_image_and_keeps_boxes_mask_labels(clean128: np.ndarray, noisy128: np.ndarray) -> None:
    img = tv_tensors.Image(_chw(noisy128))
    boxes = tv_tensors.BoundingBoxes([[10, 20, 60, 90], [0, 0, 128, 128]], format="XYXY", canvas_size=(128, 128))
    mask = tv_tensors.Mask((torch.arange(128 * 128).reshape(128, 128) % 3).to(torch.uint8))
    labels = torch.tensor([3, 7])  # plain tensor next to an Image: must pass through
    pipe = v2.Compose([v2.ToImage(), Denoise("fast"), v2.ClampBoundingBoxes()])

    out = pipe({"image": img, "boxes": boxes, "mask": mask, "labels": labels})

    assert type(out["image"]) is tv_tensors.Image
    assert out["image"].dtype == torch.uint8 and out["image"].shape == img.shape
    assert not torch.equal(out["image"], img)
    assert type(out["boxes"]) is tv_tensors.BoundingBoxes and torch.equal(out["boxes"], boxes)
    assert out["boxes"].format == boxes.format and out["boxes"].canvas_size == boxes.canvas_size
    assert type(out["mask"]) is tv_tensors.Mask and torch.equal(out["mask"], mask)
    assert torch.equal(out["labels"], labels)
    before, after = psnr(noisy128, clean128), psnr(_hwc(out["image"]), clean128)
    assert after > before + 2, (before, after)


def test_v2_hooks_answer_to_the_private_names_of_torchvision_before_0_21(noisy128: np.ndarray) -> None:
    """torchvision 0.19/0.20 (the declared floor) call ``_check_inputs``/``_get_params``/``_transform``
    (public names from 0.21): the same denoising through them, and the same input checks."""
    t = Denoise("fast", half=False)
    img = tv_tensors.Image(_chw(noisy128))
    t._check_inputs([img])
    out = t._transform(img, t._get_params([img]))
    assert isinstance(out, tv_tensors.Image) and torch.equal(out, t(img))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        t._check_inputs([tv_tensors.Image(torch.full((3, 8, 8), 200.0))])


def test_private_hook_names_call_a_subclasss_overrides() -> None:
    """The private names delegate to the public hooks at call time, so a subclass that overrides
    ``transform``/``make_params``/``check_inputs`` is honoured by torchvision 0.19/0.20 too."""
    calls: list[str] = []

    class Mine(Denoise):
        def check_inputs(self, flat_inputs: list[Any]) -> None:
            calls.append("check")

        def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
            calls.append("params")
            return {"apply": False}

        def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
            calls.append("transform")
            return "mine"

    t = Mine("fast")
    t._check_inputs([])
    assert t._transform(None, t._get_params([])) == "mine" and calls == ["check", "params", "transform"]


@pytest.mark.parametrize("shape", [(2, 3, 40, 48), (3, 40, 48), (2, 2, 1, 24, 32)])
def test_v2_plain_float_tensor_round_trip(shape: tuple[int, ...]) -> None:
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    y = Denoise("fast")(x)
    assert type(y) is torch.Tensor and y.dtype == x.dtype and y.shape == x.shape
    assert not torch.equal(y, x)
    y.mul_(1.0)  # a normal tensor: in-place ops downstream (e.g. Normalize(inplace=True)) work
    # leading dims are one batch: same result as denoising each image on its own
    flat = x.reshape(-1, *shape[-3:])
    assert torch.allclose(y.reshape(flat.shape)[-1], Denoise("fast")(flat[-1]), atol=1e-5)


def test_v2_video_keeps_type() -> None:
    vid = tv_tensors.Video(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    out = Denoise("fast")(vid)
    assert type(out) is tv_tensors.Video and out.dtype == torch.uint8 and out.shape == vid.shape


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_v2_pil_round_trip(noisy128: np.ndarray, clean128: np.ndarray, mode: str) -> None:
    img = PIL.Image.fromarray(noisy128).convert(mode)
    out = Denoise("fast")(img)
    assert isinstance(out, PIL.Image.Image) and out.mode == mode and out.size == img.size
    ref = np.asarray(PIL.Image.fromarray(clean128).convert(mode))
    assert psnr(np.asarray(out), ref) > psnr(np.asarray(img), ref) + 2
    if mode == "RGBA":
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(img)[..., 3])


def test_v2_pil_unsupported_mode() -> None:
    with pytest.raises(ValueError, match="mode 'P'"):
        Denoise("fast")(PIL.Image.new("P", (16, 16)))


def test_v2_p_zero_returns_input_unchanged(noisy128: np.ndarray) -> None:
    img = tv_tensors.Image(_chw(noisy128))
    boxes = tv_tensors.BoundingBoxes([[1, 2, 3, 4]], format="XYXY", canvas_size=(128, 128))
    t = Denoise("fast", p=0.0)
    out, out_boxes = t(img, boxes)
    assert out is img and out_boxes is boxes
    pil = PIL.Image.fromarray(noisy128)
    assert t(pil) is pil
    assert t._denoisers == {}  # never loaded


def test_v2_p_half_applies_sometimes() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 16, 16)
    t = Denoise("fast", p=0.5)
    applied = [not torch.equal(t(x), x) for _ in range(20)]
    assert 0 < sum(applied) < 20


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"p": 1.5}, "p must be"),
        ({"strength": -0.1}, "strength must be"),
        ({"strength": True}, "strength must be"),
        ({"tile": 64}, "tile must be"),
        ({"tile": 256.0}, "tile must be"),
        ({"weights": "default", "tile": 200}, "tile must be"),  # default's multiple is 16: 208 at least
        ({"weights": "nope"}, "unknown weights"),
        ({"weights": 3}, "weights must be"),
        ({"device": "bogus"}, "device must be"),
        ({"half": "yes"}, "half must be"),
    ],
)
def test_v2_invalid_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Denoise(**kwargs)


def test_v2_half_takes_numpy_bools() -> None:
    assert Denoise("fast", half=np.True_).half is True  # (a later `half is True` in the onnxruntime check)
    assert Denoise("fast", half=0).half is False


def test_v2_half_auto_matches_the_denoiser(noisy128: np.ndarray) -> None:
    t = Denoise("fast", half="auto")
    x = torch.from_numpy(noisy128).permute(2, 0, 1).contiguous()
    ref = cvdenoise.load("fast", half="auto")
    assert t.denoiser().precision == ref.precision
    assert torch.equal(t(x), ref(x))


def test_v2_auto_device_follows_input() -> None:
    t = Denoise("fast", device=None)
    assert t.device == "auto"
    t(torch.rand(3, 16, 16))
    assert list(t._denoisers) == ["cpu"]
    if torch.cuda.is_available():
        y = t(torch.rand(3, 16, 16, device="cuda"))
        assert y.device.type == "cuda" and "cuda:0" in t._denoisers


def test_v2_pickle_before_and_after_use(noisy128: np.ndarray) -> None:
    x = tv_tensors.Image(_chw(noisy128[:48, :48]))
    t = Denoise("fast", strength=0.8)
    fresh = pickle.loads(pickle.dumps(t))
    ref = t(x)
    assert t._denoisers  # loaded now
    blob = pickle.dumps(t)
    assert len(blob) < 10_000  # no model weights inside
    used = pickle.loads(blob)
    assert used._denoisers == {} and (used.weights, used.strength, used.p) == ("fast", 0.8, 1.0)
    assert torch.equal(fresh(x), ref) and torch.equal(used(x), ref)
    assert t._denoisers  # pickling did not drop the original's cache


class NoisyBoxes(Dataset):
    """Four noisy 64×64 crops, each with one box; returns ``transform(Image, BoundingBoxes)``."""

    def __init__(self, images: list[np.ndarray], transform: v2.Transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def raw(self, i: int) -> tuple[tv_tensors.Image, tv_tensors.BoundingBoxes]:
        img = tv_tensors.Image(_chw(self.images[i]))
        boxes = tv_tensors.BoundingBoxes([[8, 4 + i, 40, 60]], format="XYXY", canvas_size=(64, 64))
        return img, boxes

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(*self.raw(i))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_v2_dataloader_workers(clean128: np.ndarray, context: str) -> None:
    cleans = [np.ascontiguousarray(clean128[y : y + 64, x : x + 64]) for y in (0, 64) for x in (0, 64)]
    ds = NoisyBoxes([add_noise(c, SIGMA, seed=i) for i, c in enumerate(cleans)], Denoise("fast"))
    expected = [ds[i][0] for i in range(len(ds))]  # main process (also loads its model first)

    loader = DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context=context)
    images, boxes = zip(*loader)
    images_t, boxes_t = torch.cat(images), torch.cat(boxes)

    assert images_t.shape == (4, 3, 64, 64) and images_t.dtype == torch.uint8
    assert torch.equal(boxes_t, torch.stack([ds.raw(i)[1] for i in range(4)]))
    diff = (images_t.int() - torch.stack(expected).int()).abs().max().item()
    assert diff <= 1, diff
    for out, noisy, clean in zip(images_t, ds.images, cleans):
        assert psnr(_hwc(out), clean) > psnr(noisy, clean) + 2


# ------------------------------------------------------------------ albumentations
A = pytest.importorskip("albumentations")
from cvdenoise.integrations.albumentations import Denoise as ADenoise  # noqa: E402


def _bbox_pipe(*transforms: object) -> object:
    return A.Compose(list(transforms), bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))


def test_albu_compose_denoises_and_flips_bbox(clean128: np.ndarray, noisy128: np.ndarray) -> None:
    pipe = _bbox_pipe(ADenoise("fast"), A.HorizontalFlip(p=1.0))
    out = pipe(image=noisy128, bboxes=np.array([[10, 20, 60, 90]], np.float32), labels=[5])

    img = out["image"]
    assert img.dtype == np.uint8 and img.shape == noisy128.shape
    flipped_clean, flipped_noisy = clean128[:, ::-1], noisy128[:, ::-1]
    assert psnr(img, flipped_clean) > psnr(flipped_noisy, flipped_clean) + 2
    np.testing.assert_allclose(out["bboxes"], [[128 - 60, 20, 128 - 10, 90]])
    assert list(out["labels"]) == [5]


def test_albu_float32_and_gray(clean128: np.ndarray, noisy128: np.ndarray, clean_gray: np.ndarray) -> None:
    t = A.Compose([ADenoise("fast")])
    clean_f, noisy_f = clean128.astype(np.float32) / 255, noisy128.astype(np.float32) / 255
    out = t(image=noisy_f)["image"]
    assert out.dtype == np.float32 and out.shape == noisy_f.shape
    assert psnr(out, clean_f, 1.0) > psnr(noisy_f, clean_f, 1.0) + 2

    gray = np.ascontiguousarray(clean_gray[:128, :128])
    noisy_g = add_noise(gray, SIGMA, seed=1)
    for img in (noisy_g, noisy_g[:, :, None]):
        out = t(image=img)["image"]
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert psnr(out.reshape(gray.shape), gray) > psnr(noisy_g, gray) + 2


def test_albu_bgr_order(noisy128: np.ndarray) -> None:
    rgb = A.Compose([ADenoise("fast")])(image=noisy128)["image"]
    bgr = A.Compose([ADenoise("fast", channel_order="bgr")])(image=np.ascontiguousarray(noisy128[..., ::-1]))["image"]
    assert np.abs(bgr[..., ::-1].astype(int) - rgb.astype(int)).max() <= 1


def test_albu_serialization_and_pickle(noisy128: np.ndarray) -> None:
    pipe = _bbox_pipe(ADenoise("fast", strength=0.7, channel_order="bgr", tile=512, p=0.9, runtime="torch"),
                      A.HorizontalFlip(p=1.0))
    d = A.to_dict(pipe)
    args = {"weights": "fast", "device": "cpu", "strength": 0.7, "channel_order": "bgr", "tile": 512, "runtime": "torch"}
    assert d["transform"]["transforms"][0] == {
        "__class_fullname__": "cvdenoise.integrations.albumentations.Denoise", "p": 0.9, **args
    }
    back = A.from_dict(d).transforms[0]
    assert type(back) is ADenoise and back.get_transform_init_args() == args and back.p == 0.9

    t = ADenoise("fast")
    ref = t(image=noisy128[:48, :48])["image"]
    blob = pickle.dumps(t)
    assert len(blob) < 10_000  # model not pickled
    assert np.array_equal(pickle.loads(blob)(image=noisy128[:48, :48])["image"], ref)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"strength": 2}, "strength"),
        ({"channel_order": "xyz"}, "channel_order"),
        ({"tile": 10}, "tile"),
        ({"weights": "default", "tile": 200}, "tile"),
        ({"weights": "nope"}, "weights"),
        ({"device": "bogus"}, "device"),
        ({"p": -1}, "p"),
    ],
)
def test_albu_invalid_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"(?s)validation error.*\b{field}\b"):
        ADenoise(**kwargs)


def test_transform_refuses_an_unusable_device_or_precision_at_construction() -> None:
    # not later, inside a DataLoader worker, at the first sample
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            Denoise("fast", device="cuda")
    if cvdenoise.denoiser.cpu_bf16_units() is None:
        with pytest.raises(ValueError, match="half=True"):
            Denoise("fast", half=True)
    with pytest.raises(ValueError, match="device"):
        Denoise("fast", device="gpu")
    assert Denoise("fast", p=np.float32(0.5)).p == 0.5


def test_numpy_input_warns_that_it_passes_through() -> None:
    arr = np.zeros((16, 16, 3), np.uint8)
    with pytest.warns(UserWarning, match="ToImage") as caught:
        out = Denoise("fast")(arr)
    assert out is arr
    assert caught[0].filename == __file__  # points at the user's line, not into torch


def test_numpy_image_beside_a_valid_tensor_target_warns_that_the_tensor_is_denoised_instead() -> None:
    # a depth map in [0, 1] passes every check, so torchvision's rule denoises it in the image's place
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    depth = torch.rand(1, 32, 32)
    with pytest.warns(UserWarning, match="plain tensor of the sample is denoised and its numpy array is not.*"
                                         r"tv_tensors.Image\(torch.from_numpy"):
        out_img, target = Denoise("fast")(img, {"depth": depth})
    assert out_img is img and not torch.equal(target["depth"], depth)  # what the warning says happened
    wrapped = tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fix the message gives: no warning, the image denoised, the target kept
        out_img, target = Denoise("fast")(wrapped, {"depth": depth})
    assert type(out_img) is tv_tensors.Image and not torch.equal(out_img, wrapped)
    assert torch.equal(target["depth"], depth)


def test_numpy_boxes_beside_a_tensor_image_give_no_warning() -> None:
    # the tensor is the image and is denoised: the array-image warning is not for boxes or labels
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, target = Denoise("fast")(img, {"boxes": np.array([[1.0, 2.0, 10.0, 12.0]]), "labels": np.array([3])})
    assert out.shape == img.shape and target["labels"].tolist() == [3]


def test_plain_labels_taken_for_the_image_get_the_torchvision_rule_explained() -> None:
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    with pytest.raises(TypeError, match="torch.int64.*first plain tensor for the image.*tv_tensors.Image"):
        Denoise("fast")(torch.tensor([1, 2]), img)
    out = Denoise("fast")(torch.tensor([1, 2]), tv_tensors.Image(img))  # the fix the message gives
    assert type(out[1]) is tv_tensors.Image and torch.equal(out[0], torch.tensor([1, 2]))


def test_transform_errors_name_the_callers_shape() -> None:
    for shape in ((2, 32, 32), (5, 3, 0, 8)):
        with pytest.raises(ValueError, match=re.escape(str(shape))):
            Denoise("fast")(tv_tensors.Image(torch.rand(*shape)))


def test_albumentations_twin_runs_float32_like_the_torchvision_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import cvdenoise.integrations.albumentations as alb

    seen: dict[str, object] = {}
    real_load = alb.load

    def spy(*args: object, **kwargs: object) -> cvdenoise.Denoiser:
        seen.update(kwargs)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(alb, "load", spy)
    t = alb.Denoise("fast", p=1.0)
    assert t(image=np.zeros((16, 16, 3), np.uint8))["image"].shape == (16, 16, 3)
    assert seen["half"] is False and t.denoiser.precision == "fp32"


def test_bad_images_are_refused_on_every_sample_also_when_p_skips_them() -> None:
    import albumentations as A

    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    skip = Denoise("fast", p=0.0)
    with pytest.raises(ValueError, match="channels"):
        skip(tv_tensors.Image(torch.rand(2, 16, 16)))
    with pytest.raises(ValueError, match=r"permute\(2, 0, 1\)"):  # the Denoiser's (H,W,C) hint
        skip(torch.rand(16, 16, 3))
    with pytest.raises(TypeError, match="int32"):
        skip(tv_tensors.Image(torch.zeros(3, 16, 16, dtype=torch.int32)))
    with pytest.raises(ValueError, match="mode 'P'"):
        skip(PIL.Image.new("P", (16, 16)))
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):  # floats in 0..255
        skip(tv_tensors.Image(torch.rand(3, 16, 16) * 255))
    with pytest.raises(ValueError, match="NaN"):
        skip(tv_tensors.Image(torch.full((3, 16, 16), float("nan"))))
    ok = tv_tensors.Image(torch.rand(3, 16, 16))
    labels = torch.tensor([1])  # a plain tensor next to an Image is not checked as an image
    out, target = skip(ok, {"labels": labels})
    assert out is ok and target["labels"] is labels
    albu = A.Compose([AlbuDenoise("fast", p=0.0)])
    with pytest.raises(ValueError, match="channels"):
        albu(image=np.zeros((16, 16, 2), np.uint8))
    with pytest.raises(TypeError, match="int32"):
        albu(images=np.zeros((2, 16, 16, 3), np.int32))
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        albu(image=np.full((16, 16, 3), 200.0, np.float32))
    assert albu(image=np.zeros((16, 16, 3), np.uint8))["image"].shape == (16, 16, 3)
    # volumes (D,H,W,C) and sequences of them are declared targets too
    bad = np.full((2, 16, 16, 3), 200.0, np.float32)
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        albu(volume=bad)
    with pytest.raises(TypeError, match="int32"):
        albu(volume=np.zeros((2, 16, 16, 3), np.int32))
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        albu(volumes=bad[None])
    with pytest.raises(ValueError, match="channels"):
        albu(volumes=np.zeros((1, 2, 16, 16, 2), np.uint8))
    assert albu(volume=np.zeros((2, 16, 16, 3), np.uint8))["volume"].shape == (2, 16, 16, 3)


def test_forked_child_gets_a_fresh_model_load_lock() -> None:
    import multiprocessing as mp

    from cvdenoise.transforms import load_lock

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    with load_lock():  # another thread loading a model at fork time
        proc = ctx.Process(target=lambda: q.put(load_lock().acquire(timeout=10)))
        proc.start()
        got = q.get(timeout=30)
    proc.join(30)
    assert got is True


def test_transform_errors_name_the_real_cause() -> None:
    with pytest.raises(ValueError, match=re.escape("(2, 4, 2, 8, 8)")):  # the caller's shape, not the flattened one
        Denoise("fast", p=0.0)(tv_tensors.Video(torch.rand(2, 4, 2, 8, 8)))
    with pytest.raises(TypeError, match="numpy array"):  # labels taken for the image: say why
        Denoise("fast", p=0.0)(np.zeros((8, 8, 3), np.uint8), {"labels": torch.tensor([1])})


def test_v2_tensor_that_requires_grad_gives_no_autograd_warning() -> None:
    x = torch.rand(3, 16, 16, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Denoise("fast")(x)
    assert out.shape == x.shape and not out.requires_grad


def test_albumentations_additional_image_targets_are_checked_also_when_p_skips_them() -> None:
    import albumentations as A

    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    good = np.zeros((16, 16, 3), np.uint8)
    bad = np.full((16, 16, 3), 200.0, np.float32)  # floats in 0..255
    albu = A.Compose([AlbuDenoise("fast", p=0.0)], additional_targets={"image2": "image", "mask2": "mask"})
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        albu(image=good, image2=bad)
    assert albu(image=good, image2=good, mask2=bad)["mask2"] is not None  # masks are not images: not checked


def test_interpolation_overshoot_gets_its_own_hint() -> None:
    """A bicubic resize of float data overshoots [0, 1] by a few %: the hint blamed mean/std normalisation."""
    import albumentations as A

    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    edges = torch.zeros(3, 64, 64)
    edges[:, :, 32:] = 1.0
    edges[:, 20:40] = 1.0 - edges[:, 20:40]
    pipe = v2.Compose([v2.Resize(41, interpolation=v2.InterpolationMode.BICUBIC, antialias=False), Denoise("fast")])
    with pytest.raises(ValueError, match="bicubic or Lanczos resize.*clamp"):
        pipe(tv_tensors.Image(edges))
    arr = edges.permute(1, 2, 0).numpy().copy()
    with pytest.raises(ValueError, match="bicubic or Lanczos resize.*clamp"):
        A.Compose([A.Resize(41, 41, interpolation=2), AlbuDenoise("fast")])(image=arr)
    with pytest.raises(ValueError, match="normalised by mean/std"):  # far below 0: normalised data
        Denoise("fast")(tv_tensors.Image(edges * 4 - 2))


def test_unscaled_12_bit_uint16_data_gets_a_warning_once_from_both_transforms() -> None:
    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    img12 = np.random.default_rng(0).integers(0, 4096, (32, 32, 3)).astype(np.uint16)
    tv = Denoise("fast")
    sample = tv_tensors.Image(torch.from_numpy(img12.astype(np.int32)).permute(2, 0, 1).to(torch.uint16))
    with pytest.warns(UserWarning, match="cvdenoise: uint16 image with all values below 4096"):
        tv(sample)
    albu = AlbuDenoise("fast")
    with pytest.warns(UserWarning, match="cvdenoise: uint16 image with all values below 4096"):
        albu(image=img12)
    with warnings.catch_warnings():  # once per transform
        warnings.simplefilter("error")
        tv(sample)
        albu(image=img12)
        Denoise("fast")(tv_tensors.Image(torch.from_numpy((img12.astype(np.int32) << 4)).permute(2, 0, 1).to(torch.uint16)))


def test_a_weights_folder_file_that_is_no_weights_fails_at_construction() -> None:
    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise
    from cvdenoise.weights import WEIGHTS_DIR

    card = str(WEIGHTS_DIR / "color-fast.json")
    with pytest.raises(ValueError, match="model card"):
        Denoise(card)
    with pytest.raises(ValueError, match="model card"):
        AlbuDenoise(card)
    Denoise(str(WEIGHTS_DIR / "color-fast.safetensors"))  # a shipped file is taken without opening it


def test_a_weights_file_given_by_relative_path_survives_a_change_of_folder(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept as given, a relative path named another file (or none) once the program changed folder
    (Hydra's run folder), and the first sample failed in a DataLoader worker."""
    import shutil

    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise
    from cvdenoise.weights import WEIGHTS_DIR

    (tmp_path / "models").mkdir()
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(WEIGHTS_DIR / "color-fast.safetensors", tmp_path / "models" / "mine.safetensors")
    shutil.copy(WEIGHTS_DIR / "color-fast.json", tmp_path / "models" / "mine.json")
    monkeypatch.chdir(tmp_path)
    tv, albu = Denoise("models/mine.safetensors"), AlbuDenoise("models/mine.safetensors")
    monkeypatch.chdir(tmp_path / "elsewhere")
    img = add_noise(np.full((32, 32, 3), 120, np.uint8), 15, seed=0)
    assert tv(torch.from_numpy(img).permute(2, 0, 1)).shape == (3, 32, 32)
    assert albu(image=img)["image"].shape == img.shape
    assert tv.weights == str(tmp_path / "models" / "mine.safetensors") and Denoise("fast").weights == "fast"
    # a shipped file named by a path relative to the shipped folder was kept relative: lost after a chdir
    monkeypatch.chdir(WEIGHTS_DIR)
    tv, albu = Denoise("color-fast.safetensors"), AlbuDenoise("./color-fast.safetensors")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert tv(torch.from_numpy(img).permute(2, 0, 1)).shape == (3, 32, 32)
    assert albu(image=img)["image"].shape == img.shape and tv.weights == "color-fast"


@pytest.mark.skipif(not hasattr(__import__("os"), "register_at_fork"), reason="needs fork (POSIX)")
def test_a_transform_made_but_not_yet_run_arms_the_one_thread_fork_rule() -> None:
    """The transforms load their model lazily: a parent that built one (and ran other parallel torch
    work) and forked a multiprocessing.Pool hung, as no Denoiser had been made yet."""
    from helpers import threads_in_forked_children

    assert threads_in_forked_children("from cvdenoise.transforms import Denoise", 'Denoise("fast")') == ["2", "1"]
    imports = "from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise"
    assert threads_in_forked_children(imports, 'AlbuDenoise("fast")') == ["2", "1"]


def test_albumentations_twin_takes_a_torch_device_like_the_torchvision_one() -> None:
    import albumentations as A

    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    albu = AlbuDenoise("fast", device=torch.device("cpu"))  # pydantic refused it ("a valid string")
    assert A.to_dict(albu)["transform"]["device"] == "cpu"
    assert albu(image=np.zeros((16, 16, 3), np.uint8))["image"].shape == (16, 16, 3)
    with pytest.raises(ValueError, match="device must be a string, a torch.device or None"):
        AlbuDenoise("fast", device=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda: torch.empty(3, 24, 32, device="meta"),
    lambda: tv_tensors.Image(torch.empty(3, 24, 32, device="meta")),
    lambda: torch.rand(3, 24, 32).to_sparse(),
], ids=["meta", "meta-image", "sparse"])
def test_v2_refuses_tensors_without_a_pixel_grid_as_the_denoiser_does(make: Any) -> None:
    with pytest.raises(TypeError, match="dense strided tensors with values"):
        Denoise("fast")(make())


def test_a_setting_changed_after_the_first_sample_is_used() -> None:
    """Both transforms kept the Denoiser of their first sample: a later strength (tile, …) was
    ignored while repr and A.to_dict reported it."""
    from cvdenoise.integrations.albumentations import Denoise as AlbuDenoise

    img = add_noise(np.full((32, 32, 3), 120, np.uint8), 20, seed=1)
    tv, albu = Denoise("fast", strength=1.0), AlbuDenoise("fast", strength=1.0)
    tensor = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    assert not torch.equal(tv(tensor), tensor) and not np.array_equal(albu(image=img)["image"], img)
    tv.strength = albu.strength = 0.0
    assert torch.equal(tv(tensor), tensor) and np.array_equal(albu(image=img)["image"], img)


def test_albumentations_twin_refuses_what_the_torchvision_one_refuses() -> None:
    """Pydantic's lax mode took ``strength=True`` as 1.0, ``"0.5"`` as 0.5 and ``tile=2048.0``,
    which the torchvision twin refuses; a torch tensor was denoised and returned as a tensor."""
    for kw in ({"strength": True}, {"strength": "0.5"}, {"tile": 2048.0}, {"p": "0.5"}, {"p": True}):
        with pytest.raises(ValueError):
            ADenoise("fast", **kw)
        with pytest.raises(ValueError):
            Denoise("fast", **kw)
    # a misspelt argument is an error, not a warning and the default weights (albumentations' own rule)
    with pytest.raises(ValueError, match="'weigths' are not valid"):
        ADenoise(weigths="fast")
    with pytest.raises(TypeError, match="weigths"):
        Denoise(weigths="fast")  # type: ignore[call-arg]
    with pytest.warns(UserWarning, match="'weigths' are not valid"):  # albumentations' strict=False still works
        assert ADenoise(weigths="fast", strict=False).weights == "default"
    # a third positional argument was strength here and p there: both refuse it, naming what to do
    with pytest.raises(TypeError, match="name the others"):
        ADenoise("fast", "cpu", 0.5)
    with pytest.raises(TypeError, match="positional"):
        Denoise("fast", "cpu", 0.5)  # type: ignore[misc]
    assert ADenoise("fast", "cpu", strength=0.5).strength == 0.5 and Denoise("fast", "cpu", p=0.5).p == 0.5
    with pytest.raises(TypeError, match="numpy images.*Tensor.*cvdenoise.transforms.Denoise"):
        ADenoise("fast")(image=torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(TypeError, match="numpy images.*got list"):
        ADenoise("fast")(image=np.zeros((8, 8, 3), np.uint8).tolist())


def test_a_pil_label_mask_beside_the_image_is_named_for_what_torchvision_does_with_it() -> None:
    """torchvision v2 takes every PIL image of a sample for an image: a mode-L mask beside an RGB
    image was denoised silently, and a mode-P mask was refused with advice to convert it to RGB."""
    rng = np.random.default_rng(0)
    image = PIL.Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    mask = PIL.Image.fromarray((rng.random((32, 32)) > 0.5).astype(np.uint8) * 255)
    with pytest.warns(UserWarning, match="label mask, wrap it as tv_tensors.Mask"):
        Denoise("fast")(image, mask)
    with pytest.raises(ValueError, match="mode 'P'.*label mask, wrap it as tv_tensors.Mask"):
        Denoise("fast")(image, mask.convert("P"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Denoise("fast")(image, image)  # (two images of one mode: a pair, no warning)
        _, kept = Denoise("fast")(image, tv_tensors.Mask(torch.from_numpy(np.array(mask))))
    assert np.array_equal(kept.numpy(), np.array(mask))


def test_a_channels_last_video_or_batch_is_told_how_to_permute() -> None:
    """The "(H,W,C): use permute" hint was given for 3-D tensors only."""
    with pytest.raises(ValueError, match=re.escape("use t.permute(0, 3, 1, 2)")):
        Denoise("fast")(tv_tensors.Video(torch.zeros(2, 16, 16, 3, dtype=torch.uint8)))
    with pytest.raises(ValueError, match=re.escape("use t.permute(0, 1, 4, 2, 3)")):
        Denoise("fast")(torch.zeros(2, 2, 16, 16, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=re.escape("use t.permute(2, 0, 1)")):
        cvdenoise.load("fast")(torch.zeros(16, 16, 3))


def test_a_mode_i_pil_image_after_to_image_is_told_how_to_convert() -> None:
    # v2.ToImage() makes a PIL mode-I image (32-bit TIFF, .convert("I")) an int32 tensor, which Denoise refuses
    pil = PIL.Image.fromarray(np.full((16, 16), 30000, np.int32))
    with pytest.raises(TypeError, match=r"int32.*PIL mode-I image after v2.ToImage\(\).*torch.uint16"):
        v2.Compose([v2.ToImage(), Denoise("fast")])(pil)
    t = v2.ToImage()(pil).to(torch.uint16)  # the conversion the message gives works
    assert Denoise("fast")(t).dtype == torch.uint16
    with pytest.raises(TypeError, match=r"int32.*astype\(np.uint8\) for 8-bit values.*astype\(np.uint16\)"):
        cvdenoise.load("fast")(np.full((16, 16), 30000, np.int32))
