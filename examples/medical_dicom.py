"""Denoise a 16-bit DICOM image, keeping its metadata and bit depth.

    pip install 'cvdenoise[dicom]' scikit-image
    python examples/medical_dicom.py [OUT_DIR]

Builds a noisy 12-bit CT-like secondary-capture DICOM from scikit-image's ``camera`` photo
(no patient data), denoises it with ``Denoiser(dataset)`` and prints the error before and after.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    from pydicom.dataset import Dataset
    from skimage import data
except ImportError as e:  # (this example's own dependencies)
    raise SystemExit(f"{e}: this example needs pip install 'cvdenoise[dicom]' scikit-image") from None

import cvdenoise
from cvdenoise.dicom import dataset_from_array


def make_dataset() -> tuple[Dataset, np.ndarray]:
    clean = data.camera().astype(np.float64) / 255 * 3000 - 1000  # (512,512), CT-like values
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 120, clean.shape), -2048, 2047).astype(np.int16)
    ds = dataset_from_array(noisy, 12, PatientName="Anonymous^Phantom", PatientID="0000", Modality="OT")
    return ds, clean


def main(out: Path = Path(__file__).resolve().parent / "out") -> None:
    out.mkdir(parents=True, exist_ok=True)
    ds, truth = make_dataset()
    ds.save_as(out / "noisy.dcm", enforce_file_format=True)
    clean = cvdenoise.load("default")(ds)  # a pydicom Dataset in, a Dataset out
    clean.save_as(out / "denoised.dcm", enforce_file_format=True)
    a, b = ds.pixel_array, clean.pixel_array
    print(f"dtype {a.dtype} -> {b.dtype}, BitsStored {ds.BitsStored} -> {clean.BitsStored}, patient {clean.PatientName}")
    rmse = [float(np.sqrt(np.mean((x.astype(np.float64) - truth) ** 2))) for x in (a, b)]
    print(f"RMS error vs the clean image: {rmse[0]:.1f} -> {rmse[1]:.1f} (stored values)")
    print(f"wrote {out / 'noisy.dcm'} and {out / 'denoised.dcm'}")


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])
