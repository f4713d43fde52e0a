"""White-noise specialist routing: noise profiles (cvdenoise.noise), RouteRule and Specialist
(cvdenoise.route), and their use by Denoiser and load()."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import add_noise, psnr

import cvdenoise
from cvdenoise.degrade import Degrader
from cvdenoise.noise import NoiseProfile, noise_profile
from cvdenoise.route import RouteRule, Specialist
from cvdenoise.weights import WeightsError, read_card, resolve

RULE = RouteRule(min_sigma=8.0, max_channel_corr=0.2, max_whiteness=1.5, level_ratio=(0.8, 1.4))


def _profile(img: np.ndarray) -> NoiseProfile:
    p = noise_profile(img)
    assert isinstance(p, NoiseProfile)
    return p


def test_profile_reads_white_gaussian_noise(clean_rgb: np.ndarray) -> None:
    p = _profile(add_noise(clean_rgb, 25))
    assert 20 < p.sigma < 30
    assert abs(p.channel_corr) < 0.15 and p.whiteness < 1.4 and 0.8 < p.level_ratio < 1.4
    assert RULE.accepts_profile(p)


def test_profile_tells_other_noise_kinds_apart(clean_rgb: np.ndarray) -> None:
    camera = _profile(Degrader("camera")(clean_rgb, np.random.default_rng(0)))
    assert camera.whiteness > 2.0  # demosaiced: spatially correlated
    ok, buf = cv2.imencode(".jpg", add_noise(clean_rgb, 15), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = _profile(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    assert jpeg.channel_corr > 0.5  # chroma subsampling ties the channels' noise together
    shared = np.random.default_rng(0).normal(0, 20, clean_rgb.shape[:2])[..., None]
    luma_only = _profile(np.clip(clean_rgb + shared, 0, 255).astype(np.uint8))
    assert luma_only.channel_corr > 0.9
    clean = _profile(clean_rgb)
    assert clean.sigma < 5
    for p in (camera, jpeg, luma_only, clean):
        assert not RULE.accepts_profile(p)


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


def test_rule_thresholds_card_round_trip_and_errors() -> None:
    assert RULE.accepts(25, 0.0, 1.1, 1.0)
    assert not RULE.accepts(5, 0.0, 1.1, 1.0)  # too little noise
    assert not RULE.accepts(25, 0.5, 1.1, 1.0)  # channels correlated
    assert not RULE.accepts(25, 0.0, 2.5, 1.0)  # not white
    assert not RULE.accepts(25, 0.0, 1.1, 0.5)  # grows in the shadows
    assert RouteRule.from_card(RULE.to_card()) == RULE
    with pytest.raises(ValueError, match="white_noise_specialist"):
        RouteRule.from_card({"min_sigma": 3})
    with pytest.raises(ValueError, match="low <= high"):
        RouteRule(3, 0.2, 1.5, (1.2, 0.9))
    assert RULE(torch.rand(2, 3, 4, 4)) == [False, False]  # too small to profile: never routed


def test_denoiser_routes_per_image(clean_rgb: np.ndarray) -> None:
    calls = []

    def loader() -> object:
        calls.append(1)
        return lambda t: torch.zeros_like(t)  # a recognisable "specialist"

    base = cvdenoise.load("fast", specialist=False)
    den = cvdenoise.Denoiser({3: cvdenoise.weights.load_model("color-fast")}, border=base.border,
                             rules=base.rules, specialists={3: Specialist("zeros", RULE, loader, lazy=True)})
    assert den.specialist_name(3) == "zeros" and den.specialist_name(1) is None
    clean = den(clean_rgb)
    assert den.last_routed == [False] and not calls
    assert np.array_equal(clean, base(clean_rgb))
    noisy = add_noise(clean_rgb, 25)
    batch = torch.from_numpy(np.stack([noisy, clean_rgb])).permute(0, 3, 1, 2)
    out = den(batch)
    assert den.last_routed == [True, False] and den.last_strength[0] == 1.0 and len(calls) == 1
    assert int(out[0].max()) == 0  # the specialist's output, as it is
    assert torch.equal(out[1], torch.from_numpy(clean).permute(2, 0, 1))  # the blind model's, auto strength
    den(noisy)
    assert len(calls) == 1  # loaded once
    assert np.array_equal(den(noisy, strength=0), noisy) and den.last_routed == [False]
    with pytest.raises(ValueError, match="without a model"):
        cvdenoise.Denoiser({3: lambda t: t}, specialists={1: Specialist("x", RULE, lambda t: t)})
    with pytest.raises(ValueError, match="no white-noise specialist"):
        base.denoise_tensor(torch.rand(1, 3, 16, 16), specialist=True)


def _card_copy(tmp_path: Path, entry: object) -> Path:
    src = resolve("color-fast")
    dst = tmp_path / "mine.safetensors"
    shutil.copy(src, dst)
    card = json.loads(src.with_suffix(".json").read_text())
    card["white_noise_specialist"] = entry
    dst.with_suffix(".json").write_text(json.dumps(card))
    return dst


def test_load_reads_the_card_entry(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    path = _card_copy(tmp_path, {"weights": "color-fast", **RULE.to_card()})
    den = cvdenoise.load(str(path))
    assert den.specialist_name(3) == "color-fast" and den.specialists[3].rule == RULE
    den(add_noise(clean_rgb, 25))
    assert den.last_routed == [True]
    assert cvdenoise.load(str(path), specialist=False).specialists == {}
    with pytest.raises(WeightsError, match="missing"):
        cvdenoise.load(str(_card_copy(tmp_path, {"weights": "no-such-weights", **RULE.to_card()})))
    with pytest.raises(WeightsError, match="white_noise_specialist"):
        cvdenoise.load(str(_card_copy(tmp_path, {"weights": "color-fast", "min_sigma": 2})))


@pytest.mark.parametrize("name", ["color-default"])
def test_shipped_specialist_beats_the_blind_model_on_white_noise(name: str, clean_rgb: np.ndarray) -> None:
    entry = read_card(name).get("white_noise_specialist")
    if not entry:
        pytest.skip(f"{name} ships no white-noise specialist")
    routed = cvdenoise.load(name, half=False, ensemble=1)
    blind = cvdenoise.load(name, half=False, ensemble=1, specialist=False)
    noisy = add_noise(clean_rgb, 25)
    out = routed(noisy)
    assert routed.last_routed == [True]
    assert psnr(out, clean_rgb) > psnr(blind(noisy), clean_rgb) + 0.1
    cam = Degrader("camera")(clean_rgb, np.random.default_rng(0))
    assert np.array_equal(routed(cam), blind(cam)) and routed.last_routed == [False]
