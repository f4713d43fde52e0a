from __future__ import annotations

import numpy as np
import pytest
import torch

from cvdenoise.model import CONFIGS, DenoiseAutoencoder, ModelConfig, count_macs, count_params


@pytest.mark.parametrize("size", sorted(CONFIGS))
@pytest.mark.parametrize("hw", [(16, 16), (17, 33), (64, 50)])  # H, W > pad (the Denoiser pads tiny images)
def test_any_size(size: str, hw: tuple[int, int]) -> None:
    m = DenoiseAutoencoder(CONFIGS[size]).eval()
    x = torch.rand(2, 3, *hw)
    y = m(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_gray_config() -> None:
    m = DenoiseAutoencoder(ModelConfig(channels=1, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,)))
    assert m(torch.rand(1, 1, 20, 20)).shape == (1, 1, 20, 20)


def test_encoder_features_shapes() -> None:
    cfg = CONFIGS["fast"]
    m = DenoiseAutoencoder(cfg)
    feats = m.encode(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == list(cfg.widths)
    assert feats[-1].shape[-1] == 64 // cfg.multiple
    assert [f.shape for f in m.encode(torch.rand(3, 64, 64))] == [f.shape[1:] for f in feats]  # unbatched
    for bad in ((1, 3, 60, 64), (1, 1, 64, 64), (64, 64)):  # not a multiple, wrong channels, no channels
        with pytest.raises(ValueError, match=r"multiples of 8 \(model.multiple"):
            m.encode(torch.rand(*bad))


def test_budget_fast_vs_default() -> None:
    fast, default = DenoiseAutoencoder(CONFIGS["fast"]), DenoiseAutoencoder(CONFIGS["default"])
    assert count_macs(fast) < 20_000  # the "order of 10k multiply-adds per pixel"
    assert count_macs(default) > 3 * count_macs(fast)
    assert count_params(fast) < count_params(default)


@pytest.mark.parametrize(
    "kw",
    [dict(channels=2), dict(widths=()), dict(enc_blocks=(1,)), dict(dec_blocks=(1, 1, 1, 1)), dict(unshuffle=0)],
)
def test_invalid_config(kw: dict) -> None:
    with pytest.raises(ValueError):
        ModelConfig(**kw)


def test_default_config_is_the_default_size() -> None:
    assert ModelConfig() == CONFIGS["default"] and len(CONFIGS["default"].widths) == 4
    assert DenoiseAutoencoder().config == CONFIGS["default"]


def test_config_dict_round_trip() -> None:
    c = CONFIGS["default"]
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**c.to_dict(), "bogus": 1})


@pytest.mark.parametrize("size", ["fast", "default"])
def test_inference_in_place_path_matches_training_path(size: str) -> None:
    """Inference reuses buffers in place; it must give the training graph's output, and the
    training graph must still backpropagate (no tensor it saved was overwritten)."""
    torch.manual_seed(0)
    m = DenoiseAutoencoder(CONFIGS[size])
    for p in m.parameters():  # non-zero residual, so every branch contributes
        p.data.normal_(0, 0.05)
    x = torch.rand(2, 3, 32, 48)
    with torch.inference_mode():
        y_inf = m(x)
    y_train = m(x)
    assert y_train.requires_grad
    torch.testing.assert_close(y_inf, y_train.detach(), rtol=0, atol=1e-6)
    assert (y_inf - x).abs().mean() > 1e-3  # the network did change the image
    y_train.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())



@pytest.mark.parametrize("shape, pads", [((5, 7), 3), ((2, 9), (4, 1, 0, 6)), ((1, 4), (2, 3, 5, 0)), ((6, 6), (2, 0, 1, 3))])
def test_reflect_pad_is_numpys_reflect_pad(shape: tuple[int, int], pads: int | tuple[int, int, int, int]) -> None:
    # also on sides shorter than their padding (mirror-tiled), one-pixel sides (replicated) and
    # per side (top, bottom, left, right)
    from cvdenoise.model import reflect_pad

    x = np.arange(float(np.prod(shape)), dtype=np.float32).reshape(shape)
    t, b, l, r = (pads,) * 4 if isinstance(pads, int) else pads
    want = np.pad(x, ((t, b), (l, r)), mode="reflect")
    assert np.array_equal(reflect_pad(torch.from_numpy(x)[None, None], pads)[0, 0].numpy(), want)


def test_encode_names_a_wrong_type_or_dtype() -> None:
    # a uint8 or float64 batch failed inside a convolution ("Input type ... and bias type ...")
    import numpy as np

    m = DenoiseAutoencoder(CONFIGS["fast"]).eval()
    with pytest.raises(TypeError, match=r"encode needs a torch.float32 tensor in \[0, 1\].*got torch.uint8"):
        m.encode(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(TypeError, match="got torch.float64"):
        m.encode(torch.zeros(1, 3, 64, 64, dtype=torch.float64))
    with pytest.raises(TypeError, match="encode needs a torch tensor, got ndarray"):
        m.encode(np.zeros((1, 3, 64, 64), np.float32))  # type: ignore[arg-type]
    assert len(m.encode(torch.zeros(1, 3, 64, 64))) == len(CONFIGS["fast"].widths)
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):  # (a 0..255 batch went through)
        m.encode(torch.full((1, 3, 64, 64), 200.0))


@pytest.mark.parametrize("shape, pads", [((5, 7), 3), ((2, 9), (4, 1, 0, 6)), ((1, 4), (2, 3, 5, 0)), ((3, 3), (40, 2, 0, 35)),
                                         ((6, 6), (2, 0, 1, 3)), ((40, 33), 16)])
def test_symmetric_pad_is_numpys_symmetric_pad(shape: tuple[int, int], pads: int | tuple[int, int, int, int]) -> None:
    # the Denoiser's context border (docs/export.md's raw-session recipe pads with numpy's mode="symmetric"),
    # also mirror-tiled on short sides with unequal padding each side
    from cvdenoise.model import symmetric_pad

    x = np.arange(float(np.prod(shape)), dtype=np.float32).reshape(shape)
    t, b, l, r = (pads,) * 4 if isinstance(pads, int) else pads
    want = np.pad(x, ((t, b), (l, r)), mode="symmetric")
    assert np.array_equal(symmetric_pad(torch.from_numpy(x)[None, None], pads)[0, 0].numpy(), want)


def test_encode_refuses_empty_input_and_names_the_models_dtype() -> None:
    m = DenoiseAutoencoder(CONFIGS["fast"]).eval()
    for x in (torch.rand(0, 3, 16, 16), torch.rand(1, 3, 0, 0)):  # (a wrong channel count came from inside torch)
        with pytest.raises(ValueError, match="non-empty"):
            m.encode(x)
    with pytest.raises(TypeError, match=r"x.to\(torch.float16\)"):
        m.half().encode(torch.rand(1, 3, 16, 16))
