import os, sys, time, json
import torch; torch.set_num_threads(1)
import numpy as np, cv2, cvdenoise
from cvdenoise.video import FrameFilter

_DEN = {}
def den():
    if "d" not in _DEN:
        _DEN["d"] = cvdenoise.load("fast")
    return _DEN["d"]
_DENG = {}
def deng():
    if "d" not in _DENG:
        _DENG["d"] = cvdenoise.load("fast", strength=1.0)
    return _DENG["d"]

def run(noisy, gate=False, temporal=0.0, batch=1):
    ff = FrameFilter(denoiser=deng() if gate else den(), gate=gate, temporal=temporal)
    if batch == 1:
        out = [ff(f) for f in noisy]
    else:
        out = list(ff.stream(noisy, batch_size=batch))
    return out, list(ff.history)

def psnr(a, b, m=None):
    d = (a.astype(np.float32) - b.astype(np.float32)) ** 2
    if m is not None: d = d[m]
    return float(10 * np.log10(255 ** 2 / max(float(d.mean()), 1e-10)))

def mae(a, b, m=None):
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))
    if d.ndim == 3: d = d.mean(2)
    return float(d[m].mean() if m is not None else d.mean())

def tflicker(out, clean, m=None):
    """per-transition mean |(o_t - o_{t-1}) - (c_t - c_{t-1})|"""
    r = []
    for t in range(1, len(out)):
        d = (out[t].astype(np.float32) - out[t-1]) - (clean[t].astype(np.float32) - clean[t-1])
        d = np.abs(d).mean(2) if d.ndim == 3 else np.abs(d)
        r.append(float(d[m].mean() if m is not None else d.mean()))
    return np.array(r)
