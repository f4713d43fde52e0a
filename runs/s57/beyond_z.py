"""s57: the noise-level multiple of the impulse test (blend.IMPULSE_BEYOND_NOISE), its false alarms and its recall.

False alarms: white noise alone on ramps (128^2 RGB, 6 seeds) with an ideal model (denoised = clean): the images where
values are still taken for impulses. Recall: 1 % salt and pepper on top of white noise on the six benchmark photos
(benchmarks/impulse.py's cases), `default` in float32: the photos where impulses are found.
Run: OMP_NUM_THREADS=1 python runs/s57/beyond_z.py [Z ...]   (default 3.5 4 4.5 5)
"""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from impulse import salt_and_pepper, white  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import _impulses_at  # noqa: E402

torch.set_num_threads(1)
ZS = [float(a) for a in (sys.argv[1:] or ["3.5", "4", "4.5", "5"])]
print("false alarms: images of 6 with values taken, per z", ZS)
for lo, hi in [(0.15, 0.85), (0.0, 1.0)]:
    for sigma in (50, 55, 60, 65, 75):
        row = []
        for z in ZS:
            n = 0
            for seed in range(6):
                ramp = torch.linspace(lo, hi, 128).view(1, 1, 1, 128).expand(1, 3, 128, 128).contiguous()
                g = torch.Generator().manual_seed(seed)
                noisy = (ramp + torch.randn(ramp.shape, generator=g) * sigma / 255).clamp(0, 1)
                n += len(_impulses_at(noisy, ramp, beyond_noise=z)) > 0
            row.append(n)
        print(f"ramp {lo}-{hi}, sigma {sigma}: {row}", flush=True)
imgs = list(photos(320, quick=False).values())
den = cvdenoise.load("default", half=False, ensemble=1)
print("recall: photos of 6 with impulses found, per z", ZS)
for sigma in (0, 10, 25, 40, 50):
    rng = np.random.default_rng(sigma)
    xs = [torch.from_numpy(salt_and_pepper(white(im, sigma, rng) if sigma else im, 0.01, rng)).permute(2, 0, 1)[None].float() / 255
          for im in imgs]
    with torch.inference_mode():
        outs = [den.denoise_tensor(x) for x in xs]
    row = [sum(len(_impulses_at(x, y, beyond_noise=z)) > 0 for x, y in zip(xs, outs)) for z in ZS]
    print(f"white sigma {sigma} + 1 %: {row}", flush=True)
