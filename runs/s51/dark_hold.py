"""Prototype: hold the output's local mean of dark channels to the input's (noise clipped at 0 only raises it)."""
# Not shipped (s51). Run from the repository root: python runs/s51/dark_hold.py  (env: CHROMA=0/1, DARK_TOL=levels)
import os
import sys
from pathlib import Path
import torch, torch.nn.functional as F
import cvdenoise.denoiser as dn
from cvdenoise.highlights import box_means, keep_highlight_level

DARK_FROM = float(os.environ.get("DARK_FROM", "0.08"))
RAMP = float(os.environ.get("DARK_RAMP", "0.04"))
CHROMA = os.environ.get("CHROMA", "1") == "1"
BRIGHT_FROM = float(os.environ.get("BRIGHT_FROM", "0.35"))
TOL = float(os.environ.get("DARK_TOL", "0.0")) / 255

def keep_dark_level(noisy, denoised):
    level = box_means(noisy)
    lift = box_means(denoised) - level - TOL
    w = ((DARK_FROM + RAMP - level) / RAMP).clamp(0, 1)
    if CHROMA:  # only beside a bright channel: a saturated colour's empty channel
        w = w * ((level.amax(1, keepdim=True) - BRIGHT_FROM) / 0.15).clamp(0, 1)
    drop = w * lift.clamp(min=0)
    if float(drop.amax()) <= 0:
        return denoised
    b = 4
    region = F.interpolate(F.pad(drop, (1, 1, 1, 1), mode="replicate"), scale_factor=b, mode="bilinear",
                           align_corners=False)[..., b:-b, b:-b]
    h, w_ = denoised.shape[-2:]
    return (denoised - region[..., :h, :w_]).clamp(min=0)

def both(noisy, out, inplace=False):
    out = keep_highlight_level(noisy, out, inplace=inplace)
    return keep_dark_level(noisy, out)

def patch(on: bool):
    dn.keep_highlight_level = both if on else keep_highlight_level


import sys; sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import numpy as np, torch; torch.set_num_threads(2)
import cvdenoise
from quality import photos, noisy_copy, metrics
cols = [(255,255,0),(255,0,255),(0,255,255),(255,0,0),(0,255,0),(0,0,255),(250,220,0),(60,5,0),(30,30,30),(128,0,64)]
imgs = list(photos(320, False).values())
for name in ["default", "fast"]:
    for on in (False, True):
        patch(on)
        den = cvdenoise.load(name, ensemble=1, half=False)
        worst = {}
        for s in (10, 15, 25):
            errs = []
            for i, c in enumerate(cols):
                rng = np.random.default_rng(i)
                y = np.clip(np.rint(np.array(c, float) + rng.normal(0, s, (96, 96, 3))), 0, 255).astype(np.uint8)
                o = den(y, strength=1).reshape(-1, 3).mean(0)
                errs.append(np.abs(o - c).max())
            worst[s] = (round(float(max(errs)), 1), round(float(np.mean(errs)), 2))
        ps = {}
        for preset in ["gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"]:
            ps[preset] = round(float(np.mean([metrics(den(noisy_copy(c, preset, i)), c)[0] for i, c in enumerate(imgs)])), 3)
        print(name, "hold" if on else "plain", "sat worst/mean", worst, ps, flush=True)
