"""cvdenoise.noise.noise_profile: what kind of noise an image holds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import add_noise

from cvdenoise.degrade import Degrader
from cvdenoise.noise import NoiseProfile, noise_profile


def _profile(img: np.ndarray) -> NoiseProfile:
    p = noise_profile(img)
    assert isinstance(p, NoiseProfile)
    return p


def test_profile_reads_white_gaussian_noise(clean_rgb: np.ndarray) -> None:
    p = _profile(add_noise(clean_rgb, 25))
    assert 20 < p.sigma < 30
    assert abs(p.channel_corr) < 0.15 and p.whiteness < 1.4 and 0.8 < p.level_ratio < 1.4


def test_profile_tells_other_noise_kinds_apart(clean_rgb: np.ndarray) -> None:
    camera = _profile(Degrader("camera")(clean_rgb, np.random.default_rng(0)))
    assert camera.whiteness > 2.0  # demosaiced: spatially correlated
    ok, buf = cv2.imencode(".jpg", add_noise(clean_rgb, 15), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = _profile(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    assert jpeg.channel_corr > 0.5  # chroma subsampling ties the channels' noise together
    shared = np.random.default_rng(0).normal(0, 20, clean_rgb.shape[:2])[..., None]
    luma_only = _profile(np.clip(clean_rgb + shared, 0, 255).astype(np.uint8))
    assert luma_only.channel_corr > 0.9
    assert _profile(clean_rgb).sigma < 5
    speckle = np.clip(clean_rgb * (1 + np.random.default_rng(0).normal(0, 0.2, clean_rgb.shape)), 0, 255)
    assert _profile(speckle.astype(np.uint8)).level_ratio > 1.5  # multiplicative: grows with brightness


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
    deep = big.astype(np.uint16) * 257  # 16-bit: the same image, the same 8-bit-unit profile
    assert _profile(deep).sigma == pytest.approx(_profile(big).sigma, rel=1e-3)
