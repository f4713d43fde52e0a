"""s49: gray weights side by side on clean, JPEG'd and lightly noisy unseen gray images, strength 1 and auto.

Run:  python runs/s49/eval_gray.py gray-default runs/s49/gray-default/gray-default.safetensors
Images: the luma of the six quality-benchmark photos (320² centre crops) and scikit-image's camera and
cell (never trained on). Auto strength uses the shipped card's rule of the first weights for all of them.
Prints the mean PSNR gain over the input per condition (dB) and the mean over conditions."""
import sys, warnings, numpy as np, torch, cv2
warnings.simplefilter("ignore")
torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
sys.path.insert(0, "benchmarks")
from quality import photos
import cvdenoise, skimage.data as sd

def crop(a, n=320):
    h, w = a.shape[:2]; y, x = max(0, (h - n) // 2), max(0, (w - n) // 2)
    return np.ascontiguousarray(a[y:y + n, x:x + n])

def psnr(a, ref):
    mse = float(np.mean((a.astype(np.float64) - ref) ** 2))
    return min(60.0, 10 * np.log10(255.0 ** 2 / mse)) if mse > 0 else 60.0

imgs = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY) for p in photos(320, False).values()] + [crop(sd.camera()), crop(sd.cell())]
def jpeg(q): return lambda im, i: cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)
def white(s): return lambda im, i: np.clip(im + np.random.default_rng(500 + i).normal(0, s, im.shape), 0, 255).round().astype(np.uint8)
def then(f, g): return lambda im, i: g(f(im, i), i)
conds = {"lossless": lambda im, i: im, **{f"JPEG q{q}": jpeg(q) for q in (95, 90, 80, 60, 40, 20)},
         **{f"white σ={s}": white(s) for s in (1, 2, 3, 5, 10)}, "white 3 + JPEG q90": then(white(3), jpeg(90)),
         "white 8 + JPEG q70": then(white(8), jpeg(70))}
ws = sys.argv[1:]
ref = cvdenoise.load(ws[0], half=False, ensemble=1)
dens = []
for w in ws:
    d = cvdenoise.load(w, half=False, ensemble=1, strength="auto")
    d.rules = dict(ref.rules)
    dens.append(d)
tot = {w: {"1": [], "auto": []} for w in ws}
print("condition | input | " + " | ".join(f"{w.split('/')[-2] if '/' in w else w}: plain / auto" for w in ws))
for c, f in conds.items():
    noisy = [f(im, i) for i, im in enumerate(imgs)]
    pin = np.mean([psnr(n, im) for n, im in zip(noisy, imgs)])
    cells = []
    for w, d in zip(ws, dens):
        p1 = np.mean([psnr(d(n, strength=1.0), im) for n, im in zip(noisy, imgs)])
        pa = np.mean([psnr(d(n), im) for n, im in zip(noisy, imgs)])
        tot[w]["1"].append(p1 - pin); tot[w]["auto"].append(pa - pin)
        cells.append(f"{p1:.2f} / {pa:.2f}")
    print(f"{c} | {pin:.2f} | " + " | ".join(cells), flush=True)
for w in ws:
    print(w, "mean gain over input: plain %+.3f auto %+.3f" % (np.mean(tot[w]["1"]), np.mean(tot[w]["auto"])))
