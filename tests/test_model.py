from __future__ import annotations

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
