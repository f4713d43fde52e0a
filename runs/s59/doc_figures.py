"""s59: two figures of docs/video-yolo.md measured — (1) a FrameFilter's first frame of a size against its later
frames, (2) the memory of 100 000 FrameInfo records (the default max_history).

    python runs/s59/doc_figures.py   (log: runs/s59/doc_figures.log)
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import torch

import cvdenoise
from cvdenoise.video import FrameInfo

torch.set_num_threads(2)
rng = np.random.default_rng(0)
ff = cvdenoise.FrameFilter("fast")
print(f"FrameFilter('fast'), {ff.denoiser.precision}, 2 threads")
for h, w in ((480, 640), (720, 1280), (360, 640), (1080, 1920)):
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(6)]
    times = []
    for f in frames:
        t = time.perf_counter()
        ff(f)
        times.append((time.perf_counter() - t) * 1e3)
    later = float(np.median(times[1:]))
    print(f"{w}x{h}: first frame {times[0]:.0f} ms, later frames median {later:.0f} ms, ratio {times[0] / later:.2f}")

tracemalloc.start()
records = [FrameInfo(index=i, sigma=3.5 + i * 1e-6, strength=0.7 - i * 1e-7, ms=12.5 + i * 1e-5, impulses=i % 3)
           for i in range(100_000)]  # (each record its own floats, as a stream's are)
size, _ = tracemalloc.get_traced_memory()
print(f"100000 FrameInfo records (gated: sigma, strength and ms each a float of its own): {size / 2**20:.1f} MiB")
