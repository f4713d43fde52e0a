"""s57: would the impulse step (blend.impulse_mask + the 3x3 median of the output) help at strength 1 too?

For each case, mean PSNR over the six benchmark photos (320^2 crops) of the plain output (strength 1) and of the plain
output with the impulse step forced, for `fast` and `default` (float32, one pass), plus how many values it replaced.
Cases: the impulse benchmark's cases and the quality benchmark's presets (white, low light, camera, chain).
Run: OMP_NUM_THREADS=1 python runs/s57/impulse_s1.py [T ...]  (thresholds t on |output - its 3x3 median|; 0: the plain step)
"""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from impulse import cases, psnr  # noqa: E402
from quality import PRESETS, noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import _neighbour_median, impulse_mask  # noqa: E402

torch.set_num_threads(1)
TS = [float(a) for a in (sys.argv[1:] or ["0", "0.02", "0.04", "0.08"])]
imgs = list(photos(320, quick=False).values())
work = {}
for name, make in cases().items():
    rng = np.random.default_rng(0)
    work[name] = [(im, make(im, rng)) for im in imgs]
for p in PRESETS:
    work[p] = [(im, noisy_copy(im, p, i)) for i, im in enumerate(imgs)]
rng = np.random.default_rng(1)
work["white σ=25 + s&p 1.0%"] = [(im, cases()["s&p 1.0%"](np.clip(im + rng.normal(0, 25, im.shape), 0, 255).round().astype(np.uint8), rng)) for im in imgs]
work["white σ=50 + s&p 1.0%"] = [(im, cases()["s&p 1.0%"](np.clip(im + rng.normal(0, 50, im.shape), 0, 255).round().astype(np.uint8), rng)) for im in imgs]
to8 = lambda t: (t[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()  # noqa: E731
for w in ("fast", "default"):
    den = cvdenoise.load(w, half=False, ensemble=1)
    print(f"== {w}: case | plain | plain + impulse step where the output stands more than t from its 3x3 median, t = {TS} (values replaced, mean)", flush=True)
    for name, pairs in work.items():
        a, b, n = [], [], []
        for clean, noisy in pairs:
            x = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                out = den.denoise_tensor(x)
                mask = impulse_mask(x, out, beyond_noise=0)
                res = []
                for t in TS:
                    fixed = out.clone()
                    if mask.any():
                        med = _neighbour_median(out, mask.nonzero())
                        stands = (out[mask] - med).abs() > t
                        m2 = mask.clone()
                        m2[mask] = stands
                        fixed[m2] = med[stands]
                    res.append((psnr(to8(fixed), clean), int(m2.sum()) if mask.any() else 0))
            a.append(psnr(to8(out), clean))
            b.append([r[0] for r in res])
            n.append([r[1] for r in res])
        b, n = np.mean(b, 0), np.mean(n, 0)
        print(f"{name} | {np.mean(a):.2f} | " + " | ".join(f"{v:.2f} ({k:.0f})" for v, k in zip(b, n)), flush=True)
