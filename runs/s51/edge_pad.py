"""s51: the Denoiser's 16-px context border mirrored about the edge pixel (reflect, before) or with the
edge pixel repeated (symmetric, shipped). Squared error of the outermost rows/columns ("edge") and of
rows/columns 2 ("inner"), and the whole image's PSNR, on the quality benchmark's photos and presets,
one float32 pass, strength 1.   Run from the repository root: python runs/s51/edge_pad.py"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import numpy as np
import torch

import cvdenoise
import cvdenoise.denoiser as dn
from cvdenoise.model import reflect_pad, symmetric_pad
from quality import noisy_copy, photos

torch.set_num_threads(1)
imgs = list(photos(320, False).values())
for name in ("default", "fast"):
    den = cvdenoise.load(name, ensemble=1, half=False, strength=1)
    for preset in ("gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"):
        res = {}
        for mode, pad in (("reflect", reflect_pad), ("symmetric", symmetric_pad)):
            dn.symmetric_pad = pad
            edge, inner, psnr = [], [], []
            for i, c in enumerate(imgs):
                err = (den(noisy_copy(c, preset, i)).astype(np.float64) - c) ** 2
                edge.append(np.concatenate([err[0], err[-1], err[:, 0], err[:, -1]]).mean())
                inner.append(np.concatenate([err[2], err[-3], err[:, 2], err[:, -3]]).mean())
                psnr.append(10 * np.log10(255**2 / err.mean()))
            res[mode] = f"edge {np.mean(edge):.1f} inner {np.mean(inner):.1f} PSNR {np.mean(psnr):.3f}"
        dn.symmetric_pad = symmetric_pad
        print(f"{name:8s} {preset:11s} reflect: {res['reflect']} | symmetric: {res['symmetric']}", flush=True)
