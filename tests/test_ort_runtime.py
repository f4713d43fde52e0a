"""The in-memory onnxruntime runtime (cvdenoise.ort_runtime) and the runtime option of load()."""

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

pytestmark = pytest.mark.skipif(ort_runtime.unavailable_reason() is not None, reason="onnxruntime/onnx not installed")


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
    with pytest.raises(ValueError, match="runtime must be 'torch' or 'onnxruntime', got ''"):
        cvdenoise.load("fast", runtime="")  # type: ignore[arg-type]  # (was taken as PyTorch)
    with pytest.raises(ValueError, match="float32 on the CPU"):
        resolve_runtime("onnxruntime", torch.device("cuda"), "fp16")
    with pytest.raises(ValueError, match="float32 on the CPU"):
        resolve_runtime("onnxruntime", torch.device("cpu"), "bf16")
    assert resolve_runtime("torch", torch.device("cuda"), "fp16") == "torch"
    # PyTorch stays the default; asking for onnxruntime makes half="auto" mean float32
    assert cvdenoise.load("fast").runtime == "torch"
    den = cvdenoise.load("fast", runtime="onnxruntime")
    assert (den.runtime, den.precision, den.ensemble) == ("onnxruntime", "fp32", 1)


def test_missing_or_broken_onnxruntime_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # a broken install (protobuf clash) raises TypeError on import, not ImportError
    monkeypatch.setattr(ort_runtime, "unavailable_reason", lambda: "TypeError: Descriptors cannot be created directly")
    assert cvdenoise.load("fast", half=False).runtime == "torch"  # unaffected
    with pytest.raises(ImportError, match=r"cvdenoise\[onnx\].*TypeError: Descriptors"):
        cvdenoise.load("fast", half=False, runtime="onnxruntime")
    from cvdenoise.transforms import Denoise

    with pytest.raises(ImportError, match="Descriptors"):  # at construction, not in a worker
        Denoise("fast", runtime="onnxruntime")


def test_only_a_plain_autoencoder_is_written_to_a_graph() -> None:
    class Tweaked(DenoiseAutoencoder):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 1 - super().forward(x)

    cfg = dict(channels=3, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,), unshuffle=2)
    with pytest.raises(ValueError, match="subclass"):
        ort_runtime.OrtModel(Tweaked(ModelConfig(**cfg)))  # type: ignore[arg-type]
    hooked = _random_model(5, **cfg)
    hooked.tail.register_forward_hook(lambda m, i, o: o * 0)
    with pytest.raises(ValueError, match="hooks"):
        ort_runtime.OrtModel(hooked)
    den = cvdenoise.Denoiser({3: Tweaked(ModelConfig(**cfg)).eval()}, multiple=8, runtime="onnxruntime", strength=1.0)
    with pytest.raises(ValueError, match="runtime='torch'"):
        den(np.zeros((16, 16, 3), np.uint8))
    reflect = _random_model(6, **cfg)
    reflect.tail.padding_mode = "reflect"
    with pytest.raises(ValueError, match="plain convolutions"):
        ort_runtime.onnx_graph(reflect)


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
    with pytest.raises(ValueError, match="its own runtime, onnxruntime"):
        cvdenoise.load(tmp_path / "x.onnx", runtime="torch")
    with pytest.raises(ValueError, match="its own runtime, torch"):
        cvdenoise.load(tmp_path / "x.pt", runtime="onnxruntime")


def test_pickle_and_threads() -> None:
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


class _Noisy(torch.utils.data.Dataset):
    def __init__(self, fn: object) -> None:
        self.fn = fn

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(i)
        return self.fn((torch.rand(3, 48, 56, generator=g) * 255).to(torch.uint8))  # type: ignore[operator]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")
@pytest.mark.parametrize("holder", ["denoiser", "transform"])
def test_forked_dataloader_workers_after_the_parent_ran_the_model(holder: str) -> None:
    """onnxruntime sessions do not survive fork: workers of a DataLoader forked after the parent
    ran the model (a Denoiser the workers inherit as it is, or a transform, which reloads per
    process) build their own session and give the parent's results."""
    from cvdenoise.transforms import Denoise

    fn = cvdenoise.load("fast", runtime="onnxruntime") if holder == "denoiser" else Denoise("fast", runtime="onnxruntime")
    ds = _Noisy(fn)
    expected = torch.stack([ds[i] for i in range(4)])  # the parent's session exists and has run
    dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork", timeout=120)
    got = torch.cat(list(dl))
    assert torch.equal(got, expected)


def test_runtime_reaches_every_entry_point(tmp_path) -> None:
    from cvdenoise.cli import main
    from cvdenoise.integrations.albumentations import Denoise as ADenoise
    from cvdenoise.transforms import Denoise

    assert Denoise("fast").denoiser().runtime == "torch"
    assert Denoise("fast", half="auto", runtime="onnxruntime").denoiser().runtime == "onnxruntime"
    with pytest.raises(ValueError, match="runtime must be"):
        Denoise("fast", runtime="cuda")
    with pytest.raises(ValueError, match="float32 on the CPU|half=True"):
        Denoise("fast", half=True, runtime="onnxruntime")  # (no bf16 CPU, no CUDA: refused either way)
    assert ADenoise("fast").denoiser.runtime == "torch"
    assert ADenoise("fast", runtime="onnxruntime").denoiser.runtime == "onnxruntime"
    with pytest.raises(ValueError, match="runtime"):
        ADenoise("fast", runtime="cuda")  # type: ignore[arg-type]
    assert cvdenoise.FrameFilter("fast", runtime="onnxruntime").denoiser.runtime == "onnxruntime"
    import cv2

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(src / "a.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    outs = {}
    for rt in ("torch", "onnxruntime"):
        assert main(["denoise", str(src), "-o", str(tmp_path / rt), "-w", "fast", "--runtime", rt, "--no-half"]) == 0  # (float32 both)
        outs[rt] = cv2.imread(str(tmp_path / rt / "a.png"))
    assert np.abs(outs["torch"].astype(int) - outs["onnxruntime"]).max() <= 1
    with pytest.raises(SystemExit):
        main(["denoise", str(src), "-o", str(tmp_path / "x"), "--runtime", "auto"])


def test_session_follows_torch_thread_count() -> None:
    model = _random_model(4, channels=3, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,), unshuffle=2)
    om = ort_runtime.OrtModel(model)
    x = torch.rand(1, 3, 40, 40)
    ref = om(x)
    old = torch.get_num_threads()
    first = om._get_session()
    try:
        torch.set_num_threads(1)
        assert torch.allclose(om(x), ref, atol=1e-6)
        assert om._get_session().get_session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(old)
    assert om._get_session() is first  # back to the first count: its session is kept, not rebuilt
    assert sorted(om._sessions) == sorted({1, old})
    fixed = ort_runtime.OrtModel(model, threads=1)
    assert fixed._get_session().get_session_options().intra_op_num_threads == 1
