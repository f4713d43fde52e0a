"""Stage 27: gray-fast checkpoints on JPEG copies of smooth gray images (skimage cell, four 256² crops; moon), strength 1.

Run from the repository root after `mkdir -p runs/s48/old && git show e0d2f7e:weights/gray-fast.safetensors > runs/s48/old/gray-fast.safetensors`
(and the .json likewise). Prints each PSNR gain over the JPEG input and the means."""
import numpy as np, torch, cv2, warnings
warnings.simplefilter("ignore")
torch.set_num_threads(2)
import cvdenoise, skimage.data as sd
from skimage.metrics import peak_signal_noise_ratio as psnr
R = "runs/s48/gray-fast/"
W = {"old": "runs/s48/old/gray-fast.safetensors", "s4000": R+"gray-fast-step4000.safetensors",
     "s8000": R+"gray-fast-step8000.safetensors", "s13000": R+"gray-fast-step13000.safetensors", "final": R+"gray-fast.safetensors"}
M = {k: cvdenoise.load(v, strength=1, half=False) for k, v in W.items()}
cell = sd.cell(); moon = sd.moon()
imgs = {f"cell{i}": np.ascontiguousarray(cell[y:y+256, x:x+256]) for i, (y, x) in enumerate([(0,0),(0,294),(404,0),(404,294)])}
imgs["moon"] = np.ascontiguousarray(moon[128:384,128:384])
res = {k: [] for k in M}
for name, img in imgs.items():
    for q in (40, 50, 60, 80):
        noisy = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)
        pin = psnr(img, noisy, data_range=255)
        row = {k: psnr(img, m(noisy), data_range=255) - pin for k, m in M.items()}
        for k in M: res[k].append(row[k])
        print(name, q, f"in {pin:.2f}", " ".join(f"{k} {v:+.2f}" for k, v in row.items()), flush=True)
print("mean gain over input:", {k: round(float(np.mean(v)), 3) for k, v in res.items()})
