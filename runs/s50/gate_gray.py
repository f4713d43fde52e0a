"""Stage-29 side check: how the gate's residual σ reads gray frames (luma of the quality photos)."""
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.noise import residual_sigma  # noqa: E402

torch.set_num_threads(1)
imgs = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in photos(384, quick=False).values()]
for w in ("gray-fast", "gray-default", "fast", "default"):
    den = cvdenoise.load(w, strength=1.0)
    for name in ("clean", "jpeg70", 2, 3, 4, 5, 6, 8, 10):
        rng = np.random.default_rng(0)
        r, t = [], []
        for im in imgs:
            if name == "clean":
                n = im
            elif name == "jpeg70":
                n = cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_GRAYSCALE)
            else:
                n = np.clip(im + rng.normal(0, name, im.shape), 0, 255).round().astype(np.uint8)
            if w in ("fast", "default"):  # colour models: the photo's gray in three planes is routed to the gray twin
                n = np.repeat(n[..., None], 3, axis=2)
            x = n.astype(np.float32) / 255
            with torch.inference_mode():
                y = den(x)
            r.append(float(residual_sigma(x, y)))
            t.append(float((n.astype(np.float64) - (im if n.ndim == 2 else im[..., None])).std()))
        print(f"{w:13s} {str(name):7s} true {np.mean(t):5.2f} residual {np.mean(r):5.2f} ratio {np.mean(r) / max(np.mean(t), 1e-9):.2f}", flush=True)
