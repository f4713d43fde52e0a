"""stage 32: tests/test_dicom.py's brain-beside-skull phantom (skull 1000 HU, brain 40, σ 20 HU) under three windows
(the test's (-200, 400), one that does not clip the skull, a wider soft-tissue one), two noise seeds, strength 1: the
mean HU error of the brain 1-6 px beside the skull on the right (as the test reads it) and on the left.
Run: .venv/bin/python runs/s54/windows.py gray-default runs/s54/gray-default-bright/gray-default-step1000.safetensors"""
import sys, cv2, numpy as np, torch
from skimage import data
import cvdenoise
from cvdenoise.dicom import dataset_from_array, denoise_dataset
torch.set_num_threads(1)
p = data.shepp_logan_phantom()
hu = np.select([p > 0.9, np.abs(p - 0.2) < 0.01, p < 0.01], [1000, 40, -1000], default=55).astype(float)
to_skull = cv2.distanceTransform((hu < 500).astype(np.uint8), cv2.DIST_L2, 5)
beside = (hu == 40) & (to_skull >= 1) & (to_skull < 6)
right = beside.copy(); right[:, :300] = False
left = beside.copy(); left[:, 200:] = False
for w in sys.argv[1:]:
    den = cvdenoise.load(w, half=False, strength=1.0)
    for win in [(-200, 400), (-200, 1100), (-600, 400)]:
        res = []
        for seed in range(2):
            stored = np.round(hu + 1024 + np.random.default_rng(seed).normal(0, 20, hu.shape)).clip(0, 4095).astype(np.uint16)
            ds = dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)
            out = denoise_dataset(ds, den, window=win).pixel_array.astype(float) - 1024
            res.append((out[right].mean() - 40, out[left].mean() - 40))
        print(w[-30:], win, np.round(np.mean(res, 0), 2))
