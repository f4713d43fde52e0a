"""stage 32: tests/test_dicom.py's whole-range CT phantom (σ 20 HU, strength 1): the mean HU error of bone and air and the tissue
RMSE ratio output/input (the test asks < 10 HU and < 0.4), for each weights name or file given.
Run: .venv/bin/python runs/s54/ends.py gray-default runs/s54/gray-default-noaa/gray-default-step1000.safetensors"""
import sys, numpy as np, torch
sys.path.insert(0, "tests")
import test_dicom as T
import cvdenoise
torch.set_num_threads(1)
for w in sys.argv[1:]:
    den = cvdenoise.load(w, half=False)
    res = []
    for seed_shift in range(1):
        hu, stored, regions = T._phantom(20)
        out = den(T._ct(stored), strength=1.0).pixel_array.astype(np.float64) - 1024
        noisy = stored.astype(np.float64) - 1024
        r = {n: out[regions[n]].mean() - hu[regions[n]].mean() for n in ("bone", "air")}
        rm = {k: float(np.sqrt(np.mean((v - hu)[regions["tissue"]] ** 2))) for k, v in (("in", noisy), ("out", out))}
        print(w[-40:], {k: round(v, 2) for k, v in r.items()}, "rmse ratio", round(rm["out"] / rm["in"], 3))
