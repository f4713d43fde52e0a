"""s55: clamping the model output to the input's local k×k range (k 0 = none): the CT lung-window edge of
runs/s55/dicom_lung_edge.py and the quality presets (default, fp32, strength 1). Not adopted: the edge error is
steepening within the range, not overshoot.   python runs/s55/edge_clamp.py"""
import sys, numpy as np, cv2, torch
sys.path.insert(0, "benchmarks")
import cvdenoise
from quality import noisy_copy, photos
torch.set_num_threads(2)
def clamp(y, x, k):
    ker = np.ones((k, k), np.uint8)
    lo = cv2.erode(x, ker); hi = cv2.dilate(x, ker)
    return np.clip(y, lo, hi)
def psnr(a, b, peak=255.0): return 10 * np.log10(peak**2 / np.mean((a.astype(float) - b) ** 2))
den = cvdenoise.load("default", half=False)
# lung edge (mapped to [0,1] floats as the DICOM path does)
yy, xx = np.mgrid[:256, :256].astype(float)
body = ((yy - 128) ** 2 / 110**2 + (xx - 128) ** 2 / 120**2) <= 1
clean = cv2.GaussianBlur(np.where(body, 40.0, -1000.0), (0, 0), 1.2)
lo, hi = -1350 - 150, 150 + 150
edge = (cv2.distanceTransform(body.astype(np.uint8), cv2.DIST_L2, 5) <= 2) & body | (cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 5) <= 2) & ~body
for sigma in (0, 10):
    st = clean + np.random.default_rng(5).normal(0, sigma, clean.shape)
    x = ((st - lo) / (hi - lo)).astype(np.float32)
    y = den(x, strength=1.0)
    for k in (0, 3, 5, 7):
        yk = y if k == 0 else clamp(y, x, k)
        e = yk * (hi - lo) + lo - clean
        print(f"lung σ{sigma} k{k}: edge RMSE {np.sqrt((e[edge]**2).mean()):.1f} HU, all {np.sqrt((e**2).mean()):.1f}")
ims = list(photos(320, False).values())
for p in ("gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"):
    r = []
    for i, im in enumerate(ims):
        x = noisy_copy(im, p, i)
        y = den(x.astype(np.float32) / 255, strength=1.0) * 255
        xf = x.astype(np.float32)
        r.append([psnr(np.clip(np.round(y if k == 0 else clamp(y, xf, k)), 0, 255), im) for k in (0, 3, 5, 7)])
    a = np.array(r).mean(0); print(p, " ".join(f"k{k} {v:.3f}" for k, v in zip((0, 3, 5, 7), a)), flush=True)
