"""Outputs of many tiling cases, saved to an npz (run with the old and the new code)."""
import sys, numpy as np, torch
torch.set_num_threads(2)
import cvdenoise
rng = np.random.default_rng(1)
res = {}
cases = []
for name in ("fast", "gray-fast"):
    for (h, w, c) in ((300, 410, 3), (97, 1203, 3), (515, 77, 1), (33, 700, 3), (260, 260, 1), (5, 300, 3), (700, 9, 1)):
        for tile, overlap, border in ((128, 32, 16), (96, 16, 0), (80, 32, 40), (200, 48, 16)):
            cases.append((name, h, w, c, tile, overlap, border))
for name, h, w, c, tile, overlap, border in cases:
    img = rng.integers(0, 256, (h, w) if c == 1 else (h, w, c), dtype=np.uint8)
    den = cvdenoise.load(name, tile=tile, overlap=overlap, border=border, half=False)
    for s in (1.0, "auto"):
        res[f"{name}-{h}x{w}x{c}-{tile}-{overlap}-{border}-{s}"] = den(img, strength=s)
# batches as tensors, and a float input
x = torch.rand(3, 3, 150, 230)
den = cvdenoise.load("fast", tile=96, overlap=16, half=False)
res["batch"] = den(x).numpy()
den = cvdenoise.load("fast", tile=96, overlap=16, half=False, ensemble=2)
res["ens2"] = den(x).numpy()
np.savez(sys.argv[1], **res)
print(len(res))
