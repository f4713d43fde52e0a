"""s55 (DICOM audit): `default` sharpens a CT's blurred body/air edge under a lung window (docs/models.md).

A body of 40 HU in air (−1000), blurred by a CT-like PSF (σ 1.2 px), under the window (−1350, 150); error (HU) of
the pixels within 2 px of the body's edge, for a clean and a noisy (σ 10 HU) input, the plain (strength 1) and the
automatic strength.   python runs/s55/dicom_lung_edge.py
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

import cvdenoise
from cvdenoise.dicom import dataset_from_array, denoise_dataset

torch.set_num_threads(2)
yy, xx = np.mgrid[:256, :256].astype(float)
body = ((yy - 128) ** 2 / 110**2 + (xx - 128) ** 2 / 120**2) <= 1
clean = cv2.GaussianBlur(np.where(body, 40.0, -1000.0), (0, 0), 1.2)
edge = cv2.distanceTransform(body.astype(np.uint8), cv2.DIST_L2, 5)
edge = (edge > 0) & (edge <= 2) | (cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 5) <= 2) & ~body
den = cvdenoise.load("default", half=False)
for sigma in (0, 10):
    stored = np.clip(np.rint(clean + 1024 + np.random.default_rng(5).normal(0, sigma, clean.shape)), 0, 4095).astype(np.uint16)
    ds = dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)
    e_in = stored.astype(float)[edge] - 1024 - clean[edge]
    words = [f"input RMSE {np.sqrt((e_in ** 2).mean()):.1f}"]
    for s in (1.0, "auto"):
        e = denoise_dataset(ds, den, window=(-1350, 150), strength=s).pixel_array.astype(float)[edge] - 1024 - clean[edge]
        words.append(f"strength {s} (used {den.last_strength[0]:.2f}): RMSE {np.sqrt((e ** 2).mean()):.1f}, worst {np.abs(e).max():.0f}")
    print(f"σ={sigma} HU: " + "; ".join(words), flush=True)
