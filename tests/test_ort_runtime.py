"""The in-memory onnxruntime runtime (cvdenoise.ort_runtime) and runtime selection in load()."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import threading

import numpy as np
import pytest
import torch

import cvdenoise
from cvdenoise import ort_runtime
from cvdenoise.denoiser import resolve_runtime
from cvdenoise.model import DenoiseAutoencoder, ModelConfig

pytestmark = pytest.mark.skipif(not ort_runtime.available(), reason="onnxruntime/onnx not installed")


def _random_model(seed: int, **cfg: object) -> DenoiseAutoencoder:
    torch.manual_seed(seed)
    m = DenoiseAutoencoder(ModelConfig(**cfg)).eval()  # type: ignore[arg-type]
    with torch.no_grad():  # a non-zero residual, so a wrong graph cannot hide behind the clamp
        for p in m.parameters():
            p.mul_(2.0)
    return m


@pytest.mark.parametrize(
    "cfg",
    [
        dict(channels=3, widths=(8, 16, 24), enc_blocks=(1, 1, 2), dec_blocks=(1, 0), unshuffle=2),
        dict(channels=1, widths=(8, 16), enc_blocks=(0, 1), dec_blocks=(2,), unshuffle=2),
        dict(channels=3, widths=(8,), enc_blocks=(1,), dec_blocks=(), unshuffle=1),
        dict(channels=3, widths=(6, 12), enc_blocks=(1, 1), dec_blocks=(1,), unshuffle=3),
    ],
)
def test_graph_matches_pytorch(cfg: dict) -> None:
    model = _random_model(0, **cfg)
    om = ort_runtime.OrtModel(model, threads=1)
    for shape in [(2, cfg["channels"], 37, 53), (1, cfg["channels"], 48, 24)]:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            ref, got = model(x), om(x)
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert (ref - x).abs().mean() > 1e-3  # the residual is not trivially zero
        assert torch.allclose(got, ref, atol=1e-3), (got - ref).abs().max()


def test_unknown_or_impossible_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="runtime must be"):
        cvdenoise.load("fast", runtime="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float32 on the CPU"):
        resolve_runtime("onnxruntime", torch.device("cuda"), "fp16")
    with pytest.raises(ValueError, match="float32 on the CPU"):
        resolve_runtime("onnxruntime", torch.device("cpu"), "bf16")
    assert resolve_runtime("auto", torch.device("cpu"), "bf16") == "torch"
    assert resolve_runtime("auto", torch.device("cuda"), "fp32") == "torch"
    assert resolve_runtime("auto", torch.device("cpu"), "fp32") == "onnxruntime"


def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_runtime, "available", lambda: False)
    assert cvdenoise.load("fast", half=False).runtime == "torch"
    with pytest.raises(ImportError, match=r"cvdenoise\[onnx\]"):
        cvdenoise.load("fast", half=False, runtime="onnxruntime")


def test_denoiser_runtimes_agree_tiled_and_gray() -> None:
    rng = np.random.default_rng(0)
    img = (np.clip(rng.normal(0.5, 0.2, (150, 210, 3)), 0, 1) * 255).astype(np.uint8)
    ort = cvdenoise.load("fast", half=False, runtime="onnxruntime", tile=128, overlap=32, strength=1.0)
    pt = cvdenoise.load("fast", half=False, runtime="torch", tile=128, overlap=32, strength=1.0)
    assert (ort.runtime, pt.runtime) == ("onnxruntime", "torch")
    a, b = ort(img), pt(img)
    assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(a.astype(int) - img).mean() > 5  # it denoised
    gray = img[..., 0]  # the lazily loaded gray twin runs in onnxruntime too
    assert np.abs(ort(gray).astype(int) - pt(gray)).max() <= 1
    assert type(ort._models[1]).__name__ == "OrtModel"


def test_exported_files_keep_their_own_runtime(tmp_path) -> None:
    with pytest.raises(ValueError, match="its own runtime"):
        cvdenoise.load(tmp_path / "x.onnx", runtime="onnxruntime")


def test_pickle_threads_and_encode() -> None:
    model = _random_model(2, channels=3, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,), unshuffle=2)
    om = ort_runtime.OrtModel(model, threads=1)
    x = torch.rand(1, 3, 40, 40)
    ref = om(x)
    twin = pickle.loads(pickle.dumps(om))
    assert torch.equal(twin(x), ref)
    outs: list[torch.Tensor] = []
    threads = [threading.Thread(target=lambda: outs.append(om(x))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 4 and all(torch.equal(o, ref) for o in outs)
    assert [f.shape[1] for f in om.encode(x)] == [8, 16]


class _Noisy(torch.utils.data.Dataset):
    def __init__(self, transform: object) -> None:
        self.transform = transform

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(i)
        return self.transform((torch.rand(3, 48, 56, generator=g) * 255).to(torch.uint8))  # type: ignore[operator]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")
def test_forked_dataloader_workers_after_the_parent_ran_the_model() -> None:
    """onnxruntime sessions do not survive fork: workers of a DataLoader forked after the parent
    used the transform build their own session and give the parent's results."""
    from cvdenoise.transforms import Denoise

    ds = _Noisy(Denoise("fast", runtime="onnxruntime"))
    expected = torch.stack([ds[i] for i in range(4)])  # the parent's session exists and has run
    dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork", timeout=120)
    got = torch.cat(list(dl))
    assert torch.equal(got, expected)


def test_runtime_reaches_every_entry_point(tmp_path) -> None:
    from cvdenoise.cli import main
    from cvdenoise.integrations.albumentations import Denoise as ADenoise
    from cvdenoise.transforms import Denoise

    assert Denoise("fast", runtime="torch").denoiser().runtime == "torch"
    assert Denoise("fast").denoiser().runtime == "onnxruntime"
    with pytest.raises(ValueError, match="runtime must be"):
        Denoise("fast", runtime="cuda")
    assert ADenoise("fast", runtime="torch").denoiser.runtime == "torch"
    with pytest.raises(ValueError, match="runtime"):
        ADenoise("fast", runtime="cuda")  # type: ignore[arg-type]
    assert cvdenoise.FrameFilter("fast", half=False, runtime="torch").denoiser.runtime == "torch"
    import cv2

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(src / "a.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    outs = {}
    for rt in ("torch", "onnxruntime"):
        assert main(["denoise", str(src), "-o", str(tmp_path / rt), "-w", "fast", "--no-half", "--runtime", rt]) == 0
        outs[rt] = cv2.imread(str(tmp_path / rt / "a.png"))
    assert np.abs(outs["torch"].astype(int) - outs["onnxruntime"]).max() <= 1
    with pytest.raises(SystemExit):
        main(["denoise", str(src), "-o", str(tmp_path / "x"), "--runtime", "tensorrt"])


def test_session_follows_torch_thread_count() -> None:
    model = _random_model(4, channels=3, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,), unshuffle=2)
    om = ort_runtime.OrtModel(model)
    x = torch.rand(1, 3, 40, 40)
    ref = om(x)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.allclose(om(x), ref, atol=1e-6)
        assert om._get_session().get_session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(old)
    assert om._get_session().get_session_options().intra_op_num_threads == old
    fixed = ort_runtime.OrtModel(model, threads=1)
    assert fixed._get_session().get_session_options().intra_op_num_threads == 1
