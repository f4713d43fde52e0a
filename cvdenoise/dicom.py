"""DICOM support through ``pydicom`` (optional extra: ``pip install cvdenoise[dicom]``).

Pixel data is denoised in place of the original: every other element (patient, study, series,
geometry, window settings) is kept, and so are the pixel dtype, ``BitsStored`` and the
signedness. As the standard asks of changed pixels, the copy is a new instance: a new SOP
Instance UID, ``ImageType`` DERIVED and a ``DerivationDescription`` naming cvdenoise. Values are
mapped to ``[0, 1]`` for the model and back, one mapping for all frames: the dataset's range less
its 0.1 % most extreme values at each end (:data:`OUTLIER_SHARE`), or a ``window`` of modality
values (HU) to denoise, with :data:`HEADROOM` beyond it; regions beyond that (by their 3×3 median)
and lone values far beyond it are kept as stored; pixels holding
``PixelPaddingValue`` (outside the imaged area) are left out of that mapping, filled from their
surroundings for the model, and written back as stored.
Compressed transfer syntaxes are decoded (when pydicom has a decoder) and written uncompressed.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ._fs import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from pydicom.dataset import Dataset

    from .denoiser import Denoiser, Strength

__all__ = ["DICOM_SUFFIXES", "HEADROOM", "OUTLIER_SHARE", "NoPixelDataError", "is_dicom_dataset", "is_dicom_file", "read_dicom",
           "write_dicom", "denoise_dataset", "dataset_from_array", "check_window"]

DICOM_SUFFIXES = (".dcm", ".dicom")

#: the share of a dataset's values left out at each end of its mapping to ``[0, 1]`` (0.1 %): a
#: few extreme pixels (metal, calcification, a hot pixel) no longer set the scale — one pixel at
#: the top of a 12-bit range made the model read a CT's noise as nothing — and are kept as stored
OUTLIER_SHARE = 0.001
#: room left beyond the mapped values at each end, as a share of their range: the model reads
#: values at exactly 0 or 1 as clipped and pushed flat regions there outward (a phantom's bone
#: +58 HU, its air −29 HU with none; within 3 HU with this room)
HEADROOM = 0.1


def is_dicom_file(path: str | Path) -> bool:
    """True for a ``.dcm``/``.dicom`` file, and for a DICOM file named as DICOM media name them
    (PS3.10: ``DICOM/ST0/IM00001``, no suffix, or a UID whose last part is digits) or as Siemens
    scanners do (``.IMA``) that holds the ``DICM`` mark at byte 128; other names are not opened."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    if (suffix not in ("", ".ima") and not suffix[1:].isdigit()) or not path.is_file():  # (a FIFO would block the open)
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("DICOM support needs pydicom: pip install 'cvdenoise[dicom]'") from e
    return pydicom


def is_dicom_dataset(obj: object) -> bool:
    """True for a ``pydicom.Dataset`` (checked without importing pydicom)."""
    return any(c.__module__.startswith("pydicom") and c.__name__ == "Dataset" for c in type(obj).__mro__)


#: the Media Storage SOP Class of a DICOMDIR file
_DICOMDIR = "1.2.840.10008.1.3.10"


class NoPixelDataError(ValueError):
    """A DICOM file holds no image: a ``DICOMDIR``, a structured report, an RT plan, a waveform.
    Folder runs skip such files with a notice. (An image whose pixel data a cut took away — its
    Rows, Columns and BitsAllocated are there — is a plain ``ValueError``: a failure.)"""


def read_dicom(path: str | Path) -> "Dataset":
    """Read a DICOM file; raises ``ValueError`` if it is not DICOM, :class:`NoPixelDataError`
    (a ``ValueError``) if it has no pixel data."""
    pydicom = _pydicom()
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO or device: reading it would block
        raise ValueError(f"{path}: not a regular file (a pipe, socket or device), not a DICOM file")
    try:
        ds = pydicom.dcmread(str(path))
    except (pydicom.errors.InvalidDicomError, OSError, EOFError) as e:
        why = str(e).replace(" Use force=True to force reading.", "")  # (pydicom's advice to its API's callers)
        raise ValueError(f"{path}: not a readable DICOM file: {why}") from e
    if "PixelData" not in ds:
        floats = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        if floats:  # (a parametric map: its pixels are there, as floats)
            raise ValueError(f"{path}: DICOM image with {floats[0]} (float pixel data, e.g. a parametric map): not "
                             "supported; cvdenoise denoises integer PixelData")
        meta = getattr(ds, "file_meta", None)
        sop_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
        if sop_class != _DICOMDIR and all(k in ds for k in ("Rows", "Columns", "BitsAllocated")):
            # the Image Pixel module without its pixels: an image cut short before them, a failure (not a report)
            raise ValueError(f"{path}: DICOM image ({ds.Rows}×{ds.Columns}) without its pixel data: the file is "
                             "cut short (an interrupted copy?)")
        what = "a DICOMDIR: the index of a DICOM medium" if sop_class == _DICOMDIR else "a non-image object such as a report"
        raise NoPixelDataError(f"{path}: DICOM file has no pixel data ({what})")
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


def padding_mask(ds: "Dataset", arr: np.ndarray) -> np.ndarray | None:
    """Where ``arr`` (``ds``'s stored values) holds ``PixelPaddingValue`` (up to
    ``PixelPaddingRangeLimit`` when given): pixels outside the imaged area, such as the corners
    of a CT's circular field of view; ``None`` when the dataset declares none or none is there."""
    pad = ds.get("PixelPaddingValue")
    if pad is None or int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        return None
    bits = int(getattr(ds, "BitsAllocated", 16) or 16)

    def stored(element: Any) -> int:  # the value as the pixels hold it (a signed image's value may be coded unsigned)
        v = int(element.value if hasattr(element, "value") else element)
        return v - (1 << bits) if int(getattr(ds, "PixelRepresentation", 0) or 0) == 1 and v >= 1 << (bits - 1) else v

    pad = stored(pad)
    limit = ds.get("PixelPaddingRangeLimit")
    limit = pad if limit is None else stored(limit)
    values = (arr >= min(pad, limit)) & (arr <= max(pad, limit))
    mask = np.stack([_border_regions(m) for m in values.reshape(-1, *values.shape[-2:])]).reshape(values.shape)
    return mask if mask.any() else None


def _border_regions(values: np.ndarray) -> np.ndarray:
    """Of the ``(H,W)`` pixels flagged ``values``, those in connected regions that touch the frame's
    edge and hold at least 0.1 % of it (64 pixels or more): padding surrounds the imaged area, while
    the same value inside it, or a few stray pixels, is image content (an MR's zero background noise)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(values.astype(np.uint8), connectivity=8)
    h, w = values.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    keep = (area >= max(64, 0.001 * h * w)) & ((x == 0) | (y == 0) | (x + bw == w) | (y + bh == h))
    keep[0] = False  # label 0: the pixels not flagged
    return keep[labels]


def _outside(x: np.ndarray) -> np.ndarray:
    """``(H,W)`` pixels of the mapped frame ``x`` (``(H,W[,C])`` float32) kept as stored: those of
    regions beyond ``[0, 1]`` — decided on the 3×3 median, so a structure whose level lies near an
    end of the mapping is denoised or kept whole, not split by its noise into speckle — and lone
    values further out than :data:`HEADROOM` beyond it (a hot or metal pixel)."""
    median = cv2.medianBlur(np.ascontiguousarray(x), 3)
    far = (x < -HEADROOM) | (x > 1 + HEADROOM)
    region = (median < 0) | (median > 1)
    both = region | far
    return np.asarray(both.any(axis=-1) if both.ndim == 3 else both, dtype=bool)


#: the level the model sees pixels of a colour frame far above the mapping at (they are returned as
#: stored; a gray frame's are filled in, see :func:`_denoise_frame`): at exactly white, the skull of
#: a CT phantom above a brain window made `gray-default` darken the brain beside it on one side by
#: 2.8 / 7.4 HU at σ 10 / 20 HU (a learned halo next to saturated white); at 0.9 the error there was
#: +0.3 / −0.8 HU (``python runs/s51/dicom_skull.py``, its 0.9 row); with OUTSIDE_BAND's fill beyond 8 pixels
#: −1.4 / −1.3 HU (the same script rerun at s55: runs/s55/dicom_skull.log)
OUTSIDE_LEVEL = 0.9

#: pixels outside the mapping within this many pixels of what is denoised are shown to the model at
#: their clipped level (or OUTSIDE_LEVEL); beyond it, filled in. Filled up to the edge, bone under
#: a soft-tissue window lost its edge to the model: the partial-volume ring beside it came out
#: −5 / −10 HU at σ 10 / 20, worse than the noisy input; 8 pixels give +0.3 / +0.8 HU, below the
#: input's error, the brain beside a skull −0.7 HU, and a window holding 4 % of a frame still the
#: full strength (16: 0.93, 24: 0.69). ``python runs/s55/dicom_edge.py``
OUTSIDE_BAND = 8


def _denoise_frame(frame: np.ndarray, lo: float, hi: float, denoiser: "Denoiser",
                   strength: "Strength | None", pad: np.ndarray | None = None,
                   bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, list[float]]:
    """One frame mapped from ``[lo, hi]`` to ``[0, 1]``, denoised and mapped back (clipped to
    ``bounds``, the dataset's own range: the mapping's room goes beyond it); its strength.
    Pixels :func:`_outside` the mapping are returned as stored; other values beyond it reach the
    model clipped and get their excess back (``strength=0`` returns the stored values).
    ``pad`` (``(H,W)`` bool): padding pixels, returned exactly as stored. Padding and, in a gray
    frame, the pixels outside the mapping farther than :data:`OUTSIDE_BAND` from the rest reach
    the model filled with a smooth continuation of the rest plus noise of its level (a blind model
    reads the noise level from what it sees: a flat fill made it denoise the whole frame less, and
    the edge next to the fill hardly at all)."""
    if hi <= lo:  # a constant dataset: nothing to denoise
        return frame, [0.0]
    x = (frame.astype(np.float32) - lo) / (hi - lo)
    outside = _outside(x)
    if outside.all():  # (a window that misses the frame)
        return frame, [0.0]
    clipped = x.clip(0, 1)
    excess = x - clipped  # what lies beyond the mapping in pixels denoised all the same: passed through
    x = clipped
    hidden = pad  # pixels returned as stored that the model sees filled in (see below)
    if outside.any():  # the model sees them a little below white where they are above the mapping, see OUTSIDE_LEVEL ...
        x = np.where((outside[..., None] if x.ndim == 3 else outside) & (x >= 1.0), np.float32(OUTSIDE_LEVEL), x)
        if x.ndim == 2:  # ... and, in a gray frame, beyond OUTSIDE_BAND pixels from what is denoised, filled in
            near = cv2.dilate((~outside).astype(np.uint8), np.ones((2 * OUTSIDE_BAND + 1,) * 2, np.uint8)).astype(bool)
            far = outside & ~near
            hidden = far if pad is None else pad | far
    if hidden is not None and hidden.all():
        return frame, [0.0]
    if hidden is not None and hidden.any():
        # A smooth continuation of what is denoised plus noise of its level. Flat padding, or a
        # brain window's air and bone held at 0 and near 1, read as a clean drawing or flat page
        # to the automatic strength (a window holding 4 % of a frame was not denoised at all)
        from .noise import estimate_sigma

        unread = hidden | outside if x.ndim == 2 else hidden  # (flat: read as clipped, left out)
        sigma = float(estimate_sigma(np.where(unread, 0.0, x).astype(np.float32))) / 255
        fill = cv2.inpaint(x, hidden.astype(np.uint8), 3, cv2.INPAINT_NS)  # (Telea oscillates on float data)
        noise = np.random.default_rng(0).normal(0.0, sigma, int(hidden.sum())).astype(np.float32)
        x = x.copy()
        x[hidden] = np.clip(fill[hidden] + noise, 0.0, 1.0)
    y = denoiser(x, channel_order="rgb", strength=strength)
    out = np.rint((y.astype(np.float64) + excess) * (hi - lo) + lo)
    if bounds is not None:
        out = out.clip(*bounds)
    info = np.iinfo(frame.dtype) if np.issubdtype(frame.dtype, np.integer) else None
    result = out.clip(info.min, info.max).astype(frame.dtype) if info else out.astype(frame.dtype)
    if pad is not None:
        result[pad] = frame[pad]
    if outside.any():
        result[outside] = frame[outside]
    return result, denoiser.last_strength


#: SOP classes whose pixels are labels, not intensities (Segmentation Storage)
_LABEL_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4",)


def _file_prefix(ds: "Dataset") -> str:
    """``"<file>: "`` for a dataset read from a file (pydicom keeps its name), else ``""``: a folder
    run's warnings say which file they are about."""
    name = getattr(ds, "filename", None)
    return f"{name}: " if isinstance(name, (str, os.PathLike)) and str(name) else ""


def _check_supported(ds: "Dataset") -> None:
    """``ValueError`` for pixel data cvdenoise cannot write back or should not touch, before any work."""
    bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    sop = str(getattr(ds, "SOPClassUID", "") or "")
    if bits == 1 or sop in _LABEL_CLASSES or "SegmentationType" in ds:
        raise ValueError("DICOM segmentation / 1-bit image: its pixels are labels, not intensities to denoise")
    if bits > 16:
        raise ValueError(f"DICOM pixel data of {bits} bits allocated is not supported: 8- or 16-bit integers only "
                         "(32-bit data such as an RT dose grid cannot be written back at its depth)")
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
    if syntax == "1.2.840.10008.1.2.2":  # Explicit VR Big Endian (retired)
        raise ValueError("DICOM Explicit VR Big Endian (a retired transfer syntax) is not supported: convert the "
                         "file to little endian first (e.g. dcmconv +te in.dcm out.dcm)")


def _rescale(ds: "Dataset") -> tuple[float, float]:
    """``(RescaleSlope, RescaleIntercept)`` of ``ds``: at its top level, or (enhanced multi-frame
    IODs) in its shared or per-frame functional groups' Pixel Value Transformation; ``(1, 0)``
    where none is given. ``ValueError`` when frames differ (one mapping serves them all)."""
    def of(item: Any) -> tuple[float, float] | None:
        if item is None or "RescaleSlope" not in item and "RescaleIntercept" not in item:
            return None
        return float(getattr(item, "RescaleSlope", 1) or 1), float(getattr(item, "RescaleIntercept", 0) or 0)

    def transforms(groups: Any) -> list[Any]:
        return [t for g in groups or [] for t in (getattr(g, "PixelValueTransformationSequence", None) or [])]

    found = of(ds)
    if found is None:
        shared = [of(t) for t in transforms(getattr(ds, "SharedFunctionalGroupsSequence", None))]
        per_frame = {of(t) for t in transforms(getattr(ds, "PerFrameFunctionalGroupsSequence", None))} - {None}
        if len(per_frame) > 1:
            raise ValueError("window=: the frames of this dataset have different RescaleSlope/RescaleIntercept, so "
                             "one window is a different range of stored values in each; denoise it without a window")
        found = next((t for t in shared if t is not None), None) or next(iter(per_frame), None)
    return found or (1.0, 0.0)


def _mapping(ds: "Dataset", valid: np.ndarray, window: tuple[float, float] | None) -> tuple[float, float]:
    """The range of stored values to denoise: the window (modality values, through ``RescaleSlope``
    and ``RescaleIntercept`` or the Modality LUT) or the values' range less :data:`OUTLIER_SHARE`
    at each end (:func:`_widened` gives the values mapped to 0 and 1)."""
    if window is not None and "ModalityLUTSequence" in ds:
        lo, hi = _window_through_lut(ds, valid, window)
    elif window is not None:
        slope, intercept = _rescale(ds)
        a, b = ((float(w) - intercept) / slope for w in window)
        lo, hi = min(a, b), max(a, b)
    else:
        lo, hi = (float(v) for v in np.quantile(valid, [OUTLIER_SHARE, 1 - OUTLIER_SHARE]))
        if hi <= lo:  # (mostly one value: the whole range)
            lo, hi = float(valid.min()), float(valid.max())
    return lo, hi


def _widened(lo: float, hi: float) -> tuple[float, float]:
    """The stored values mapped to 0 and 1: ``[lo, hi]`` widened by :data:`HEADROOM` on each side."""
    room = HEADROOM * (hi - lo)
    return lo - room, hi + room


def _window_through_lut(ds: "Dataset", valid: np.ndarray, window: tuple[float, float]) -> tuple[float, float]:
    """The stored values whose Modality LUT values (``ModalityLUTSequence``, which replaces
    ``RescaleSlope``/``RescaleIntercept`` where a dataset has one) lie in ``window``: their lowest
    and highest, among those from ``valid``'s minimum to its maximum. ``ValueError`` when the LUT
    is not monotonic (no range of stored values is one range of modality values) or no stored value
    of the dataset maps into the window."""
    from pydicom.pixels import apply_modality_lut

    stored = np.arange(int(valid.min()), int(valid.max()) + 1)
    try:
        values = np.asarray(apply_modality_lut(stored.astype(valid.dtype), ds), np.float64)
    except Exception as e:  # (a malformed LUT: pydicom raises several types)
        raise ValueError(f"window=: cannot read this dataset's Modality LUT: {e}") from e
    steps = np.diff(values)
    if (steps < 0).any() and (steps > 0).any():
        raise ValueError("window=: this dataset's Modality LUT is not monotonic, so a window of modality values is "
                         "no range of stored values; denoise it without a window")
    inside = stored[(values >= window[0]) & (values <= window[1])]
    if not len(inside):
        raise ValueError(f"window=: no stored value of this dataset maps into {window[0]:g}…{window[1]:g} through its "
                         f"Modality LUT (it gives {values.min():g}…{values.max():g})")
    return float(inside.min()), float(inside.max())


def check_window(window: object) -> tuple[float, float] | None:
    """``window`` as ``(low, high)`` floats (``None`` stays ``None``); ``ValueError`` unless two
    finite numbers with ``low < high``."""
    if window is None:
        return None
    try:
        lo, hi = (float(v) for v in window)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"window must be (low, high) modality values (HU for CT), got {window!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"window must be (low, high) with low < high, both finite, got {window!r}")
    return lo, hi


def denoise_dataset(ds: "Dataset", denoiser: "Denoiser", strength: "Strength | None" = None,
                    window: tuple[float, float] | None = None) -> "Dataset":
    """A copy of ``ds`` with denoised pixel data (same dtype, bit depth and metadata; a new SOP
    Instance UID, ``ImageType`` DERIVED), at ``strength`` (default: the denoiser's).

    Gray (``MONOCHROME1/2``) or colour (``RGB``, ``YBR_*``) data of 8 or 16 bits; one mapping of
    values to ``[0, 1]`` for all its frames, so they stay consistent: the dataset's range less its
    0.1 % most extreme values at each end (a metal or hot pixel does not set the scale), with 10 %
    room beyond it at each end (values at 0 or 1 would read as clipped). ``window=(low, high)`` in
    modality values (HU for CT, through ``RescaleSlope`` and ``RescaleIntercept``, also from the
    functional groups of an enhanced multi-frame dataset, or through a ``ModalityLUTSequence``
    where the dataset has one) maps that range instead: the noise of
    soft tissue (10–20 HU) is a small part of a CT's whole range (−1000 … 3000 HU), where the model
    reads it as nearly clean. Regions beyond the mapping and its room (by their 3×3 median) and
    lone values more than the room beyond it are kept as stored; a structure within the room is
    denoised only up to the mapping's end (choose a window that holds what you read). A colour
    dataset is denoised without a window, with a warning (a window maps gray modality values).
    ``denoiser.last_strength`` then holds one strength per frame.

    Raises:
        ValueError: undecodable pixel data, more than 16 bits allocated, a big-endian transfer
            syntax, a segmentation or other 1-bit (label) image, another photometric
            interpretation (``PALETTE COLOR``: its indices are not intensities), or a bad
            ``window``.
    """
    window = check_window(window)
    _check_supported(ds)
    try:
        arr = ds.pixel_array
    except Exception as e:  # pydicom raises many types for missing decoders / bad data
        said = str(e)
        # (Pillow decodes 8-bit JPEG only; pydicom's own message names no plugin for 12-bit JPEG)
        hint = ("" if "pylibjpeg" in said or "JPEG" not in said else
                " (JPEG Lossless, JPEG-LS and 12-bit JPEG need: pip install pylibjpeg pylibjpeg-libjpeg pyjpegls)")
        raise ValueError(f"cannot decode DICOM pixel data: {said}{hint}") from e
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB") and not photometric.startswith("YBR"):
        hint = " (apply the palette first: pydicom.pixels.apply_color_lut)" if photometric == "PALETTE COLOR" else ""
        raise ValueError(f"DICOM PhotometricInterpretation {photometric!r} is not supported: gray MONOCHROME1/2 or "
                         f"colour RGB/YBR only{hint}")
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    rgb = int(getattr(ds, "SamplesPerPixel", 1)) == 3
    if rgb and window is not None:  # (a folder run's --dicom-window meets the ultrasound of a study too)
        warnings.warn(f"{_file_prefix(ds)}a DICOM window maps gray modality values (HU); this colour dataset is denoised "
                      "without it", stacklevel=2)
        window = None
    pad = padding_mask(ds, arr)  # PixelPaddingValue: outside the image, kept as stored and out of the mapping
    valid = arr if pad is None or pad.all() else arr[~pad]
    lo, hi = _mapping(ds, valid, window)  # one mapping for every frame: no flicker between them
    if window is not None and not bool(((valid >= lo) & (valid <= hi)).any()):
        from ._warn import user_stacklevel

        warnings.warn(f"{_file_prefix(ds)}no pixel of this dataset lies in the window {window[0]:g}…{window[1]:g}: it "
                      "comes back as stored (check the window's units: modality values, HU for CT)", UserWarning,
                      stacklevel=user_stacklevel())
    lo, hi = _widened(lo, hi)
    bounds = (float(valid.min()), float(valid.max()))
    strengths: list[float] = []
    outs = []
    for i, frame in enumerate(arr if frames > 1 else arr[None]):
        frame_pad = None if pad is None else (pad[i] if frames > 1 else pad)
        y, s = _denoise_frame(frame, lo, hi, denoiser, strength, frame_pad, bounds)
        outs.append(y)
        strengths += s
    out = np.stack(outs) if frames > 1 else outs[0]
    denoiser.last_strength = strengths
    new = copy.deepcopy(ds)
    if photometric.startswith("YBR") and rgb:
        photometric = "RGB"  # pydicom's pixel_array converted it to RGB
    # new pixels make a new image (DICOM PS3.3 C.12.1.1.1): a new SOP Instance UID (also in the
    # file meta), ImageType DERIVED, and a note of what was done; patient, study and series stay
    new.set_pixel_data(out, photometric, int(ds.BitsStored), generate_instance_uid=True)
    if "NumberOfFrames" in ds and "NumberOfFrames" not in new:  # (dropped for a 2-D array; Type 1 in multi-frame IODs)
        new.NumberOfFrames = ds.NumberOfFrames
    image_type = getattr(ds, "ImageType", None) or ["ORIGINAL", "PRIMARY"]
    image_type = [image_type] if isinstance(image_type, str) else list(image_type)  # (one value: pydicom's str)
    new.ImageType = ["DERIVED", *image_type[1:]] if len(image_type) > 1 else ["DERIVED", "SECONDARY"]  # (two values at least)
    _mark_derived(new, ds, out)
    note = f"denoised by cvdenoise ({denoiser.name})"
    old_note = str(getattr(ds, "DerivationDescription", "") or "")
    new.DerivationDescription = (f"{old_note}; {note}" if old_note else note)[:1024]
    return new


def _mark_derived(new: "Dataset", source: "Dataset", pixels: np.ndarray) -> None:
    """What else says ``new`` (``source`` with the denoised ``pixels``) is a derived image: each
    frame's ``FrameType`` DERIVED (enhanced multi-frame functional groups, as its ``ImageType``),
    a ``SourceImageSequence`` item naming ``source``, and the smallest/largest pixel values of
    the new pixels (the source's no longer held). Walking every element also decodes each one
    with the encoding the file was read with: a file whose transfer syntax says explicit VR but
    that is encoded implicit (vendors write such) could not be saved otherwise."""
    for elem in new.iterall():
        if elem.keyword == "FrameType" and elem.VM > 1:
            elem.value = ["DERIVED", *list(elem.value)[1:]]
    if "SOPInstanceUID" in source and "SOPClassUID" in source:
        from pydicom.dataset import Dataset

        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
        new.SourceImageSequence = [ref]
    for keyword, value in (("SmallestImagePixelValue", pixels.min()), ("LargestImagePixelValue", pixels.max())):
        if keyword in new and pixels.ndim in (2, 3) and new.get("SamplesPerPixel", 1) == 1:
            setattr(new, keyword, int(value))
        elif keyword in new:
            del new[keyword]  # (colour: per sample, which the tag cannot say)
