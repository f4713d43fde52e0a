"""stage 31: tests/test_dicom.py's brain-beside-skull case over three noise seeds (HU error of the brain 1-6 px beside
the skull, right side as the test reads it, left side, and far from it), for each weights name or file given.
Run: .venv/bin/python runs/s53/brain_beside_skull.py gray-default runs/s53/gray-default/gray-default-step4000.safetensors"""
import sys

import cv2
import numpy as np
import torch
from skimage import data

import cvdenoise
from cvdenoise.dicom import dataset_from_array, denoise_dataset

torch.set_num_threads(1)
p = data.shepp_logan_phantom()
hu = np.select([p > 0.9, np.abs(p - 0.2) < 0.01, p < 0.01], [1000, 40, -1000], default=55).astype(float)
to_skull = cv2.distanceTransform((hu < 500).astype(np.uint8), cv2.DIST_L2, 5)
beside = (hu == 40) & (to_skull >= 1) & (to_skull < 6)
right, left = beside.copy(), beside.copy()
right[:, :300], left[:, 200:] = False, False
far = (hu == 40) & (to_skull >= 15)
for w in sys.argv[1:]:
    den = cvdenoise.load(w, half=False)
    res = []
    for seed in range(3):
        stored = np.round(hu + 1024 + np.random.default_rng(seed).normal(0, 20, hu.shape)).clip(0, 4095).astype(np.uint16)
        ds = dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)
        out = denoise_dataset(ds, den, window=(-200, 400)).pixel_array.astype(float) - 1024
        res.append((out[right].mean() - 40, out[left].mean() - 40, out[far].mean() - 40))
    print(w, "right / left / far:", np.round(np.mean(res, 0), 2), np.round(res, 2).tolist())
