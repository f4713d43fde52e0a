"""s57: the impulse step at strength 1 with a noise-aware "moved" threshold.

An impulse candidate is a value at 0 or full scale that the model moved by more than max(0.1, z * sigma / 255), sigma the
input's noise estimate (cvdenoise.noise.estimate_sigma, which skips clipped blocks): white noise clips values only within
a few sigma of the clip level, so candidates farther than z sigma are impulses. Mean PSNR over the six benchmark photos
(320^2 crops) of the plain output (strength 1) and of the plain output with the impulse step, for z in Z, `fast` and
`default` (float32, one pass), with the values replaced (mean).
With --detect, z decides per image only whether impulses are there (some candidate beyond z sigma), and then every
candidate of the step as it is (moved by more than 0.1) is replaced.
Run: OMP_NUM_THREADS=1 python runs/s57/impulse_sigma.py [--detect] [Z ...]   (default 0 2.5 3 3.5; 0: the step as it is)
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
from cvdenoise.blend import IMPULSE_MOVED, _neighbour_median, impulse_mask  # noqa: E402
from cvdenoise.noise import estimate_sigma  # noqa: E402

torch.set_num_threads(1)
DETECT = "--detect" in sys.argv
ZS = [float(a) for a in ([a for a in sys.argv[1:] if a != "--detect"] or ["0", "2.5", "3", "3.5"])]
imgs = list(photos(320, quick=False).values())
work = {}
for name, make in cases().items():
    rng = np.random.default_rng(0)
    work[name] = [(im, make(im, rng)) for im in imgs]
for p in PRESETS:
    work[p] = [(im, noisy_copy(im, p, i)) for i, im in enumerate(imgs)]
sp = cases()["s&p 1.0%"]
for s in (25, 50):
    rng = np.random.default_rng(s)
    work[f"white σ={s} + s&p 1.0%"] = [(im, sp(np.clip(im + rng.normal(0, s, im.shape), 0, 255).round().astype(np.uint8), rng))
                                     for im in imgs]
for p in ("lowlight", "camera"):
    rng = np.random.default_rng(7)
    work[f"{p} + s&p 1.0%"] = [(im, sp(noisy_copy(im, p, i), rng)) for i, im in enumerate(imgs)]
to8 = lambda t: (t[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()  # noqa: E731
for w in ("fast", "default"):
    den = cvdenoise.load(w, half=False, ensemble=1)
    print(f"== {w}: case | plain | with the step, z = {ZS} (values replaced)", flush=True)
    for name, pairs in work.items():
        a, b, n = [], [], []
        for clean, noisy in pairs:
            x = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
            res = []
            with torch.inference_mode():
                out = den.denoise_tensor(x)
                sigma = float(estimate_sigma(x)[0])
                for z in ZS:
                    mask = impulse_mask(x, out, beyond_noise=0)
                    if DETECT and not impulse_mask(x, out, moved=max(IMPULSE_MOVED, z * sigma / 255), beyond_noise=0).any():
                        mask[:] = False  # the image holds no value beyond z sigma: white noise alone
                    fixed = out.clone()
                    if mask.any():
                        fixed[mask] = _neighbour_median(out, mask.nonzero())
                    res.append((psnr(to8(fixed), clean), int(mask.sum())))
            a.append(psnr(to8(out), clean))
            b.append([r[0] for r in res])
            n.append([r[1] for r in res])
        b, n = np.mean(b, 0), np.mean(n, 0)
        print(f"{name} | {np.mean(a):.2f} | " + " | ".join(f"{v:.2f} ({k:.0f})" for v, k in zip(b, n)), flush=True)
