"""s59: why "auto" keeps 0.5–0.8 dB of `default`'s loss on clean enlargements — per photo: the rule's readings
(σ_r removed, input level, k-clause), its strength, the strength of the formula alone, and PSNR at fixed strengths;
for clean enlargements, noisy ones (noise before enlarging) and ordinary noise (after)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from quality import photos  # noqa: E402
from upscale import enlarged, psnr  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.noise import estimate_sigma, residual_sigma, subsample_blocks  # noqa: E402

torch.set_num_threads(1)
weights = sys.argv[1] if len(sys.argv) > 1 else "default"
den = cvdenoise.load(weights, half=False, ensemble=1)
rule = den.rule_for(3)
imgs = list(photos(320, False).values())
rng = np.random.default_rng(0)


def noisy_small_enlarged(im: np.ndarray, factor: float, sigma: float, interp: int) -> np.ndarray:
    h, w = im.shape[:2]
    small = cv2.resize(im, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = np.clip(small + rng.normal(0, sigma, small.shape), 0, 255).round().astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=interp)


cases = {}
for f in (1.5, 2.0):
    for name, it in (("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC), ("lanczos", cv2.INTER_LANCZOS4)):
        cases[f"{f:g}x {name}"] = [enlarged(im, f, it) for im in imgs]
for s in (5, 10):
    cases[f"σ{s} then 2x cubic"] = [noisy_small_enlarged(im, 2.0, s, cv2.INTER_CUBIC) for im in imgs]
    cases[f"σ{s} then 1.5x cubic"] = [noisy_small_enlarged(im, 1.5, s, cv2.INTER_CUBIC) for im in imgs]
for s in (3, 8):
    cases[f"1.5x cubic then σ{s}"] = [np.clip(enlarged(im, 1.5, cv2.INTER_CUBIC) + rng.normal(0, s, im.shape), 0, 255).round().astype(np.uint8) for im in imgs]
for s in (0.7, 1.2):
    cases[f"blur {s}"] = [cv2.GaussianBlur(im, (0, 0), s) for im in imgs]

S = (0.0, 0.25, 0.5, 0.75, 1.0)
print(f"{'case':22s} {'input':>6s} " + " ".join(f"s={s:<4}" for s in S) + "  auto(s)       | per photo: σr level k? s_auto s_formula")
for case, xs in cases.items():
    rows, per = [], []
    for x, im in zip(xs, imgs):
        plain = den(x, strength=1.0)
        auto = den(x)
        sa = den.last_strength[0]
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255
        p = torch.from_numpy(den(x.astype(np.float32) / 255, strength=1.0)).permute(2, 0, 1)[None]
        xs_, ps_ = subsample_blocks(t), subsample_blocks(p)
        sr = float(residual_sigma(xs_, ps_))
        lv = float(estimate_sigma(xs_))
        sf = float(np.clip(rule.a + rule.b * np.log(sr + 0.1), 0, 1))
        k = lv < rule.k * sr
        out = [psnr(np.clip(x + s * (plain.astype(np.float32) - x), 0, 255).round().astype(np.uint8), im) for s in S]
        rows.append([psnr(x, im), *out, psnr(auto, im), sa])
        per.append(f"{sr:.2f} {lv:.2f} {'K' if k else '-'} {sa:.2f} {sf:.2f}")
    m = np.mean(rows, 0)
    print(f"{case:22s} {m[0]:6.2f} " + " ".join(f"{v:6.2f}" for v in m[1:6]) + f"  {m[6]:.2f} ({m[7]:.2f})  | " + " ; ".join(per), flush=True)
