"""s49: shipped models on JPEG-only copies of unseen images, gain in PSNR over the JPEG input (strength auto and 1)."""
import sys, numpy as np, torch, cv2, warnings
warnings.simplefilter("ignore")
torch.set_num_threads(2)
import cvdenoise, skimage.data as sd
from skimage.metrics import peak_signal_noise_ratio as psnr

def crop(a, n=384):
    h, w = a.shape[:2]; y, x = (h - n) // 2, (w - n) // 2
    return np.ascontiguousarray(a[max(0, y):max(0, y) + n, max(0, x):max(0, x) + n])

colour = {k: crop(getattr(sd, k)()) for k in ("astronaut", "coffee", "chelsea", "rocket")}
gray = {"camera": crop(sd.camera()), "cell": crop(sd.cell()), **{k + "-y": cv2.cvtColor(v, cv2.COLOR_RGB2GRAY) for k, v in colour.items()}}
names = sys.argv[1:] or ["color-default", "color-fast", "gray-default", "gray-fast"]
qs = (20, 30, 50, 70, 90)
for wname in names:
    is_gray = wname.startswith("gray") or "gray" in wname
    imgs = gray if is_gray else colour
    ms = {s: cvdenoise.load(wname, strength=s, half=False) for s in ("auto", 1)}
    tot = {s: [] for s in ms}
    for name, img in imgs.items():
        line = []
        for q in qs:
            if img.ndim == 3:
                bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
                noisy = cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            else:
                noisy = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)
            pin = psnr(img, noisy, data_range=255)
            g = {s: psnr(img, m(noisy), data_range=255) - pin for s, m in ms.items()}
            for s in ms: tot[s].append(g[s])
            line.append(f"q{q} {pin:.1f} {g['auto']:+.2f}/{g[1]:+.2f}")
        print(wname, name, " | ".join(line), flush=True)
    print(wname, "MEAN auto %+.3f  s1 %+.3f  below-input auto %d/%d" % (np.mean(tot["auto"]), np.mean(tot[1]), sum(v < 0 for v in tot["auto"]), len(tot["auto"])), flush=True)
