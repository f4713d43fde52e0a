from __future__ import annotations

import subprocess
import warnings
import sys
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

import cvdenoise  # noqa: E402
from cvdenoise.cli import main  # noqa: E402
from cvdenoise.dicom import dataset_from_array  # noqa: E402

from helpers import psnr  # noqa: E402


def make_dicom(pixels: np.ndarray, bits_stored: int) -> "pydicom.Dataset":
    return dataset_from_array(pixels, bits_stored, PatientName="Test^Phantom", PatientID="cvd-001", Modality="CT",
                              WindowCenter=40, WindowWidth=400)


@pytest.fixture()
def ct_pair(clean_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    clean = (clean_gray.astype(np.int32) * 12 - 1024).astype(np.int16)  # CT-like, 12-bit signed range
    noisy = np.clip(clean + rng.normal(0, 0.08 * 3060, clean.shape), -2048, 2047).astype(np.int16)
    return clean, noisy


def test_denoiser_accepts_dataset(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    clean, noisy = ct_pair
    ds = make_dicom(noisy, 12)
    out = cvdenoise.load("fast")(ds)
    assert out is not ds and out.PatientName == "Test^Phantom"
    # changed pixels make a new instance of the same study and series (DICOM PS3.3 C.12.1.1.1)
    assert out.SOPInstanceUID != ds.SOPInstanceUID and out.StudyInstanceUID == ds.StudyInstanceUID
    assert out.SeriesInstanceUID == ds.SeriesInstanceUID and out.ImageType[0] == "DERIVED"
    assert "cvdenoise" in out.DerivationDescription
    assert out.BitsStored == 12 and out.PixelRepresentation == 1
    px = out.pixel_array
    assert px.dtype == np.int16 and px.shape == clean.shape
    assert np.array_equal(ds.pixel_array, noisy)  # input dataset untouched
    peak = float(clean.max() - clean.min())
    assert psnr(px, clean, peak) > psnr(noisy, clean, peak) + 2


def test_folder_cli_writes_dicom(tmp_path: Path, ct_pair: tuple[np.ndarray, np.ndarray], clean_gray: np.ndarray) -> None:
    _, noisy = ct_pair
    src = tmp_path / "in"
    src.mkdir()
    make_dicom(noisy, 12).save_as(src / "ct.dcm", enforce_file_format=True)
    u16 = (clean_gray.astype(np.uint16) * 14 + np.random.default_rng(1).integers(0, 400, clean_gray.shape)).astype(np.uint16)
    make_dicom(u16, 12).save_as(src / "mr.dcm", enforce_file_format=True)
    (src / "broken.dcm").write_bytes(b"not dicom")
    code = main(["denoise", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "fast"])
    assert code == 1  # broken.dcm reported
    for name, dtype in (("ct.dcm", np.int16), ("mr.dcm", np.uint16)):
        a = pydicom.dcmread(src / name)
        b = pydicom.dcmread(tmp_path / "out" / name)
        assert b.pixel_array.dtype == dtype and b.pixel_array.shape == a.pixel_array.shape
        assert b.BitsStored == a.BitsStored and b.PatientID == a.PatientID and b.WindowWidth == a.WindowWidth
        assert b.SOPInstanceUID != a.SOPInstanceUID and b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
        assert not np.array_equal(a.pixel_array, b.pixel_array)
    assert not (tmp_path / "out" / "broken.dcm").exists()


def test_dataset_from_array_refuses_colour_and_float_arrays() -> None:
    with pytest.raises(ValueError, match=r"gray \(H,W\) integer array, got uint8 \(4, 5, 3\)"):
        dataset_from_array(np.zeros((4, 5, 3), np.uint8), 8)
    with pytest.raises(ValueError, match="got float32"):
        dataset_from_array(np.zeros((4, 5), np.float32), 8)


def test_per_call_strength_frames_mapped_alike_and_palette_refused(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    _, noisy = ct_pair
    den = cvdenoise.load("fast", half=False)
    ds = make_dicom(noisy, 12)
    assert np.array_equal(den(ds, strength=0).pixel_array, noisy)  # the per-call strength reaches the frames
    assert not np.array_equal(den(ds, strength=1).pixel_array, den(ds, strength=0.3).pixel_array)
    # two identical frames, one with two marker pixels: one mapping for the dataset, no flicker between them
    marked = noisy.copy()
    marked[0, 0], marked[0, 1] = 2047, -2048
    multi = make_dicom(noisy, 12)
    multi.set_pixel_data(np.stack([noisy, marked]), "MONOCHROME2", 12)
    out = den(multi, strength=1).pixel_array.astype(int)
    assert out.shape == (2, *noisy.shape) and len(den.last_strength) == 2
    assert np.abs(out[0] - out[1])[64:, 64:].max() <= 1  # (away from the markers' receptive field)
    palette = make_dicom(noisy.clip(0, 255).astype(np.uint8), 8)
    palette.PhotometricInterpretation = "PALETTE COLOR"
    with pytest.raises(ValueError, match="'PALETTE COLOR' is not supported.*apply_color_lut"):
        den(palette)


def test_pixel_padding_is_kept_and_left_out_of_the_mapping(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    """A CT's PixelPaddingValue (outside the circular field of view) stays as stored, does not set
    the value mapping, and the image's edge next to it is denoised like its inside."""
    clean, noisy = ct_pair
    h, w = clean.shape
    yy, xx = np.mgrid[:h, :w]
    outside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 > (0.45 * min(h, w)) ** 2
    padded = noisy.copy()
    padded[outside] = -2000
    ds = make_dicom(padded, 12)
    ds.PixelPaddingValue = -2000
    den = cvdenoise.load("fast")
    px = den(ds).pixel_array
    assert np.array_equal(px[outside], padded[outside])  # padding untouched
    plain = den(make_dicom(noisy, 12))  # the same image without padding
    inside = ~outside
    edge = inside & ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 > (0.45 * min(h, w) - 4) ** 2)  # a 4-px ring inside the FOV
    err = lambda a, m: float(np.sqrt(np.mean((a[m].astype(float) - clean[m]) ** 2)))  # noqa: E731
    noise = err(noisy, edge)
    assert err(px, edge) < 0.7 * noise  # the ring next to the padding is denoised
    assert abs(err(px, inside) - err(plain.pixel_array, inside)) < 0.1 * err(plain.pixel_array, inside)


def test_dicom_files_named_as_on_dicom_media_are_found_and_denoised(
        tmp_path: Path, ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    _, noisy = ct_pair
    media = tmp_path / "in" / "DICOM" / "ST0"
    media.mkdir(parents=True)
    make_dicom(noisy, 12).save_as(media / "IM00001", enforce_file_format=True)
    make_dicom(noisy, 12).save_as(media / "1.2.840.10008.5", enforce_file_format=True)  # a UID as the name
    (media / "README").write_text("not an image")  # no suffix, no DICM mark: not taken
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(out), "-q", "-w", "fast"]) == 0
    for name in ("IM00001", "1.2.840.10008.5"):
        b = pydicom.dcmread(out / "DICOM" / "ST0" / name)
        assert b.pixel_array.shape == noisy.shape and not np.array_equal(b.pixel_array, noisy)
    assert not (out / "DICOM" / "ST0" / "README").exists()
    assert main(["denoise", str(media / "IM00001"), "-o", str(tmp_path / "one"), "-q", "-w", "fast"]) == 0  # named directly
    assert (tmp_path / "one" / "IM00001").is_file()


def test_padding_value_inside_the_image_or_coded_unsigned(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Only regions of the padding value that surround the image count as padding (an MR's zero
    background noise, stray zeros, stays image); a signed image's value coded unsigned is read so."""
    from cvdenoise.dicom import padding_mask

    _, noisy = ct_pair
    a = noisy.copy()
    a[:, :40] = -2000  # a border band: padding
    a[100:120, 100:120] = -2000  # the same value inside the image: content
    a[200, 150] = -2000  # a stray pixel: content
    ds = make_dicom(a, 12)
    ds.PixelPaddingValue = -2000
    mask = padding_mask(ds, ds.pixel_array)
    assert mask is not None and mask[:, :40].all() and mask.sum() == a.shape[0] * 40
    ds.PixelPaddingValue = 65536 - 2000  # the same value as an unsigned code
    coded = padding_mask(ds, ds.pixel_array)
    assert coded is not None and np.array_equal(coded, mask)


@pytest.mark.timeout(60)
def test_a_named_pipe_in_a_folder_does_not_hang_the_walk(tmp_path: Path, ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    import os

    from cvdenoise.folder import plan_jobs

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs POSIX named pipes")
    src = tmp_path / "in"
    src.mkdir()
    make_dicom(ct_pair[1], 12).save_as(src / "IM00001", enforce_file_format=True)
    os.mkfifo(src / "IM00002")  # no suffix, like a DICOM media file: must not be opened
    jobs = plan_jobs([src], tmp_path / "out")
    assert [j.src.name for j in jobs] == ["IM00001"]
    # a pipe named as DICOM or as an image: reported as failed, where pydicom blocked on it for good
    os.mkfifo(src / "scan.dcm")
    os.mkfifo(src / "pipe.png")
    rc = subprocess.run([sys.executable, "-c", "import sys; from cvdenoise.cli import main; sys.exit(main(sys.argv[1:]))",
                         "denoise", str(src), "-o", str(tmp_path / "out2"), "-q", "-w", "fast"],
                        capture_output=True, text=True, timeout=120)
    assert rc.returncode == 1 and (tmp_path / "out2" / "IM00001").is_file()
    failed = [line for line in rc.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and all("not a regular file" in line for line in failed)
    assert {"scan.dcm", "pipe.png"} == {Path(line.split()[1].rstrip(":")).name for line in failed}


def _phantom(sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A 12-bit CT-like phantom (stored = HU + 1024): air −1000, soft tissue −5…370, a bone ring
    +1000; returns (HU truth, stored noisy uint16, region masks)."""
    import cv2
    from skimage import data

    ph = cv2.resize(data.shepp_logan_phantom(), (192, 192), interpolation=cv2.INTER_AREA)
    hu = np.where(ph < 0.05, -1000, np.where(ph > 0.9, 1000, (ph - 0.2) * 500 + 20)).astype(np.float64)
    regions = {
        "tissue": cv2.erode(((ph > 0.15) & (ph < 0.9)).astype(np.uint8), np.ones((5, 5))) > 0,
        "bone": cv2.erode((ph > 0.9).astype(np.uint8), np.ones((3, 3))) > 0,
        "air": cv2.erode((ph < 0.05).astype(np.uint8), np.ones((3, 3))) > 0,
    }
    rng = np.random.default_rng(seed)
    stored = np.rint(hu + 1024 + rng.normal(0, sigma, hu.shape)).clip(0, 4095).astype(np.uint16)
    return hu, stored, regions


def _ct(stored: np.ndarray) -> "pydicom.Dataset":
    return dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)


def test_one_extreme_pixel_does_not_set_the_dicom_mapping() -> None:
    """The mapping was the dataset's min/max: one metal or hot pixel at the top of the range made
    the model read the noise as nothing (strength 0.75 → 0.09 on every frame of a series)."""
    den = cvdenoise.load("fast", half=False)
    _, stored, _ = _phantom(40)
    frames = np.stack([stored, np.roll(stored, 7, axis=1)])
    hot = frames.copy()
    hot[1, 5, 5] = 4095
    plain = den(_multi_frame(frames))
    strengths = list(den.last_strength)
    with_hot = den(_multi_frame(hot))
    assert den.last_strength == pytest.approx(strengths, abs=0.02)
    a, b = plain.pixel_array.astype(int), with_hot.pixel_array.astype(int)
    assert b[1, 5, 5] == 4095  # the extreme pixel itself is kept as stored
    b[1, 5, 5] = a[1, 5, 5]
    assert np.abs(a - b).mean() < 0.5


def _multi_frame(frames: np.ndarray) -> "pydicom.Dataset":
    ds = _ct(frames[0])
    ds.set_pixel_data(frames, "MONOCHROME2", 12)
    ds.NumberOfFrames = len(frames)
    return ds


def test_flat_regions_at_the_ends_of_the_dicom_range_keep_their_level() -> None:
    """Air and bone sat at exactly 0 and 1 of the mapping, where the model takes values for clipped
    noise and pushed them outward: bone +26 HU, air −10 HU at σ = 20 HU."""
    hu, stored, regions = _phantom(20)
    out = cvdenoise.load("default", half=False)(_ct(stored), strength=1.0).pixel_array.astype(np.float64) - 1024
    for name in ("bone", "air"):
        assert abs(out[regions[name]].mean() - hu[regions[name]].mean()) < 10, name
    noisy = stored.astype(np.float64) - 1024
    rmse = {k: float(np.sqrt(np.mean((v - hu)[regions["tissue"]] ** 2))) for k, v in (("in", noisy), ("out", out))}
    assert rmse["out"] < 0.4 * rmse["in"]


def test_a_dicom_window_denoises_soft_tissue_and_keeps_the_rest_as_stored() -> None:
    from cvdenoise.dicom import denoise_dataset

    den = cvdenoise.load("default", half=False)
    hu, stored, regions = _phantom(10)
    whole = denoise_dataset(_ct(stored), den, strength=1.0).pixel_array.astype(np.float64) - 1024
    windowed = denoise_dataset(_ct(stored), den, strength=1.0, window=(-200, 400)).pixel_array.astype(np.float64) - 1024
    tissue = regions["tissue"]
    rmse = lambda v: float(np.sqrt(np.mean((v - hu)[tissue] ** 2)))  # noqa: E731
    assert rmse(windowed) < 0.5 * rmse(stored.astype(np.float64) - 1024)  # σ = 10 HU of a 5000-HU range:
    assert rmse(windowed) < 0.6 * rmse(whole)                             # the whole mapping reads it as clean
    away = (stored.astype(np.float64) - 1024 < -200 - 60) | (stored.astype(np.float64) - 1024 > 400 + 60)
    assert np.array_equal(windowed[away], stored[away].astype(np.float64) - 1024)  # outside the window (and its room)
    for bad in ((300, 300), (1,), "soft", (0, float("nan"))):
        with pytest.raises(ValueError, match="window must be"):
            denoise_dataset(_ct(stored), den, window=bad)  # type: ignore[arg-type]


def test_a_window_holding_little_of_the_frame_is_denoised_at_the_automatic_strength() -> None:
    """What lies beyond the window, held flat at the mapping's ends, read as a clean drawing to the
    automatic strength: examples/medical_dicom.py's frame under a 600-HU window (4 % of it inside)
    came back exactly as stored."""
    from skimage import data

    from cvdenoise.dicom import denoise_dataset

    truth = data.camera().astype(np.float64) / 255 * 3000 - 1000
    noisy = np.clip(truth + np.random.default_rng(0).normal(0, 120, truth.shape), -2048, 2047).astype(np.int16)
    den = cvdenoise.load("fast", half=False)
    out = denoise_dataset(make_dicom(noisy, 12), den, window=(-200, 400)).pixel_array.astype(np.float64)
    assert den.last_strength[0] > 0.8, den.last_strength  # (was 0)
    inside = (truth > -150) & (truth < 350)
    rmse = lambda v: float(np.sqrt(np.mean((v - truth)[inside] ** 2)))  # noqa: E731
    assert rmse(out) < 0.9 * rmse(noisy.astype(np.float64))
    away = (truth < -200 - 500) | (truth > 400 + 500)  # (far beyond the window and its room, whatever the noise)
    assert np.array_equal(out[away], noisy[away])  # still as stored


@pytest.mark.parametrize("sigma", [10, 20])
def test_a_window_keeps_the_edge_of_what_lies_beyond_it(sigma: float) -> None:
    """Filled in up to the edge, bone beyond a soft-tissue window lost its edge to the model: the
    blurred partial-volume ring beside it came out −5 / −10 HU, worse than the noisy input."""
    import cv2

    from cvdenoise.dicom import denoise_dataset

    yy, xx = np.mgrid[:256, :256].astype(float)
    body = ((yy - 128) ** 2 / 110**2 + (xx - 128) ** 2 / 120**2) <= 1
    clean = np.where(body, 40.0, -1000.0)
    for cy, cx, r in ((128, 128, 18), (70, 90, 10), (180, 170, 14)):
        clean[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1000.0  # bone
    clean = cv2.GaussianBlur(clean, (0, 0), 1.2)  # a CT's blur
    to_bone = cv2.distanceTransform((clean <= 500).astype(np.uint8), cv2.DIST_L2, 5)
    ring = (to_bone > 1) & (to_bone <= 2) & body & (clean >= -160) & (clean <= 240)
    stored = np.clip(np.rint(clean + 1024 + np.random.default_rng(5).normal(0, sigma, clean.shape)), 0, 4095).astype(np.uint16)
    out = denoise_dataset(_ct(stored), cvdenoise.load("default", half=False), window=(-160, 240)).pixel_array
    err, noisy_err = (v.astype(float)[ring] - 1024 - clean[ring] for v in (out, stored))
    assert abs(err.mean()) < 2.5 and np.sqrt((err**2).mean()) < 0.9 * np.sqrt((noisy_err**2).mean()), (err.mean(), sigma)


def test_a_window_no_pixel_lies_in_says_so(tmp_path: Path) -> None:
    # (it passed silently: the frame came back as stored, marked derived and denoised)
    from cvdenoise.dicom import denoise_dataset, read_dicom

    _, stored, _ = _phantom(10)
    with pytest.warns(UserWarning, match="^no pixel of this dataset lies in the window 3000…3100"):
        out = denoise_dataset(_ct(stored), cvdenoise.load("fast", half=False), window=(3000, 3100))
    assert np.array_equal(out.pixel_array, stored)
    _ct(stored).save_as(tmp_path / "slice.dcm", enforce_file_format=True)  # read from a file: the warning names it
    with pytest.warns(UserWarning, match=r"slice\.dcm: no pixel of this dataset lies in the window"):
        denoise_dataset(read_dicom(tmp_path / "slice.dcm"), cvdenoise.load("fast", half=False), window=(3000, 3100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a window that holds pixels: no such warning
        denoise_dataset(_ct(stored), cvdenoise.load("fast", half=False), window=(-200, 400))


def test_dicom_data_cvdenoise_cannot_write_back_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.uid import ExplicitVRBigEndian

    den = cvdenoise.load("fast", half=False)
    calls: list[object] = []
    monkeypatch.setattr(den, "_denoise_tensor", lambda x: calls.append(x))
    dose = _ct(np.zeros((16, 16), np.uint16))
    dose.BitsAllocated, dose.BitsStored, dose.HighBit = 32, 32, 31
    with pytest.raises(ValueError, match="32 bits allocated is not supported"):
        den(dose)
    big = _ct(np.zeros((16, 16), np.uint16))
    big.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    with pytest.raises(ValueError, match="Big Endian"):
        den(big)
    seg = _ct(np.zeros((16, 16), np.uint16))
    seg.SegmentationType = "BINARY"
    with pytest.raises(ValueError, match="segmentation"):
        den(seg)
    assert calls == []


def test_number_of_frames_of_a_one_frame_multi_frame_dataset_is_kept() -> None:
    _, stored, _ = _phantom(20)
    ds = _ct(stored)
    ds.NumberOfFrames = 1
    out = cvdenoise.load("fast", half=False)(ds)
    assert out.NumberOfFrames == 1 and out.pixel_array.shape == stored.shape


def test_a_window_reads_the_rescale_of_an_enhanced_dataset_from_its_functional_groups() -> None:
    """Enhanced CT/MR keep RescaleSlope/Intercept in functional groups: the window was taken as
    stored values (−200…400 stored = −1224…−624 HU, air), and soft tissue was left noisy."""
    from pydicom.dataset import Dataset

    from cvdenoise.dicom import denoise_dataset

    den = cvdenoise.load("default", half=False)
    hu, stored, regions = _phantom(10)
    ds = _ct(stored)
    del ds.RescaleSlope, ds.RescaleIntercept
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1024, "HU"
    group = Dataset()
    group.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [group]
    out = denoise_dataset(ds, den, strength=1.0, window=(-200, 400)).pixel_array.astype(np.float64) - 1024
    tissue = regions["tissue"]
    noisy = stored.astype(np.float64) - 1024
    assert np.sqrt(np.mean((out - hu)[tissue] ** 2)) < 0.5 * np.sqrt(np.mean((noisy - hu)[tissue] ** 2))
    frames = [Dataset(), Dataset()]  # per-frame transforms that differ: one mapping cannot serve them
    for f, intercept in zip(frames, (-1024, -1000)):
        t = Dataset()
        t.RescaleSlope, t.RescaleIntercept = 1, intercept
        f.PixelValueTransformationSequence = [t]
    del ds.SharedFunctionalGroupsSequence
    ds.PerFrameFunctionalGroupsSequence = frames
    with pytest.raises(ValueError, match="different RescaleSlope/RescaleIntercept"):
        denoise_dataset(ds, den, window=(-200, 400))


def test_a_window_reads_the_modality_lut_of_a_dataset_that_has_one() -> None:
    """A Modality LUT (``ModalityLUTSequence``, instead of a rescale) was ignored: the window was
    taken as stored values, and the soft tissue it was meant for was left noisy."""
    from pydicom.dataset import Dataset

    from cvdenoise.dicom import denoise_dataset

    def with_lut(stored: np.ndarray, lut: list[int]) -> "pydicom.Dataset":
        ds = dataset_from_array(stored, 12, Modality="CT")
        item = Dataset()
        item.LUTDescriptor, item.ModalityLUTType = [4096, 0, 16], "US"
        item.add_new("LUTData", "US", lut)
        ds.ModalityLUTSequence = [item]
        return ds

    den = cvdenoise.load("default", half=False)
    hu, stored, regions = _phantom(10)
    twice = [2 * v for v in range(4096)]  # modality value = 2 × stored = 2 × (HU + 1024)
    window = (2 * (-200 + 1024), 2 * (400 + 1024))
    out = denoise_dataset(with_lut(stored, twice), den, strength=1.0, window=window).pixel_array.astype(np.float64) - 1024
    tissue = regions["tissue"]
    noisy = stored.astype(np.float64) - 1024
    assert np.sqrt(np.mean((out - hu)[tissue] ** 2)) < 0.5 * np.sqrt(np.mean((noisy - hu)[tissue] ** 2))
    away = (noisy < -200 - 60) | (noisy > 400 + 60)
    assert np.array_equal(out[away], noisy[away])  # outside the window (and its room): as stored
    with pytest.raises(ValueError, match="Modality LUT is not monotonic"):
        denoise_dataset(with_lut(stored, [(v * 37) % 4096 for v in range(4096)]), den, window=window)
    with pytest.raises(ValueError, match="no stored value of this dataset maps into"):
        denoise_dataset(with_lut(stored, twice), den, window=(9000, 9500))


def test_the_folder_command_takes_a_dicom_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cvdenoise denoise` had no way to denoise CT soft tissue: at the whole range it read 10 HU of
    noise as clean (10.0 → 10.0 HU) and still wrote a new instance."""
    hu, stored, regions = _phantom(10)
    src = tmp_path / "in"
    src.mkdir()
    _ct(stored).save_as(src / "ct.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    assert main(["denoise", str(src), "-o", str(out), "-q", "--dicom-window", "-200", "400"]) == 0
    got = pydicom.dcmread(out / "ct.dcm").pixel_array.astype(np.float64) - 1024
    tissue = regions["tissue"]
    noisy = stored.astype(np.float64) - 1024
    assert np.sqrt(np.mean((got - hu)[tissue] ** 2)) < 0.5 * np.sqrt(np.mean((noisy - hu)[tissue] ** 2))
    assert main(["denoise", str(src), "-o", str(tmp_path / "o2"), "-q", "--dicom-window", "400", "-200"]) == 2
    assert "--dicom-window 400 -200: window must be (low, high) with low < high" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_a_single_valued_image_type_is_not_split_into_letters(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    """``ImageType = "ORIGINAL"`` (one value: pydicom gives a str) came back ['DERIVED', 'R', 'I', 'G', ...]."""
    _, noisy = ct_pair
    ds = make_dicom(noisy, 12)
    ds.ImageType = "ORIGINAL"
    assert list(cvdenoise.load("fast", half=False)(ds).ImageType) == ["DERIVED", "SECONDARY"]


def test_a_dicom_medium_is_denoised_without_failing_on_its_index_reports_and_siemens_names(
        tmp_path: Path, ct_pair: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]) -> None:
    """A DICOMDIR and a report (no pixel data) were FAILED lines and exit 1 on every DICOM CD;
    a Siemens ``.IMA`` was left out of folder walks and, named directly, called corrupt."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    _, noisy = ct_pair
    media = tmp_path / "cd"
    (media / "DICOM").mkdir(parents=True)
    make_dicom(noisy, 12).save_as(media / "DICOM" / "IM00001", enforce_file_format=True)
    make_dicom(noisy, 12).save_as(media / "scan.IMA", enforce_file_format=True)
    for name, sop_class in (("DICOMDIR", "1.2.840.10008.1.3.10"), ("report.dcm", "1.2.840.10008.5.1.4.1.1.88.11")):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta, ds.SOPClassUID, ds.SOPInstanceUID = meta, sop_class, meta.MediaStorageSOPInstanceUID
        ds.save_as(media / name, enforce_file_format=True)
    out = tmp_path / "out"
    assert main(["denoise", str(media), "-o", str(out), "-q", "-w", "fast"]) == 0
    said = capsys.readouterr()
    assert "FAILED" not in said.err and "skipped 2 DICOM file(s) that hold no image" in said.out
    assert "wrote 2 of 2 images" in said.out  # (the index and the report are no images: was "of 4")
    assert (out / "DICOM" / "IM00001").is_file() and (out / "scan.IMA").is_file()
    assert not np.array_equal(pydicom.dcmread(out / "scan.IMA").pixel_array, noisy)
    assert main(["denoise", str(media / "scan.IMA"), "-o", str(tmp_path / "one"), "-q", "-w", "fast"]) == 0
    # an image cut short before its pixel data is a failure, not a non-image to skip (it exited 0)
    whole = (media / "scan.IMA").read_bytes()
    (media / "cut.dcm").write_bytes(whole[: whole.rindex(b"\xe0\x7f\x10\x00") + 6])  # into (7FE0,0010)'s header
    assert main(["denoise", str(media), "-o", str(out), "-q", "-w", "fast"]) == 1
    said = capsys.readouterr()
    assert "cut.dcm: ValueError: DICOM image (256×256) without its pixel data: the file is cut short" in said.err
    assert "skipped 2 DICOM file(s) that hold no image" in said.out
    # a parametric map's float pixels: unsupported, said so (was "cut short (an interrupted copy?)")
    from cvdenoise.dicom import read_dicom

    ds = pydicom.dcmread(media / "scan.IMA")
    del ds.PixelData
    ds.BitsAllocated = 32
    ds.FloatPixelData = np.zeros((256, 256), np.float32).tobytes()
    ds.save_as(tmp_path / "map.dcm")
    with pytest.raises(ValueError, match="map.dcm: DICOM image with FloatPixelData .float pixel data"):
        read_dicom(tmp_path / "map.dcm")


def test_failed_dicom_lines_are_one_line_each_without_pydicoms_api_advice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pydicom's messages hold line breaks (a FAILED entry spanned 4 lines) and tell CLI users to 'Use force=True'."""
    (src := tmp_path / "in").mkdir()
    (src / "fake.dcm").write_bytes(b"not dicom at all" * 20)
    assert main(["denoise", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "fast"]) == 1
    err = capsys.readouterr().err
    assert "force=True" not in err and [line for line in err.splitlines() if "fake.dcm" in line][0].startswith("FAILED")


def test_a_file_encoded_unlike_its_transfer_syntax_is_written_back() -> None:
    """A file whose transfer syntax says explicit VR but that is encoded implicit (pydicom reads it
    with a warning) was denoised, then failed to save: 'encoding without a string argument'."""
    import io
    import warnings

    from pydicom.data import get_testdata_file

    path = get_testdata_file("SC_rgb_jpeg.dcm")
    if path is None:
        pytest.skip("pydicom's test file SC_rgb_jpeg.dcm is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        try:
            ds.pixel_array
        except Exception:  # noqa: BLE001 - no decoder for its pixel data here
            pytest.skip("no JPEG decoder for pydicom")
        out = cvdenoise.load("fast", half=False)(ds)
    buf = io.BytesIO()
    out.save_as(buf, enforce_file_format=True)
    assert pydicom.dcmread(io.BytesIO(buf.getvalue())).pixel_array.shape == ds.pixel_array.shape


def test_a_denoised_dataset_says_it_is_derived_everywhere(ct_pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Enhanced multi-frame FrameType stayed ORIGINAL beside ImageType DERIVED, Smallest/Largest
    ImagePixelValue kept the source's values, and nothing referenced the source image."""
    from pydicom.dataset import Dataset

    _, noisy = ct_pair
    ds = make_dicom(noisy, 12)
    ds.SmallestImagePixelValue, ds.LargestImagePixelValue = int(noisy.min()), int(noisy.max())
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    group = Dataset()
    group.CTImageFrameTypeSequence = [frame_type]
    ds.SharedFunctionalGroupsSequence = [group]
    out = cvdenoise.load("fast", half=False)(ds)
    assert list(out.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType) == ["DERIVED", "PRIMARY", "AXIAL", "NONE"]
    assert list(ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType)[0] == "ORIGINAL"  # (source untouched)
    pixels = out.pixel_array
    assert (out.SmallestImagePixelValue, out.LargestImagePixelValue) == (pixels.min(), pixels.max())
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID != out.SOPInstanceUID


def test_a_window_given_for_a_colour_dataset_is_left_out_with_a_warning() -> None:
    """A folder run's --dicom-window (HU) was applied to the colour ultrasound of the same study."""
    from cvdenoise.dicom import denoise_dataset

    rng = np.random.default_rng(0)
    clean = np.full((48, 64, 3), 120, np.uint8)
    ds = dataset_from_array(clean[..., 0], 8)
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
    noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
    ds.set_pixel_data(noisy, "RGB", 8)
    den = cvdenoise.load("fast", half=False)
    with pytest.warns(UserWarning, match="colour dataset is denoised without it"):
        windowed = denoise_dataset(ds, den, window=(-200, 400))
    assert np.array_equal(windowed.pixel_array, denoise_dataset(ds, den).pixel_array)
    assert np.abs(windowed.pixel_array.astype(int) - 120).mean() < np.abs(noisy.astype(int) - 120).mean() / 2


def test_bone_above_a_brain_window_does_not_darken_the_brain_beside_it() -> None:
    """A skull far above the window reached the model at exactly white, and gray-default darkened the
    brain beside it on one side (a learned halo next to saturated white: −7.4 HU at σ 20 HU)."""
    import cv2
    from skimage import data

    from cvdenoise.dicom import denoise_dataset

    p = data.shepp_logan_phantom()  # (400×400) its ring as a skull of 1000 HU, the brain at 40
    hu = np.select([p > 0.9, np.abs(p - 0.2) < 0.01, p < 0.01], [1000, 40, -1000], default=55).astype(float)
    stored = np.round(hu + 1024 + np.random.default_rng(0).normal(0, 20, hu.shape)).clip(0, 4095).astype(np.uint16)
    ds = dataset_from_array(stored, 12, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024)
    out = denoise_dataset(ds, cvdenoise.load("default", half=False), window=(-200, 400)).pixel_array.astype(float) - 1024
    to_skull = cv2.distanceTransform((hu < 500).astype(np.uint8), cv2.DIST_L2, 5)
    beside = (hu == 40) & (to_skull >= 1) & (to_skull < 6)
    beside[:, :300] = False  # the right side, where the halo was
    assert abs(out[beside].mean() - 40) < 2.5, out[beside].mean() - 40
    assert np.array_equal(out[hu == 1000], stored[hu == 1000].astype(float) - 1024)  # the skull as stored


def test_a_pixel_data_decoder_missing_for_jpeg_names_the_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    # (pydicom's words for 12-bit JPEG name no plugin; the docs had the install line, the FAILED line did not)
    from cvdenoise.dicom import denoise_dataset

    ds = _ct(np.full((16, 16), 1064, np.uint16))

    def undecodable(self: object) -> np.ndarray:
        raise RuntimeError("Pillow does not support 'JPEG Extended' for samples with 12-bit precision")

    monkeypatch.setattr(type(ds), "pixel_array", property(undecodable))
    with pytest.raises(ValueError, match="12-bit precision .*pip install pylibjpeg pylibjpeg-libjpeg pyjpegls"):
        denoise_dataset(ds, cvdenoise.load("fast", half=False))
