"""DICOM support through ``pydicom`` (optional extra: ``pip install cvdenoise[dicom]``).

Pixel data is denoised in place of the original: every other element (patient, study, series,
geometry, window settings) is kept, and so are the pixel dtype, ``BitsStored`` and the
signedness. As the standard asks of changed pixels, the copy is a new instance: a new SOP
Instance UID, ``ImageType`` DERIVED and a ``DerivationDescription`` naming cvdenoise. Values are mapped to ``[0, 1]`` by each frame's own min/max for the model and back.
Compressed transfer syntaxes are decoded (when pydicom has a decoder) and written uncompressed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from pydicom.dataset import Dataset

    from .denoiser import Denoiser

__all__ = ["DICOM_SUFFIXES", "is_dicom_dataset", "read_dicom", "write_dicom", "denoise_dataset", "dataset_from_array"]

DICOM_SUFFIXES = (".dcm", ".dicom")


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("DICOM support needs pydicom: pip install 'cvdenoise[dicom]'") from e
    return pydicom


def is_dicom_dataset(obj: object) -> bool:
    """True for a ``pydicom.Dataset`` (checked without importing pydicom)."""
    return any(c.__module__.startswith("pydicom") and c.__name__ == "Dataset" for c in type(obj).__mro__)


def read_dicom(path: str | Path) -> "Dataset":
    """Read a DICOM file; raises ``ValueError`` if it is not DICOM or has no pixel data."""
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(str(path))
    except (pydicom.errors.InvalidDicomError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable DICOM file: {e}") from e
    if "PixelData" not in ds:
        raise ValueError(f"{path}: DICOM file has no pixel data")
    return ds


def write_dicom(path: str | Path, ds: "Dataset") -> Path:
    """Write ``ds`` atomically to ``path``."""
    return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


def dataset_from_array(pixels: np.ndarray, bits_stored: int, **elements: Any) -> "Dataset":
    """A minimal secondary-capture DICOM dataset holding a gray ``(H,W)`` integer array.

    ``elements`` are set as attributes (``PatientName="Anon"``, ``Modality="CT"``, …).

    Raises:
        ValueError: ``pixels`` is not a 2-D integer array.
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.dtype.kind not in "ui":
        what = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ValueError(f"dataset_from_array takes a gray (H,W) integer array, got {what}")
    _pydicom()
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    for k, v in elements.items():
        setattr(ds, k, v)
    ds.set_pixel_data(pixels, "MONOCHROME2", bits_stored, generate_instance_uid=False)
    return ds


def _denoise_frame(frame: np.ndarray, denoiser: "Denoiser", rgb: bool) -> np.ndarray:
    lo, hi = float(frame.min()), float(frame.max())
    if hi <= lo:
        return frame
    x = ((frame.astype(np.float32) - lo) / (hi - lo)).clip(0, 1)
    y = denoiser(x, channel_order="rgb") if rgb else denoiser(x)
    out = np.rint(y.astype(np.float64) * (hi - lo) + lo)
    info = np.iinfo(frame.dtype) if np.issubdtype(frame.dtype, np.integer) else None
    return out.clip(info.min, info.max).astype(frame.dtype) if info else out.astype(frame.dtype)


def denoise_dataset(ds: "Dataset", denoiser: "Denoiser") -> "Dataset":
    """A copy of ``ds`` with denoised pixel data (same dtype, bit depth and metadata; a new SOP
    Instance UID, ``ImageType`` DERIVED)."""
    try:
        arr = ds.pixel_array
    except Exception as e:  # pydicom raises many types for missing decoders / bad data
        raise ValueError(f"cannot decode DICOM pixel data: {e}") from e
    spp = int(getattr(ds, "SamplesPerPixel", 1))
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    rgb = spp == 3
    if frames > 1:
        out = np.stack([_denoise_frame(f, denoiser, rgb) for f in arr])
    else:
        out = _denoise_frame(arr, denoiser, rgb)
    new = copy.deepcopy(ds)
    photometric = str(ds.PhotometricInterpretation)
    if photometric.startswith("YBR") and rgb:
        photometric = "RGB"  # pydicom's pixel_array converted it to RGB
    # new pixels make a new image (DICOM PS3.3 C.12.1.1.1): a new SOP Instance UID (also in the
    # file meta), ImageType DERIVED, and a note of what was done; patient, study and series stay
    new.set_pixel_data(out, photometric, int(ds.BitsStored), generate_instance_uid=True)
    image_type = list(getattr(ds, "ImageType", None) or ["ORIGINAL", "PRIMARY"])
    new.ImageType = ["DERIVED", *image_type[1:]] if image_type else ["DERIVED", "SECONDARY"]
    note = f"denoised by cvdenoise ({denoiser.name})"
    old_note = str(getattr(ds, "DerivationDescription", "") or "")
    new.DerivationDescription = (f"{old_note}; {note}" if old_note else note)[:1024]
    return new
