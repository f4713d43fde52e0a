"""s59: docs/export.md's figure for a fixed-size export on an image smaller than H−32 × W−32: how far its output is
from the dynamic export's (max |difference| in 8-bit levels, and PSNR against the clean crop).

    python runs/s59/static_pad.py   (log: runs/s59/static_pad.log; exports go to a temporary folder)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from quality import photos  # noqa: E402
from upscale import psnr  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.export import to_onnx  # noqa: E402

H = W = 320
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as tmp:
    to_onnx(Path(tmp) / "dyn.onnx", "fast")
    to_onnx(Path(tmp) / "static.onnx", "fast", static=(H, W))
    dyn = cvdenoise.load(Path(tmp) / "dyn.onnx", strength=1.0)
    sta = cvdenoise.load(Path(tmp) / "static.onnx", strength=1.0)
    print(f"fast, static {H}x{W} against dynamic export, strength 1, white noise σ 15 / 25")
    for h, w in ((200, 240), (250, 280), (H - 32, W - 32)):
        diffs, p_dyn, p_sta = [], [], []
        for img in photos(320, False).values():
            crop = img[:h, :w]
            for sigma in (15, 25):
                noisy = np.clip(crop + rng.normal(0, sigma, crop.shape), 0, 255).round().astype(np.uint8)
                a, b = dyn(noisy), sta(noisy)
                diffs.append(int(np.abs(a.astype(int) - b.astype(int)).max()))
                p_dyn.append(psnr(a, crop))
                p_sta.append(psnr(b, crop))
        print(f"{w}x{h}: max |diff| per image {min(diffs)}–{max(diffs)} levels; PSNR dynamic {np.mean(p_dyn):.2f}, "
              f"static {np.mean(p_sta):.2f} dB")
