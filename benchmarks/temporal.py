"""Flicker and ghosting of FrameFilter's temporal smoothing on a synthetic noisy clip.

Run:  python benchmarks/temporal.py          (needs scikit-image for the photo)

The clip: a real photo (skimage ``coffee``, 320×400) as a static background with two squares
moving across it (a bright one at 6 px/frame and a low-contrast one at 3 px/frame — the hard
case for motion detection), 24 frames, fresh Gaussian noise each frame (σ=15 and 25). For the
fast model with ``temporal`` = 0 (off) and 0.3/0.5/0.7 it reports:

* flicker: mean |frame_t − frame_{t−1}| on the static background (8-bit levels; lower = steadier),
* PSNR against the clean frames over the whole clip,
* ghosting: mean absolute error on the moving squares (and the background they uncover)
  minus the same error without smoothing (> 0 means smearing).

Writes ``results/temporal.json`` and the ``temporal`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, should_write, write_section  # noqa: E402

from cvdenoise.temporal import flicker  # noqa: E402
from cvdenoise.video import FrameFilter  # noqa: E402

N = 24
OBJECTS = [  # (y, x0, size, colour BGR, px/frame)
    (40, 10, 40, (40, 220, 250), 6),
    (200, 30, 48, None, 3),  # low contrast: background brightened by 18 levels
]


def make_clip(sigma: float, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """(clean frames, noisy frames, static-background mask, per-frame moving-object masks)."""
    bg = cv2.cvtColor(np.ascontiguousarray(skdata.coffee()[40:360, 100:500]), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(seed)
    clean, noisy = [], []
    moving = np.zeros(bg.shape[:2], bool)
    objs: list[np.ndarray] = []
    for i in range(N):
        f = bg.copy()
        obj = np.zeros(bg.shape[:2], bool)
        for y, x0, s, col, v in OBJECTS:
            x = x0 + i * v
            if col is None:
                f[y : y + s, x : x + s] = np.clip(f[y : y + s, x : x + s].astype(int) + 18, 0, 255)
            else:
                f[y : y + s, x : x + s] = col
            moving[y - 8 : y + s + 8, max(0, x - 8) : x + s + 8] = True
            obj[y : y + s, max(0, x - 2 * v) : x + s] = True  # the object and the strip it just uncovered
        objs.append(obj)
        clean.append(f)
        noisy.append(np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).round().astype(np.uint8))
    return clean, noisy, ~moving, objs


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    base = FrameFilter("fast", half=False)
    rows, data = [], {}
    for sigma in (15, 25):
        clean, noisy, static, objs = make_clip(sigma)
        off = list(base.stream(iter(noisy)))

        def ghost_mae(outs: list[np.ndarray]) -> float:
            return float(np.mean([np.abs(o.astype(float) - c)[m].mean() for o, c, m in zip(outs[1:], clean[1:], objs[1:])]))

        mae_off = ghost_mae(off)

        def psnr(outs: list[np.ndarray]) -> float:
            mse = np.mean([np.mean((o.astype(float) - c) ** 2) for o, c in zip(outs, clean)])
            return float(10 * np.log10(255**2 / mse))

        rows.append([sigma, "noisy input", flicker(noisy, static), psnr(noisy), "—"])
        for w in args.weights:
            if w == 0:
                outs = off
            else:
                ff = FrameFilter(denoiser=base.denoiser, temporal=w)
                outs = list(ff.stream(iter(noisy)))
            mae = ghost_mae(outs)
            label = "off" if w == 0 else f"temporal={w}"
            rows.append([sigma, label, flicker(outs, static), psnr(outs), f"{mae - mae_off:+.2f}"])
            data.setdefault(str(sigma), {})[label] = {
                "flicker_static": flicker(outs, static), "psnr": psnr(outs), "ghost_mae_delta": float(mae - mae_off)
            }
            print(rows[-1], flush=True)
    md = f"""## Temporal smoothing (`python benchmarks/temporal.py`)

Machine: {machine()}. FrameFilter("fast", half=False); clip: skimage `coffee` 320×400 with two moving
squares (one low-contrast), {N} frames, fresh Gaussian noise per frame. Flicker = mean |Δ| between
consecutive frames on the static background (8-bit levels); ghosting = extra mean abs error on the
moving squares and the strip of background they just uncovered, vs. no smoothing (> 0 = smearing).

{markdown_table(["σ", "output", "flicker (static)", "PSNR (clip)", "ghosting Δ MAE"], rows)}
"""
    print(md)
    if should_write(args):
        write_section("temporal", md, data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--temporal", "--weights", dest="weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7],
                   help="FrameFilter temporal weights to compare (the model is always fast; --weights: the old name)")
    add_write_option(p)
    run(p.parse_args())


if __name__ == "__main__":
    main()
