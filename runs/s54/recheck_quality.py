"""s54: benchmarks/quality.py's PSNR figures of our models, recomputed at the checked-out code (the same photos, seeds,
presets and loads; no peers, no timing) and set beside the figures benchmarks/RESULTS.md holds, to show whether a
change moved them. Run from the repository root: .venv/bin/python runs/s54/recheck_quality.py"""
import re
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "benchmarks")
import quality as Q  # noqa: E402

import cvdenoise  # noqa: E402

torch.set_num_threads(2)
imgs = Q.photos(320, False)
ours = {"cvdenoise-default": cvdenoise.load("default"), "cvdenoise-fast": cvdenoise.load("fast"),
        "cvdenoise-default fp32 ×1": cvdenoise.load("default", half=False, ensemble=1),
        "cvdenoise-fast fp32 ×1": cvdenoise.load("fast", half=False, ensemble=1)}
d2 = cvdenoise.load("default", ensemble=1 if ours["cvdenoise-default"].ensemble == 2 else 2)
if ours["cvdenoise-default"].precision != "fp32":
    ours[f"cvdenoise-default {d2.precision} ×{d2.ensemble}"] = d2
text = Path("benchmarks/RESULTS.md").read_text()
worst = 0.0
for m, den in ours.items():
    got = []
    for preset in Q.PRESETS:
        ps = [Q.metrics(den(Q.noisy_copy(c, preset, i)), c)[0] for i, c in enumerate(imgs.values())]
        got.append(float(np.mean(ps)))
    row = re.search(rf"^\| {re.escape(m)} \|(.*)$", text, re.M)
    held = [float(cell.split("/")[0]) for cell in row.group(1).split("|")[:len(Q.PRESETS)]] if row else []
    worst = max([worst] + [abs(a - b) for a, b in zip(got, held)])
    print(f"{m:28s} now {' '.join(f'{v:6.2f}' for v in got)}  RESULTS {' '.join(f'{v:6.2f}' for v in held)}")
gray = {"cvdenoise-gray-default": cvdenoise.load("gray-default"),
        "cvdenoise-gray-default fp32 ×1": cvdenoise.load("gray-default", half=False),
        "cvdenoise-gray-fast": cvdenoise.load("gray-fast")}
for m, den in gray.items():
    got = [float(np.mean([Q.metrics(den(n), c)[0] for c, n in Q.gray_pairs(list(imgs.values()), p)])) for p in Q.GRAY_PRESETS]
    row = re.search(rf"^\| {re.escape(m)} \|(.*)$", text, re.M)
    held = [float(cell) for cell in row.group(1).split("|")[:len(Q.GRAY_PRESETS)]] if row else []
    worst = max([worst] + [abs(a - b) for a, b in zip(got, held)])
    print(f"{m:28s} now {' '.join(f'{v:6.2f}' for v in got)}  RESULTS {' '.join(f'{v:6.2f}' for v in held)}")
print(f"largest difference from RESULTS.md: {worst:.3f} dB (its figures are rounded to 0.01)")
