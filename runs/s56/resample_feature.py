"""s56: a resampling-periodicity feature (second differences' mean magnitude along each axis, its
spectrum's largest peak over the median) for enlarged images versus blurred, noisy, JPEG and clean ones.
    python runs/s56/resample_feature.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, "benchmarks")
from _common import training_crops  # noqa: E402
from quality import photos  # noqa: E402


def peak(im: np.ndarray) -> tuple[float, float]:
    g = im.astype(np.float64).mean(-1) if im.ndim == 3 else im.astype(np.float64)
    out = []
    for a in (g, g.T):
        e = np.abs(a[:, :-2] - 2 * a[:, 1:-1] + a[:, 2:]).mean(0)
        s = np.abs(np.fft.rfft(e - e.mean()))
        f = np.fft.rfftfreq(e.size)
        band = f >= 0.1
        out.append((s[band].max() / (np.median(s[band]) + 1e-9), f[band][np.argmax(s[band])]))
    return min(o[0] for o in out), out[0][1]


def jpeg(im, q):
    return cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)


def noisy(im, s, seed=0):
    return np.clip(im + np.random.default_rng(seed).normal(0, s, im.shape), 0, 255).round().astype(np.uint8)


def up(im, f, interp):
    h, w = im.shape[:2]
    small = cv2.resize(im, (round(w / f), round(h / f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=interp)


C, L, Z = cv2.INTER_CUBIC, cv2.INTER_LINEAR, cv2.INTER_LANCZOS4
conds = {
    "clean": lambda im: im, "blur0.7": lambda im: cv2.GaussianBlur(im, (0, 0), 0.7),
    "blur1.2": lambda im: cv2.GaussianBlur(im, (0, 0), 1.2), "blur2": lambda im: cv2.GaussianBlur(im, (0, 0), 2),
    "w3": lambda im: noisy(im, 3), "w15": lambda im: noisy(im, 15), "jpeg60": lambda im: jpeg(im, 60),
    "jpeg90": lambda im: jpeg(im, 90),
    "up1.5c": lambda im: up(im, 1.5, C), "up2c": lambda im: up(im, 2, C), "up2l": lambda im: up(im, 2, L),
    "up2z": lambda im: up(im, 2, Z), "up3c": lambda im: up(im, 3, C), "up1.25c": lambda im: up(im, 1.25, C),
    "up1.5l": lambda im: up(im, 1.5, L),
    "up2c+jpeg90": lambda im: jpeg(up(im, 2, C), 90), "up2c+w3": lambda im: noisy(up(im, 2, C), 3),
    "w10+up2c": lambda im: up(noisy(im, 10), 2, C),
}
if __name__ == "__main__":
    sets = {"bench": list(photos(320, False).values()),
            "train": training_crops(Path("P"), ["photos:6", "more:4"], crop=320)}
    for sname, ims in sets.items():
        print(f"\n{sname} ({len(ims)} crops): condition  min-axis peak ratio  median [min, max]")
        for cname, fn in conds.items():
            v = np.array([peak(fn(im))[0] for im in ims])
            print(f"{cname:12s} {np.median(v):7.1f} [{v.min():6.1f}, {v.max():6.1f}]", flush=True)
