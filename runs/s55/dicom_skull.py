# s55 (after s51): the brain beside a CT phantom's skull under a brain window, by the level the model sees pixels far above the window at
# (cvdenoise.dicom.OUTSIDE_LEVEL).  Run from the repository root: python runs/s55/dicom_skull.py
import numpy as np, cv2, cvdenoise, torch
torch.set_num_threads(2)
from skimage import data
from cvdenoise.dicom import dataset_from_array, denoise_dataset
import cvdenoise.dicom as dm
p = data.shepp_logan_phantom()
hu = np.select([p>0.9, np.abs(p-0.3)<0.01, np.abs(p-0.4)<0.01, np.abs(p-0.2)<0.01, np.abs(p-0.1)<0.01, p<0.01],[1000, 55, 70, 40, 10, -1000], default=40).astype(float)
ring = (hu>500).astype(np.uint8); d = cv2.distanceTransform((1-ring).astype(np.uint8), cv2.DIST_L2, 5)
brain = hu==40; right = np.zeros_like(brain); right[:,300:]=True
den = cvdenoise.load("default", half=False)
rng = np.random.default_rng(0)
for sig in [10, 20]:
    st = np.round(hu + 1024 + rng.normal(0,sig,hu.shape)).clip(0,4095).astype(np.uint16)
    ds = dataset_from_array(st, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)
    for lvl in (0.9,):  # (a gray frame no longer uses OUTSIDE_LEVEL: its pixels outside the window are filled in)
        dm.OUTSIDE_LEVEL = lvl
        o = denoise_dataset(ds, den, window=(-200,400)).pixel_array.astype(float) - 1024
        e = o - hu; msk = brain&(d>=1)&(d<6)
        lp = cv2.GaussianBlur(e.astype(np.float32),(0,0),2)
        print(f"σ{sig} level {lvl}: mean err {e[msk].mean():+.2f}, right {e[msk&right].mean():+.2f}, worst local {lp[brain&(d<10)].min():+.1f}, far sd {o[brain&(d>15)].std():.2f}", flush=True)
