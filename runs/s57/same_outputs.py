"""s57: where the impulse step at strength 1 (with its noise-level test) changes `load()`'s output.

For the quality benchmark's presets on its six photos (and the same at half size), with `load("default")` and
`load("fast")` as a user gets them, counts the values the impulse step replaces now (blend._impulses_at) and would have
replaced before s57 (impulse_mask without the noise-level test, and only where the rule's strength is below 1); the
colour models on the photos, the gray ones on their luma.
Equal counts of 0 mean the output is unchanged. Then, for the cases of benchmarks/impulse.py, in how many of the six
photos impulses are found now.
Run: python runs/s57/same_outputs.py
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from impulse import cases  # noqa: E402
from quality import PRESETS, noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import _impulses_at, impulse_mask  # noqa: E402

imgs = list(photos(320, quick=False).values())
for w, channels in (("default", 3), ("fast", 3), ("default", 1), ("fast", 1)):
    den = cvdenoise.load(w)
    rule = den.rule_for(channels)
    for p in PRESETS:
        for scale in (1.0, 0.5):
            now, before, s_min = 0, 0, 1.0
            for i, im in enumerate(imgs):
                noisy = noisy_copy(im, p, i)
                if scale != 1.0:
                    noisy = cv2.resize(noisy, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if channels == 1:  # the gray model on the luma of the noisy photo
                    noisy = cv2.cvtColor(noisy, cv2.COLOR_RGB2GRAY)[:, :, None]
                x = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
                with torch.inference_mode():
                    out = den.denoise_tensor(x)
                    s = float(rule(x, out)[0])
                    now += len(_impulses_at(x, out))
                    before += int(impulse_mask(x, out, beyond_noise=0).sum()) if s < 1 else 0
                s_min = min(s_min, s)
            print(f"{w} {'colour' if channels == 3 else 'gray'} ({den.precision}) {p} scale {scale}: replaced now {now}, before {before}; lowest strength {s_min:.2f}",
                  flush=True)

for w in ("default", "fast"):
    den = cvdenoise.load(w)
    for name, make in cases().items():
        rng = np.random.default_rng(0)
        hits = []
        for im in imgs:
            x = torch.from_numpy(make(im, rng)).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                hits.append(len(_impulses_at(x, den.denoise_tensor(x))) > 0)
        print(f"{w} ({den.precision}) {name}: impulses found in {sum(hits)} of {len(hits)} photos", flush=True)
