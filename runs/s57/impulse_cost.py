"""s57: what the impulse step costs at strength 1, beside the model and the strength rule.

A photo (scikit-image astronaut) resized to each frame size, white noise sigma 25 (no impulses) and the same plus 1 %
salt and pepper; medians of 9 runs, 2 threads, `load(w)` as a user gets it: the model pass (denoise_tensor), the rule,
and auto_blend at strength 1 (the impulse search, and the replacement where found).
Run: python runs/s57/impulse_cost.py
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from impulse import salt_and_pepper, white  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import auto_blend  # noqa: E402

torch.set_num_threads(2)


def median_ms(f) -> float:
    f()
    t = []
    for _ in range(9):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return float(np.median(t)) * 1e3


for w in ("fast", "default"):
    den = cvdenoise.load(w)
    rule = den.rule_for(3)
    for size in ((640, 640), (1280, 720)):
        for case in ("σ 25", "σ 25 + 1 % s&p"):
            rng = np.random.default_rng(0)
            img = white(cv2.resize(data.astronaut(), size), 25, rng)
            if "s&p" in case:
                img = salt_and_pepper(img, 0.01, rng)
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                y = den.denoise_tensor(x)
                found = int(auto_blend(x, y, torch.ones(1))[2][0])
                m = median_ms(lambda: den.denoise_tensor(x)) if case == "σ 25" else float("nan")
                r = median_ms(lambda: rule(x, y))
                a = median_ms(lambda: auto_blend(x, y, torch.ones(1)))
            print(f"{w} ({den.precision}) {size[0]}x{size[1]} {case}: model {m:.0f} ms, rule {r:.1f} ms, "
                  f"impulse step at strength 1 {a:.1f} ms ({found} values replaced)", flush=True)
