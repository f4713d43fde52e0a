from __future__ import annotations

import pytest
import torch

from cvdenoise.model import CONFIGS, DenoiseAutoencoder, ModelConfig, count_macs, count_params
from cvdenoise.noise import noise_level


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
    assert count_macs(fast) < 15_000  # the "order of 10k multiply-adds per pixel"
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


def _noise_input_model(channels: int = 3) -> DenoiseAutoencoder:
    torch.manual_seed(0)
    m = DenoiseAutoencoder(ModelConfig(channels=channels, widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,), noise_input=True))
    with torch.no_grad():
        m.head.weight[:, 4 * channels :] = torch.randn_like(m.head.weight[:, 4 * channels :])
    return m.eval()


def test_noise_input_model_uses_its_estimate() -> None:
    m = _noise_input_model()
    assert m.head.in_channels == 3 * 4 + 3  # unshuffled planes + one σ plane per channel
    x = (torch.rand(2, 3, 1, 1) * 0.5 + 0.25 + 0.1 * torch.randn(2, 3, 40, 56)).clamp(0, 1)
    with torch.no_grad():
        est = noise_level(x)
        y = m(x)
        assert torch.equal(y, m(x, est))  # forward estimates σ from its own (unpadded) input
        assert not torch.allclose(y, m(x, est * 0.2))  # …and the σ planes change the output
        assert m(torch.rand(1, 3, 17, 33)).shape == (1, 3, 17, 33)


def test_noise_level_matches_known_sigma() -> None:
    torch.manual_seed(0)
    ramp = torch.linspace(0.2, 0.8, 96)[None, None, None, :].expand(2, 3, 128, 96)
    sig = torch.tensor([2.0, 10.0, 30.0])[None, :, None, None] / 255
    x = ramp + torch.randn(2, 3, 128, 96) * sig
    got = noise_level(x) * 255
    assert got.shape == (2, 3) and got.dtype == torch.float32
    assert torch.allclose(got, (sig.flatten() * 255).expand(2, 3), rtol=0.1)
    assert torch.allclose(noise_level(x.to(torch.bfloat16)), noise_level(x.to(torch.bfloat16).float()))
    big = torch.full((1, 1, 1200, 1100), 0.5) + torch.randn(1, 1, 1200, 1100) * 0.05  # subsampled median
    assert abs(float(noise_level(big)) - 0.05) < 0.002
