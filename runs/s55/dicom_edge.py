"""s55: the band of pixels outside a DICOM window shown to the model at their clipped level (dicom.OUTSIDE_BAND),
beyond which they are filled in. Three checks per band width (0 = filled up to the edge):

* edge: a blurred CT phantom (bone discs, PSF σ 1.2 px) under a soft-tissue window (−160, 240): bias / RMSE (HU) of the
  partial-volume ring 1–2 px from bone (DICOM audit s55, /work/notes/s55-dicom/repro_edge.py);
* skull: tests/test_dicom.py's brain beside the skull under a brain window (−200, 400) at σ 20 HU: mean error (HU);
* example: examples/medical_dicom.py's frame under (−200, 400), 4 % of it in the window: the automatic strength.

    python runs/s55/dicom_edge.py [BAND ...]
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
import torch
from skimage import data

import cvdenoise
import cvdenoise.dicom as dm
from cvdenoise.dicom import dataset_from_array, denoise_dataset

torch.set_num_threads(2)
den = cvdenoise.load("default", half=False)


def ct(stored: np.ndarray):
    return dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)


n = 256
yy, xx = np.mgrid[:n, :n].astype(float)
body = ((yy - 128) ** 2 / 110**2 + (xx - 128) ** 2 / 120**2) <= 1
edge_clean = np.where(body, 40.0, -1000.0)
for cy, cx, r in ((128, 128, 18), (70, 90, 10), (180, 170, 14)):
    edge_clean[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1000.0
edge_clean[200:206, 60:200] = 700.0
edge_clean = cv2.GaussianBlur(edge_clean, (0, 0), 1.2)
dist = cv2.distanceTransform((edge_clean <= 500).astype(np.uint8), cv2.DIST_L2, 5)
ring = (dist > 1) & (dist <= 2) & body & (edge_clean >= -160) & (edge_clean <= 240)

p = data.shepp_logan_phantom()
hu = np.select([p > 0.9, np.abs(p - 0.2) < 0.01, p < 0.01], [1000, 40, -1000], default=55).astype(float)
skull_stored = np.round(hu + 1024 + np.random.default_rng(0).normal(0, 20, hu.shape)).clip(0, 4095).astype(np.uint16)
to_skull = cv2.distanceTransform((hu < 500).astype(np.uint8), cv2.DIST_L2, 5)
beside = (hu == 40) & (to_skull >= 1) & (to_skull < 6)
beside[:, :300] = False

cam = data.camera().astype(np.float64) / 255 * 3000 - 1000
cam_noisy = np.clip(cam + np.random.default_rng(0).normal(0, 120, cam.shape), -2048, 2047).astype(np.int16)

for band in [int(b) for b in sys.argv[1:]] or [0, 1, 2, 3, 5, 8]:
    dm.OUTSIDE_BAND = band
    words = []
    for sigma in (10, 20):
        st = np.clip(np.rint(edge_clean + 1024 + np.random.default_rng(5).normal(0, sigma, edge_clean.shape)), 0, 4095).astype(np.uint16)
        e = (denoise_dataset(ct(st), den, window=(-160, 240)).pixel_array.astype(float) - 1024 - edge_clean)[ring]
        e0 = (st.astype(float) - 1024 - edge_clean)[ring]
        words.append(f"edge σ{sigma} {e.mean():+.1f} / {np.sqrt((e ** 2).mean()):.1f} (input {np.sqrt((e0 ** 2).mean()):.1f})")
    out = denoise_dataset(ct(skull_stored), den, window=(-200, 400)).pixel_array.astype(float) - 1024
    words.append(f"skull σ20 {out[beside].mean() - 40:+.2f}")
    denoise_dataset(dataset_from_array(cam_noisy, 12, Modality="OT"), den, window=(-200, 400))
    words.append(f"example strength {den.last_strength[0]:.2f}")
    print(f"band {band}: " + "; ".join(words), flush=True)
