"""s55 (concurrency audit): resident memory over many Denoiser calls of varied or fixed sizes (docs/api.md).

    python runs/s55/mem_sizes.py fast varied 1800     # needs psutil
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1"); os.environ.setdefault("YOLO_OFFLINE", "1")
import numpy as np, torch
torch.set_num_threads(1)

def img(h=64, w=80, c=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 40, h)[:, None, None]
    a = base + rng.normal(0, 20, (h, w, c))
    a = np.clip(a, 0, 255)
    if dtype == np.uint8:
        return a.astype(np.uint8)
    if dtype == np.uint16:
        return (a * 257).astype(np.uint16)
    return (a / 255).astype(dtype)
import gc, sys, threading

import psutil

import cvdenoise
proc = psutil.Process()
def rss(): return proc.memory_info().rss / 2**20
weights = sys.argv[1]; varied = sys.argv[2] == "varied"; n = int(sys.argv[3])
fds0, th0 = proc.num_fds(), threading.active_count(); osth0 = proc.num_threads()
den = cvdenoise.load(weights)
print("after load: fds", proc.num_fds() - fds0, "py threads", threading.active_count() - th0, "os threads", proc.num_threads() - osth0, "rss", round(rss()))
rng = np.random.default_rng(0)
trace = []
for i in range(n):
    if varied:
        h, w = int(rng.integers(40, 400)), int(rng.integers(40, 400))
    else:
        h, w = 256, 320
    c = [1, 3, 3, 4][i % 4]
    a = img(h, w, c, seed=i)
    den(a[..., 0] if c == 1 else a)
    if i % 50 == 49 or i == 0:
        gc.collect(); trace.append((i + 1, round(rss())))
print(weights, "varied" if varied else "fixed", "rss trace", trace)
print("after calls: fds", proc.num_fds() - fds0, "os threads", proc.num_threads() - osth0)
del den; gc.collect()
print("after del: fds", proc.num_fds() - fds0, "os threads", proc.num_threads() - osth0, "rss", round(rss()))
for k in range(5):
    d = cvdenoise.load(weights); d(img(64, 64, 1)[..., 0]); del d; gc.collect()
print("after 5 load/unload: fds", proc.num_fds() - fds0, "py threads", threading.active_count() - th0, "os threads", proc.num_threads() - osth0, "rss", round(rss()))
