"""s54: sha256 of every degraded input benchmarks/quality.py makes (colour presets and gray pairs) with the checked-out
cvdenoise: equal at two commits, the quality figures of the one hold for the other. Run from the repository root:
.venv/bin/python runs/s54/inputs_digest.py (at d0da862 and at e70d3ba: 08d1d4a530bfe010e2c6fc090acc85a8f3bfddfc6381ff8cfc2a12f0a81b2648)"""
import hashlib, sys
sys.path.insert(0, "benchmarks")
import numpy as np
import quality as Q
imgs = Q.photos(320, False)
h = hashlib.sha256()
for p in ("gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"):
    for i, im in enumerate(imgs.values()):
        h.update(Q.noisy_copy(im, p, i).tobytes())
for p in ("gaussian15", "gaussian25", "gaussian50", "camera"):
    for g, n in Q.gray_pairs(list(imgs.values()), p):
        h.update(n.tobytes())
print(h.hexdigest())
