"""Peak resident memory of one Denoiser call on an 8000×6000 RGB uint8 photo (s55, docs/api.md).

    python runs/s55/mem48.py [fast default]    # each model in a fresh process; prints max RSS
"""
from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import sys, numpy as np, torch, cvdenoise
torch.set_num_threads(2)
img = np.random.default_rng(0).integers(0, 256, (6000, 8000, 3), dtype=np.uint8)
cvdenoise.load(sys.argv[1])(img)
"""

for name in sys.argv[1:] or ["fast", "default"]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, name])
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, name
    print(f"{name}: peak RSS {usage.ru_maxrss / 2**20:.2f} GiB")  # (ru_maxrss in KiB on Linux)
