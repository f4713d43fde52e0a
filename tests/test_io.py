from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

import cvdenoise
from cvdenoise.folder import denoise_files, plan_jobs
from cvdenoise.io import ImageMetadata, ImageReadError, ImageWriteError, read_image, read_metadata, write_image

from helpers import sigint_after


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_png_round_trip(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(3)
    la = rng.integers(0, np.iinfo(dtype).max + 1, (37, 53, 2)).astype(dtype)
    write_image(tmp_path / "la.png", la)
    back = read_image(tmp_path / "la.png")
    assert back.dtype == dtype and np.array_equal(back, la)
    bgra = cv2.imread(str(tmp_path / "la.png"), cv2.IMREAD_UNCHANGED)  # any PNG reader sees gray + alpha
    assert np.array_equal(bgra[..., 0], la[..., 0]) and np.array_equal(bgra[..., 3], la[..., 1])
    if dtype == np.uint8:
        im = Image.open(tmp_path / "la.png")
        assert im.mode == "LA" and np.array_equal(np.asarray(im), la)


def test_gray_alpha_read_from_pillow_and_written_as_bgra_elsewhere(tmp_path: Path) -> None:
    la = np.dstack([np.arange(48, dtype=np.uint8).reshape(6, 8), np.full((6, 8), 7, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "in.png")
    assert np.array_equal(read_image(tmp_path / "in.png"), la)
    write_image(tmp_path / "out.tif", la)
    tif = read_image(tmp_path / "out.tif")
    assert tif.shape == (6, 8, 4) and np.array_equal(tif[..., 1], la[..., 0]) and (tif[..., 3] == 7).all()


def test_rgba_png_stays_four_channels(tmp_path: Path) -> None:
    bgra = np.random.default_rng(4).integers(0, 256, (9, 11, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), bgra)
    assert np.array_equal(read_image(tmp_path / "c.png"), bgra)


def test_corrupt_png_names_the_file(tmp_path: Path) -> None:
    (bad := tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    with pytest.raises(ImageReadError, match="bad.png"):
        read_image(bad)


def test_damaged_png_is_refused_before_libpng_prints_to_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A whole PNG (it ends in IEND) with garbled image data: libpng used to write "libpng error:
    IDAT: invalid stored block lengths" to the process's stderr beside the CLI's own FAILED line.
    The chunk CRCs are checked first, and the error names the damage."""
    bgr = np.random.default_rng(8).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = bytearray(cv2.imencode(".png", bgr)[1].tobytes())
    data[60:400] = np.random.default_rng(9).integers(0, 256, 340, dtype=np.uint8).tobytes()
    (bad := tmp_path / "garbled.png").write_bytes(bytes(data))
    capfd.readouterr()
    with pytest.raises(ImageReadError, match=r"garbled.png: cannot decode image \(corrupt PNG: a damaged chunk\)"):
        read_image(bad)
    err = capfd.readouterr().err
    assert "libpng" not in err, err
    good = cv2.imencode(".png", bgr)[1].tobytes()
    chunk = b"ABCD" + b"xyz"  # a critical chunk libpng does not know: refused by it ("unhandled critical chunk")
    (unknown := tmp_path / "unknown.png").write_bytes(
        good[:33] + struct.pack(">I", 3) + chunk + struct.pack(">I", zlib.crc32(chunk)) + good[33:])
    with pytest.raises(ImageReadError, match=r"unknown.png: cannot decode image \(corrupt PNG: a damaged chunk\)"):
        read_image(unknown)
    assert "libpng" not in capfd.readouterr().err
    text = struct.pack(">I", 5) + b"tEXtk\0abc" + b"\0\0\0\0"  # an ancillary chunk's bad CRC: read as before
    (anc := tmp_path / "anc.png").write_bytes(good[:33] + text + good[33:])
    assert np.array_equal(read_image(anc), bgr)  # (libpng warns of it on stderr: a damaged file it reads)


def test_formats_that_cannot_hold_the_depth_are_refused_not_cut_to_8_bits(tmp_path: Path) -> None:
    gray16 = np.random.default_rng(6).integers(0, 65536, (9, 11), dtype=np.uint16)
    for name in ("a.jpg", "a.jfif", "a.webp", "a.bmp"):
        with pytest.raises(ImageWriteError, match=rf"{name}: a \.\w+ file holds uint8 samples, this image is uint16"):
            write_image(tmp_path / name, gray16)
    with pytest.raises(ImageWriteError, match="this image is float32; use a .tif name"):
        write_image(tmp_path / "a.png", gray16.astype(np.float32) / 65535)
    with pytest.raises(ImageWriteError, match="this image is int16; use a .tif name"):
        write_image(tmp_path / "a.jpg", gray16.astype(np.int16))
    write_image(tmp_path / "i.tif", gray16.astype(np.int16))  # TIFF holds signed data
    (tmp_path / "i.tif").unlink()
    assert not list(tmp_path.iterdir())
    write_image(tmp_path / "a.png", gray16)
    write_image(tmp_path / "a.tif", gray16.astype(np.float32) / 65535)
    assert np.array_equal(read_image(tmp_path / "a.png"), gray16)


def test_jfif_and_jpe_are_jpegs(tmp_path: Path) -> None:
    bgr = np.random.default_rng(7).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    for name in ("a.jfif", "b.JPE"):
        write_image(tmp_path / name, bgr)
        assert (tmp_path / name).read_bytes()[:2] == b"\xff\xd8"
        assert read_image(tmp_path / name).shape == bgr.shape
    assert sorted(j.src.name for j in plan_jobs([tmp_path], tmp_path / "out")) == ["a.jfif", "b.JPE"]


def test_one_file_to_an_image_name_gives_advice_that_fits_the_input(tmp_path: Path) -> None:
    """``denoise FILE -o NAME.ext`` called every input without a suffix DICOM and advised ".dcm"
    names that were refused in turn; a quoted pattern lost the shell hint plan_jobs gives; and a
    .ppm or .pgm input could not go to a .pnm name, which the writer writes as the same file."""
    from cvdenoise.folder import plan_file_job

    (photo := tmp_path / "photo").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    for out in ("clean.png", "clean.dcm"):
        with pytest.raises(ValueError, match=r"the input \S*photo has no suffix: give a folder as -o"):
            plan_file_job(photo, tmp_path / out)
    (media := tmp_path / "IM00001").write_bytes(b"\0" * 128 + b"DICM")  # a DICOM media file name: no suffix
    with pytest.raises(ValueError, match=r"a \.png name for the DICOM input \S*IM00001; .* name it \.dcm"):
        plan_file_job(media, tmp_path / "clean.png")
    assert [j.dst.name for j in plan_file_job(media, tmp_path / "clean.dcm")] == ["clean.dcm"]
    with pytest.raises(FileNotFoundError, match=r"input not found: .*\*\.png \(a pattern is expanded by the shell"):
        plan_file_job(tmp_path / "*.png", tmp_path / "clean.png")
    write_image(tmp_path / "a.ppm", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "a.pgm", np.zeros((8, 8), np.uint8))
    for name in ("a.ppm", "a.pgm"):
        assert [j.dst.name for j in plan_file_job(tmp_path / name, tmp_path / "b.pnm")] == ["b.pnm"]
    for src, out in (("a.pgm", "b.ppm"), ("a.ppm", "b.pgm")):  # a .ppm name makes gray colour, a .pgm one refuses colour
        with pytest.raises(ValueError, match="keeps the input's format"):
            plan_file_job(tmp_path / src, tmp_path / out)


def test_truncated_jpeg_is_decoded_with_a_warning(tmp_path: Path) -> None:
    bgr = cv2.resize(np.random.default_rng(8).integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 64))
    data = cv2.imencode(".jpg", bgr)[1].tobytes()
    (cut := tmp_path / "cut.jpg").write_bytes(data[:-2])  # an interrupted copy: no end marker
    with pytest.warns(UserWarning, match="cut.jpg: truncated JPEG"):
        assert np.array_equal(read_image(cut), read_image_bytes(data, tmp_path))
    (half := tmp_path / "half.jpg").write_bytes(data[: len(data) * 3 // 5])  # most of the scan data missing
    with pytest.warns(UserWarning, match="half.jpg: truncated JPEG"):
        part = read_image(half)
    whole = read_image_bytes(data, tmp_path)
    assert part.shape == whole.shape and np.array_equal(part[:8], whole[:8]) and not np.array_equal(part, whole)
    (stub := tmp_path / "stub.jpg").write_bytes(data[:40])
    with pytest.raises(ImageReadError, match=r"stub.jpg: cannot decode image \(truncated or corrupt JPEG\)"):
        read_image(stub)


def test_truncated_files_are_read_without_touching_the_processs_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A truncated JPEG/PNG used to be decoded with file descriptor 2 sent to the null device (to
    hide libjpeg's and libpng's own lines), which silenced every other thread's stderr meanwhile.
    Each OpenCV decode must now see the process's stderr as it was, and nothing from the C
    libraries may reach it either: only cvdenoise's warning."""
    import os
    import warnings

    def where_stderr_goes() -> tuple[int, int]:
        st = os.fstat(2)
        return st.st_dev, st.st_ino

    seen: list[tuple[int, int]] = []
    decode = cv2.imdecode

    def recording_decode(*args: object, **kwargs: object) -> np.ndarray | None:
        seen.append(where_stderr_goes())
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    rng = np.random.default_rng(3)
    bgr = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 64))
    gray = np.ascontiguousarray(bgr[..., 1])
    jpg, jpg_gray = cv2.imencode(".jpg", bgr)[1].tobytes(), cv2.imencode(".jpg", gray)[1].tobytes()
    png = cv2.imencode(".png", bgr)[1].tobytes()
    with warnings.catch_warnings():  # the references, decoded by OpenCV (its libjpeg may print here)
        warnings.simplefilter("ignore")
        ref = {name: cv2.imdecode(np.frombuffer(d[: len(d) // 2] + b"\xff\xd9", np.uint8), flag)
               for name, d, flag in (("half.jpg", jpg, cv2.IMREAD_COLOR), ("half_gray.jpg", jpg_gray, cv2.IMREAD_GRAYSCALE))}
    for name, d in (("half.jpg", jpg), ("half_gray.jpg", jpg_gray)):
        (tmp_path / name).write_bytes(d[: len(d) // 2])
    (tmp_path / "no_iend.png").write_bytes(png[:-12])
    for k in range(1, 12):  # cut inside the IEND chunk: the image data is complete
        (tmp_path / f"cut{k}.png").write_bytes(png[:-k])
    text = struct.pack(">I", 5) + b"tEXtk\0abc" + struct.pack(">I", zlib.crc32(b"tEXtk\0abc"))
    (tmp_path / "cut12.png").write_bytes(png[:-12] + text[:-3])  # cut inside a chunk after the image data
    (tmp_path / "half.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "after_iend.png").write_bytes(png + b"\0" * 7)  # bytes after the end chunk
    capfd.readouterr()
    monkeypatch.setattr(cv2, "imdecode", recording_decode)
    before = where_stderr_goes()
    for name in ("half.jpg", "half_gray.jpg"):
        with pytest.warns(UserWarning, match=f"{name}: truncated JPEG"):
            assert np.array_equal(read_image(tmp_path / name), ref[name])
    with pytest.warns(UserWarning, match="no_iend.png: truncated PNG"):
        assert np.array_equal(read_image(tmp_path / "no_iend.png"), bgr)
    for k in range(1, 13):
        with pytest.warns(UserWarning, match=f"cut{k}.png: truncated PNG"):
            assert np.array_equal(read_image(tmp_path / f"cut{k}.png"), bgr), k
    assert np.array_equal(read_image(tmp_path / "after_iend.png"), bgr)
    with pytest.raises(ImageReadError, match=r"half.png: cannot decode image \(truncated or corrupt PNG\)"):
        read_image(tmp_path / "half.png")
    assert seen and all(s == before for s in seen), "stderr was redirected while OpenCV decoded"
    err = capfd.readouterr().err
    assert "JPEG" not in err and "libpng" not in err, err


def test_truncated_jpeg_pillow_cannot_decode_falls_back_to_opencv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow decodes a truncated JPEG quietly; one it cannot (12-bit, lossless, or no Pillow) is
    still read, by OpenCV from the same repaired bytes, instead of being refused."""
    import warnings

    import cvdenoise.io as cio

    data = cv2.imencode(".jpg", cv2.resize(np.random.default_rng(5).integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 64)))[1].tobytes()
    (half := tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cv2.imdecode(np.frombuffer(data[: len(data) // 2] + b"\xff\xd9", np.uint8), cv2.IMREAD_COLOR)
    monkeypatch.setattr(cio, "_pillow_jpeg", lambda b: None)
    with pytest.warns(UserWarning, match="half.jpg: truncated JPEG"):
        assert np.array_equal(read_image(half), ref)


def read_image_bytes(data: bytes, folder: Path) -> np.ndarray:
    (whole := folder / "whole.jpg").write_bytes(data)
    return read_image(whole)


def test_png_colour_chunks_and_jpeg_density_and_444_sampling_are_kept(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    from PIL import JpegImagePlugin

    rgb = cv2.resize(np.random.default_rng(11).integers(0, 256, (12, 16, 3), dtype=np.uint8), (64, 48))
    (src := tmp_path / "in").mkdir()
    Image.fromarray(rgb).save(src / "a.jpg", quality=95, subsampling=0, dpi=(300, 300))
    Image.fromarray(rgb).save(src / "b.jpg", quality=95, subsampling=2)
    Image.fromarray(rgb).convert("CMYK").save(src / "d.jpg", quality=95)  # 4 components, none subsampled
    png = cv2.imencode(".png", rgb)[1].tobytes()
    gama, phys = struct.pack(">I", 55555), struct.pack(">IIB", 11811, 11811, 1)  # gamma 1/1.8, 300 dpi
    (src / "c.png").write_bytes(_png_with_chunk(_png_with_chunk(png, b"gAMA", gama), b"pHYs", phys))
    assert denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False).ok
    with Image.open(tmp_path / "out" / "a.jpg") as a, Image.open(tmp_path / "out" / "b.jpg") as b:
        assert JpegImagePlugin.get_sampling(a) == 0 and JpegImagePlugin.get_sampling(b) == 2
        assert a.info["dpi"] == pytest.approx((300, 300))
    with Image.open(src / "d.jpg") as d_in, Image.open(tmp_path / "out" / "d.jpg") as d_out:
        assert [layer[1:3] for layer in d_in.layer] == [(1, 1)] * 4  # (written 4:2:0: 12 levels off at strength 0)
        assert JpegImagePlugin.get_sampling(d_out) == 0
    meta = read_metadata(tmp_path / "out" / "c.png")
    assert dict(meta.png_chunks) == {b"gAMA": gama, b"pHYs": phys}


def test_gray_alpha_tiff_is_refused_not_cut_to_gray(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    g = np.random.default_rng(9).integers(0, 65536, (12, 10), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "ga.tif", np.dstack([g, g]), photometric="minisblack", extrasamples=[2])
    with pytest.raises(ImageReadError, match="ga.tif: a gray TIFF with 2 samples per pixel"):
        read_image(tmp_path / "ga.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.dstack([g, g, g]), photometric="rgb")
    assert read_image(tmp_path / "rgb.tif").dtype == np.uint16


def test_folder_run_skips_apple_double_files_and_refuses_16_bit_or_alpha_data_named_jpg(
    tmp_path: Path, fast32: cvdenoise.Denoiser
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(10)
    cv2.imwrite(str(src / "good.jpg"), rng.integers(0, 256, (32, 40, 3), dtype=np.uint8))
    (src / "._good.jpg").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80)  # macOS resource-fork companion
    (src / "deep.jpg").write_bytes(cv2.imencode(".png", rng.integers(0, 65536, (32, 40), dtype=np.uint16))[1].tobytes())
    (src / "alpha.jpg").write_bytes(cv2.imencode(".png", rng.integers(0, 256, (32, 40, 4), dtype=np.uint8))[1].tobytes())
    jobs = plan_jobs([src], tmp_path / "out")
    assert sorted(j.src.name for j in jobs) == ["alpha.jpg", "deep.jpg", "good.jpg"]
    report = denoise_files(jobs, fast32, progress=False)
    assert [p.name for p in report.written] == ["good.jpg"]
    failed = dict((p.name, why) for p, why in report.failed)
    assert failed["deep.jpg"].startswith("ImageWriteError: a .jpg file holds uint8 samples, this image is uint16")
    assert "alpha channel, which a .jpg file cannot hold" in failed["alpha.jpg"]  # (was written, alpha dropped)
    assert sorted(p.name for p in (tmp_path / "out").glob("[!.]*")) == ["good.jpg"]  # (not the output marker)


def test_pnm_named_for_the_other_kind(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (32, 40), dtype=np.uint8)
    (src / "colour.pgm").write_bytes(cv2.imencode(".ppm", colour)[1].tobytes())  # colour P6 bytes named .pgm
    (src / "gray.ppm").write_bytes(cv2.imencode(".pgm", gray)[1].tobytes())  # gray P5 bytes named .ppm
    report = denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    failed = dict((p.name, why) for p, why in report.failed)
    assert failed == {"colour.pgm": "ImageWriteError: a .pgm file holds gray images, this one has colour; use a .ppm name"}
    out = cv2.imread(str(tmp_path / "out" / "gray.ppm"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (32, 40, 3) and (out[..., 0] == out[..., 2]).all()  # P6 holds colour: three equal planes
    with pytest.raises(ImageWriteError, match="alpha channel, which a .ppm file cannot hold"):
        write_image(tmp_path / "x.ppm", np.zeros((4, 4, 4), np.uint8))


@pytest.mark.parametrize("bits", [10, 12])
def test_low_bit_depth_uint16_files_are_denoised_at_their_own_scale(tmp_path: Path, bits: int) -> None:
    from skimage import data

    full = 2**bits - 1
    clean = data.camera()[:128, :128].astype(np.float64) / 255
    rng = np.random.default_rng(bits)
    noisy = np.clip(np.rint((clean + rng.normal(0, 20 / 255, clean.shape)) * full), 0, full).astype(np.uint16)
    (src := tmp_path / "in").mkdir()
    cv2.imwrite(str(src / "scan.png"), noisy)
    report = denoise_files(plan_jobs([src], tmp_path / "out"), cvdenoise.load("fast", half=False), progress=False)
    assert report.ok
    out = read_image(tmp_path / "out" / "scan.png")
    assert out.dtype == np.uint16 and out.max() <= full

    def err(a: np.ndarray) -> float:
        return float(np.mean((a / full - clean) ** 2))

    assert err(out) < 0.3 * err(noisy)  # scaled by 65535 it came back nearly unchanged (auto strength ≈ 0.03)


# --- multi-page / animated files, metadata (ICC, EXIF, tRNS) ---------------------------------

_MAKE, _ORIENTATION = 0x010F, 0x0112


@pytest.fixture(scope="module")
def fast32() -> cvdenoise.Denoiser:
    return cvdenoise.load("fast", half=False)


@pytest.fixture(scope="module")
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _frames(n: int = 3) -> list[Image.Image]:
    return [Image.fromarray(np.full((24, 32, 3), 60 * k + 20, np.uint8)) for k in range(n)]


def _save_multi(path: Path) -> Path:
    first, *rest = _frames()
    first.save(path, save_all=True, append_images=rest, **({"lossless": True} if path.suffix == ".webp" else {}))
    return path


def _parse_exif(data: bytes | None) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data or b"")
    return exif


def _png_with_chunk(png: bytes, tag: bytes, body: bytes) -> bytes:
    """PNG bytes with one more chunk right after IHDR (built here, independent of cvdenoise.io)."""
    chunk = struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    return png[:33] + chunk + png[33:]


@pytest.mark.parametrize("name", ["pages.tif", "anim.webp", "anim.gif", "anim.png"])
def test_multi_frame_files_are_refused(tmp_path: Path, name: str) -> None:
    path = _save_multi(tmp_path / name)
    assert Image.open(path).n_frames == 3
    with pytest.raises(ImageReadError, match=rf"{name}: holds 3 pages/frames.*split the file first"):
        read_image(path)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_multi_page_bigtiff_is_refused_and_one_page_read(tmp_path: Path, byteorder: str) -> None:
    tifffile = pytest.importorskip("tifffile")
    page = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "pages.tif", np.stack([page] * 3), bigtiff=True, photometric="rgb", byteorder=byteorder)
    with pytest.raises(ImageReadError, match="holds 3 pages/frames"):
        read_image(tmp_path / "pages.tif")
    with tifffile.TiffWriter(tmp_path / "pyramid.tif", bigtiff=True, byteorder=byteorder) as tif:
        tif.write(page, photometric="rgb")
        tif.write(page[::2, ::2], photometric="rgb", subfiletype=1)  # a reduced-resolution copy: not a page
    assert read_image(tmp_path / "pyramid.tif").shape == (24, 32, 3)


def test_cmyk_tiff_reads_as_bgr_and_integer_tiffs_are_named(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    cmyk = np.zeros((8, 10, 4), np.uint8)
    cmyk[..., 0], cmyk[..., 3] = 200, 50  # cyan, some black
    for big in (False, True):
        tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated", bigtiff=big)
        bgr = read_image(tmp_path / "cmyk.tif")
        assert bgr.shape == (8, 10, 3)  # no opaque fourth channel written back as "alpha"
        assert np.array_equal(bgr, cv2.imread(str(tmp_path / "cmyk.tif"), cv2.IMREAD_UNCHANGED)[..., :3])
    for dtype in (np.int16, np.uint32):
        tifffile.imwrite(tmp_path / "i.tif", np.arange(80, dtype=dtype).reshape(8, 10))
        if cv2.imread(str(tmp_path / "i.tif"), cv2.IMREAD_UNCHANGED) is None:
            continue  # this OpenCV does not decode it at all (the generic message)
        with pytest.raises(ImageReadError, match=f"{np.dtype(dtype).name} samples are not supported"):
            read_image(tmp_path / "i.tif")


def test_single_frame_files_and_tiff_thumbnail_pages_still_read(tmp_path: Path) -> None:
    for name in ("one.tif", "one.webp", "one.gif", "one.png"):
        _frames(1)[0].save(tmp_path / name, **({"lossless": True} if name.endswith(".webp") else {}))
        assert read_image(tmp_path / name).shape[:2] == (24, 32)
    # page 2 flagged as a reduced-resolution image (NewSubfileType bit 0): a thumbnail, not a page
    big, thumb = _frames(2)
    big.save(tmp_path / "thumb.tif", save_all=True, append_images=[thumb.resize((8, 6))], tiffinfo={254: 0})
    raw = bytearray((tmp_path / "thumb.tif").read_bytes())
    order = "<" if raw[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", raw, 4)[0]
    ifd = struct.unpack_from(order + "I", raw, ifd + 2 + 12 * struct.unpack_from(order + "H", raw, ifd)[0])[0]
    for i in range(struct.unpack_from(order + "H", raw, ifd)[0]):
        tag, typ = struct.unpack_from(order + "HH", raw, ifd + 2 + 12 * i)
        if tag == 254:
            struct.pack_into(order + ("H" if typ == 3 else "I"), raw, ifd + 2 + 12 * i + 8, 1)
            break
    else:
        pytest.fail("Pillow wrote no NewSubfileType tag")
    (tmp_path / "thumb.tif").write_bytes(bytes(raw))
    assert Image.open(tmp_path / "thumb.tif").n_frames == 2
    assert read_image(tmp_path / "thumb.tif").shape[:2] == (24, 32)


def test_folder_run_reports_multi_frame_files_and_writes_the_rest(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _save_multi(src / "pages.tif")
    _save_multi(src / "anim.webp")
    rng = np.random.default_rng(5)
    cv2.imwrite(str(src / "good.png"), rng.integers(0, 256, (32, 40, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "good.tif"), rng.integers(0, 256, (32, 40), dtype=np.uint8))
    out = tmp_path / "out"
    report = denoise_files(plan_jobs([src], out), fast32, progress=False)
    assert sorted(p.name for p in report.written) == ["good.png", "good.tif"]
    assert {p.name: why for p, why in report.failed} == {
        "anim.webp": "ImageReadError: holds 3 pages/frames; cvdenoise denoises single images (split the file first)",
        "pages.tif": "ImageReadError: holds 3 pages/frames; cvdenoise denoises single images (split the file first)",
    }
    assert sorted(p.name for p in out.glob("[!.]*")) == ["good.png", "good.tif"]  # (not the output marker)


def test_jpeg_exif_and_icc_survive_a_folder_run_upright(
    tmp_path: Path, fast32: cvdenoise.Denoiser, srgb_icc: bytes
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, 32:] = 220  # stored: left dark, right bright; orientation 6 shows it turned 90° clockwise
    exif = Image.Exif()
    exif[_ORIENTATION], exif[_MAKE] = 6, "TestCam"
    Image.fromarray(stored).save(src / "photo.jpg", quality=95, exif=exif.tobytes(), icc_profile=srgb_icc)
    report = denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    assert report.ok and [p.name for p in report.written] == ["photo.jpg"]
    with Image.open(tmp_path / "out" / "photo.jpg") as im:
        assert im.info["icc_profile"] == srgb_icc
        assert im.getexif()[_MAKE] == "TestCam" and im.getexif()[_ORIENTATION] == 1
        assert im.size == (48, 64)  # stored upright now: 48 wide, 64 high
        upright = np.asarray(im.convert("L"), np.float32)
    assert upright[:28].mean() < 40 and upright[36:].mean() > 180  # top dark, bottom bright
    # a second run sees orientation 1: no second rotation
    again = denoise_files(plan_jobs([tmp_path / "out"], tmp_path / "again"), fast32, progress=False)
    assert again.ok and read_image(tmp_path / "again" / "photo.jpg").shape == (64, 48, 3)


def test_exif_orientation_is_reset_only_where_read_image_rotates(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[_ORIENTATION] = 6
    stored = np.zeros((6, 10, 3), np.uint8)
    for name in ("r.jpg", "r.png"):
        Image.fromarray(stored).save(tmp_path / name, exif=exif.tobytes())
    assert read_image(tmp_path / "r.jpg").shape[:2] == (10, 6)  # rotated upright: orientation now 1
    assert _parse_exif(read_metadata(tmp_path / "r.jpg").exif)[_ORIENTATION] == 1
    assert read_image(tmp_path / "r.png").shape[:2] == (6, 10)  # not rotated: orientation 6 still true
    assert _parse_exif(read_metadata(tmp_path / "r.png").exif)[_ORIENTATION] == 6


def _exif_block(order: str, typ: int, orientation: int, dims: tuple[int, int]) -> bytes:
    """EXIF with an orientation of TIFF type ``typ`` (3 SHORT, 4 LONG) and an Exif sub-IFD giving
    PixelXDimension / PixelYDimension ``dims``."""
    o = "<" if order == "II" else ">"
    value = struct.pack(o + "HH", orientation, 0) if typ == 3 else struct.pack(o + "I", orientation)
    ifd0 = (struct.pack(o + "H", 2) + struct.pack(o + "HHI", _ORIENTATION, typ, 1) + value
            + struct.pack(o + "HHII", 0x8769, 4, 1, 8 + 2 + 24 + 4) + struct.pack(o + "I", 0))
    sub = (struct.pack(o + "H", 2) + struct.pack(o + "HHII", 0xA002, 4, 1, dims[0])
           + struct.pack(o + "HHII", 0xA003, 4, 1, dims[1]) + struct.pack(o + "I", 0))
    return b"Exif\0\0" + (b"II*\0" if order == "II" else b"MM\0*") + struct.pack(o + "I", 8) + ifd0 + sub


@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("typ", [3, 4])
def test_jpeg_turned_by_every_exif_orientation_as_viewers_do(tmp_path: Path, order: str, typ: int) -> None:
    from PIL import ImageOps

    from cvdenoise.io import exif_orientation

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20, :30], stored[:20, 30:], stored[20:, :10] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.jpg"
        Image.fromarray(stored).save(path, quality=100, exif=_exif_block(order, typ, orientation, (60, 40)))
        shown = np.asarray(ImageOps.exif_transpose(Image.open(path)))[..., ::-1]  # what a viewer shows, BGR
        ours = read_image(path)
        assert ours.shape == shown.shape and np.abs(ours.astype(int) - shown).max() <= 2, orientation
        meta = read_metadata(path)
        assert exif_orientation(meta.exif) == 1  # the copy is stored upright: no second turn
        pixel_dims = Image.Exif()
        pixel_dims.load(b"Exif\0\0" + meta.exif)
        sub = pixel_dims.get_ifd(0x8769)
        assert (sub[0xA002], sub[0xA003]) == ((40, 60) if orientation >= 5 else (60, 40))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # (Pillow reading the damaged blocks)
def test_orientation_of_damaged_exif_is_still_applied(tmp_path: Path) -> None:
    from PIL import ImageOps

    good = _exif_block("II", 3, 6, (60, 40))
    broken = {
        "bad sub-IFD pointer": good[:6 + 8 + 2 + 12 + 8] + struct.pack("<I", 9999) + good[6 + 8 + 2 + 12 + 12:],
        "cut after IFD0's entries": good[: 6 + 8 + 2 + 24],
        "entry count too large": good[:6 + 8] + struct.pack("<H", 0xFFFF) + good[6 + 8 + 2:],
    }
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20] = 255
    for name, exif in broken.items():
        path = tmp_path / "o.jpg"
        Image.fromarray(stored).save(path, quality=100, exif=exif)
        shown = np.asarray(ImageOps.exif_transpose(Image.open(path)))[..., ::-1]
        ours = read_image(path)
        assert ours.shape == shown.shape == (60, 40, 3) and np.abs(ours.astype(int) - shown).max() <= 2, name


def test_16bit_png_keeps_pixels_and_icc(tmp_path: Path, srgb_icc: bytes) -> None:
    px = np.random.default_rng(6).integers(0, 65536, (21, 17, 3), dtype=np.uint16)
    png = cv2.imencode(".png", px)[1].tobytes()
    src = tmp_path / "in16.png"
    src.write_bytes(_png_with_chunk(png, b"iCCP", b"wide gamut\0\0" + zlib.compress(srgb_icc)))
    assert read_metadata(src).icc_profile == srgb_icc
    write_image(tmp_path / "out16.png", read_image(src), metadata=read_metadata(src))
    back = cv2.imread(str(tmp_path / "out16.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back, px)
    with Image.open(tmp_path / "out16.png") as im:
        assert im.info["icc_profile"] == srgb_icc


@pytest.mark.parametrize(
    ("name", "dtype", "quality"),
    [("l.webp", np.uint8, 101), ("q.webp", np.uint8, 90), ("rgb16.tif", np.uint16, 95), ("rgba.png", np.uint8, 95)],
)
def test_webp_tiff_png_get_icc_and_exif_without_touching_pixels(
    tmp_path: Path, srgb_icc: bytes, name: str, dtype: type, quality: int
) -> None:
    shape = (19, 23, 4 if "rgba" in name else 3)
    img = np.random.default_rng(7).integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    exif = Image.Exif()
    exif[_MAKE] = "TestCam"
    meta = ImageMetadata(icc_profile=srgb_icc, exif=exif.tobytes())
    write_image(tmp_path / ("plain_" + name), img, jpeg_quality=quality)
    write_image(tmp_path / name, img, jpeg_quality=quality, metadata=meta)
    plain, tagged = read_image(tmp_path / ("plain_" + name)), read_image(tmp_path / name)
    assert tagged.dtype == dtype and tagged.shape == img.shape and np.array_equal(tagged, plain)
    assert read_metadata(tmp_path / name).icc_profile == srgb_icc
    with Image.open(tmp_path / name) as im:
        assert im.info["icc_profile"] == srgb_icc
        if not name.endswith(".tif"):  # TIFF: ICC only
            assert im.getexif()[_MAKE] == "TestCam"


def test_broken_metadata_never_fails_a_file(tmp_path: Path, fast32: cvdenoise.Denoiser, srgb_icc: bytes) -> None:
    src = tmp_path / "in"
    src.mkdir()
    rgb = np.random.default_rng(8).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    truncated = b"Exif\0\0II*\0\x08\0\0\0\x05\0\x12\x01"  # IFD0 claims 5 entries, holds none
    Image.fromarray(rgb).save(src / "bad_exif.jpg", exif=truncated, icc_profile=srgb_icc)
    Image.fromarray(rgb).save(src / "junk_exif.jpg", exif=b"Exif\0\0not a TIFF header", icc_profile=srgb_icc)
    png = cv2.imencode(".png", rgb)[1].tobytes()
    (src / "bad_icc.png").write_bytes(_png_with_chunk(png, b"iCCP", b"x\0\0 not zlib data"))
    assert read_metadata(src / "bad_exif.jpg") == ImageMetadata(icc_profile=srgb_icc)
    assert read_metadata(src / "junk_exif.jpg") == ImageMetadata(icc_profile=srgb_icc)
    assert read_metadata(src / "bad_icc.png") == ImageMetadata()
    report = denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    assert report.ok and sorted(p.name for p in report.written) == ["bad_exif.jpg", "bad_icc.png", "junk_exif.jpg"]
    for name in ("bad_exif.jpg", "junk_exif.jpg"):
        with Image.open(tmp_path / "out" / name) as im:
            assert im.info["icc_profile"] == srgb_icc and "exif" not in im.info
    assert read_image(tmp_path / "out" / "bad_icc.png").shape == (32, 40, 3)


def test_failed_metadata_splice_writes_the_image_without_it(
    tmp_path: Path, srgb_icc: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> bytes:
        raise struct.error("simulated splice failure")

    monkeypatch.setattr("cvdenoise.io.metadata._embed_png", broken)
    img = np.random.default_rng(9).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", img, metadata=ImageMetadata(icc_profile=srgb_icc))
    assert np.array_equal(read_image(tmp_path / "x.png"), img) and read_metadata(tmp_path / "x.png") == ImageMetadata()


@pytest.mark.parametrize("depth", [2, 8, 16])
def test_gray_png_trns_becomes_an_alpha_plane_kept_through_denoising(tmp_path: Path, depth: int, fast32: cvdenoise.Denoiser) -> None:
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    top = (1 << depth) - 1
    rng = np.random.default_rng(depth)
    vals = rng.integers(0, top + 1, (24, 32))
    key = int(vals[3, 4])
    if depth == 2:  # four samples a byte, first in the high bits
        raw = b"".join(b"\0" + bytes((r[0::4] << 6 | r[1::4] << 4 | r[2::4] << 2 | r[3::4]).astype(np.uint8)) for r in vals)
    else:
        raw = b"".join(b"\0" + r.astype(">u2" if depth == 16 else np.uint8).tobytes() for r in vals)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 24, depth, 0, 0, 0, 0))
           + chunk(b"tRNS", struct.pack(">H", key)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "g.png").write_bytes(png)
    img = read_image(tmp_path / "in" / "g.png")
    transparent = vals == key
    assert img.shape == (24, 32, 2) and img.dtype == (np.uint16 if depth == 16 else np.uint8)
    assert np.array_equal(img[..., 1] == 0, transparent) and (img[..., 1][~transparent] == np.iinfo(img.dtype).max).all()
    report = denoise_files(plan_jobs([tmp_path / "in"], tmp_path / "out"), fast32, progress=False)
    assert report.ok
    out = read_image(tmp_path / "out" / "g.png")  # written as gray + alpha: the mask is exact
    assert out.shape == img.shape and np.array_equal(out[..., 1], img[..., 1])
    assert np.abs(out[..., 0].astype(float) - img[..., 0]).mean() > 0  # the gray plane was denoised


def test_lossless_webp_stays_lossless(tmp_path: Path) -> None:
    from cvdenoise.io import read_metadata, write_image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    src = tmp_path / "in.webp"
    cv2.imwrite(str(src), img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # lossless
    meta = read_metadata(src)
    assert meta.lossless
    out = write_image(tmp_path / "out.webp", img, metadata=meta)
    assert np.array_equal(cv2.imread(str(out)), img) and b"VP8L" in out.read_bytes()[:64]
    lossy = write_image(tmp_path / "lossy.webp", img, metadata=read_metadata(tmp_path / "nothing.webp"))
    assert not read_metadata(lossy).lossless  # a lossy (or unknown) source keeps the quality setting


def test_out_of_range_float_tiff_gets_a_file_level_message(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    tifffile = pytest.importorskip("tifffile")
    (src := tmp_path / "in").mkdir()
    tifffile.imwrite(src / "hdr.tif", np.linspace(0, 4, 20 * 20, dtype=np.float32).reshape(20, 20))
    report = denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    [(_, why)] = report.failed
    assert why == ("ValueError: float images must be in [0, 1] (±0.001 for rounding); got values in [0, 4] "
                   "(HDR or linear data: scale it to [0, 1] first, or save it as 16-bit)")


def test_png_sbit_sets_the_scale_and_is_carried_over(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    from skimage import data

    clean = data.camera()[:96, :96].astype(np.float64) / 255 * 0.3  # a dim 12-bit frame: values below 2**11
    rng = np.random.default_rng(12)
    noisy = np.clip(np.rint((clean + rng.normal(0, 10 / 255, clean.shape)) * 4095), 0, 4095).astype(np.uint16)
    assert noisy.max() < 2**11
    (src := tmp_path / "in").mkdir()
    png = cv2.imencode(".png", noisy)[1].tobytes()
    (src / "dim12.png").write_bytes(_png_with_chunk(png, b"sBIT", bytes([12])))
    assert read_metadata(src / "dim12.png").significant_bits == 12
    assert denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False).ok
    out = read_image(tmp_path / "out" / "dim12.png")
    assert read_metadata(tmp_path / "out" / "dim12.png").significant_bits == 12

    def err(a: np.ndarray) -> float:
        return float(np.mean((a / 4095 - clean) ** 2))

    # the 12-bit scale, not the 11 bits its brightest value uses: the same result as at full range
    from cvdenoise.folder import _denoise_image

    assert np.array_equal(out, _denoise_image(noisy, fast32, 12)) and not np.array_equal(out, _denoise_image(noisy, fast32))
    assert err(out) < 0.5 * err(noisy)


def test_tiled_tiff_with_a_16_times_odd_tile_size_is_read(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    img = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    path = tmp_path / "tiled48.tif"
    tifffile.imwrite(path, img, photometric="rgb", tile=(48, 48))  # OpenCV's imdecode refused it
    np.testing.assert_array_equal(read_image(path), img[..., ::-1])


def test_write_image_refuses_alpha_in_a_jpeg(tmp_path: Path) -> None:
    from cvdenoise.io import ImageWriteError, write_image

    rgba = np.zeros((8, 8, 4), np.uint8)
    with pytest.raises(ImageWriteError, match="alpha channel, which a .jpg file cannot hold"):
        write_image(tmp_path / "a.jpg", rgba)
    assert not list(tmp_path.iterdir())
    assert write_image(tmp_path / "a.png", rgba).is_file()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_tiff_with_separate_colour_planes_reads_like_a_contiguous_one(tmp_path: Path, clean_rgb: np.ndarray,
                                                                      dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV scrambles 16-bit/float TIFFs stored plane by plane (PlanarConfiguration 2), without an error."""
    tifffile = pytest.importorskip("tifffile")
    rgb = (clean_rgb[:64, :80].astype(np.float64) * (257 if dtype == np.uint16 else 1 / 255)).astype(dtype)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "chunky.tif", rgb, photometric="rgb")
    got = read_image(tmp_path / "planar.tif")
    assert got.dtype == dtype and np.array_equal(got, read_image(tmp_path / "chunky.tif"))
    assert np.array_equal(got[..., ::-1], rgb)  # BGR, as OpenCV gives every other image
    monkeypatch.setitem(sys.modules, "tifffile", None)  # without tifffile: refused, not scrambled
    with pytest.raises(ImageReadError, match="separate colour planes.*pip install tifffile"):
        read_image(tmp_path / "planar.tif")


def test_rgba_tiff_with_unassociated_alpha_keeps_its_colours(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """OpenCV's libtiff RGBA path multiplies an 8-bit RGBA TIFF's colours by alpha (Pillow, GIMP and
    Photoshop write such files): the copy came out darkened where alpha < 255."""
    rgba = np.dstack([clean_rgb[:48, :64], np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))])
    Image.fromarray(rgba).save(tmp_path / "lzw.tif", compression="tiff_lzw")  # ExtraSamples = 2
    got = read_image(tmp_path / "lzw.tif")
    assert np.array_equal(got[..., [2, 1, 0, 3]], rgba)
    assert read_metadata(tmp_path / "lzw.tif").tiff_alpha == 2
    write_image(tmp_path / "out.tif", got, metadata=read_metadata(tmp_path / "lzw.tif"))
    with Image.open(tmp_path / "out.tif") as im:  # the fourth sample is named alpha, unassociated
        assert im.mode == "RGBA" and tuple(np.atleast_1d(im.tag_v2[338])) == (2,)
        assert np.array_equal(np.asarray(im), rgba)
    assert np.array_equal(read_image(tmp_path / "out.tif"), got)
    write_image(tmp_path / "plain.tif", got)  # no source metadata: unassociated alpha too
    assert read_metadata(tmp_path / "plain.tif").tiff_alpha == 2


def test_rgba_tiff_read_leaves_pillows_bomb_limit_alone(
    tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading an unassociated-alpha TIFF through ``Image.open`` meant switching Pillow's module-wide
    decompression-bomb limit off for a while, whatever its size: every other thread of the process
    lost it then. Now only an image over that limit lifts it (and puts it back)."""
    rgba = np.dstack([clean_rgb[:40, :56], np.full((40, 56), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.tif")
    from PIL import TiffImagePlugin

    opened: list[object] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    limits: list[object] = []  # Pillow's limit as the decoder ran: what every other thread saw then
    real_load = TiffImagePlugin.TiffImageFile.load
    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "load",
                        lambda self: limits.append(Image.MAX_IMAGE_PIXELS) or real_load(self))
    got = read_image(tmp_path / "a.tif")
    assert np.array_equal(got[..., [2, 1, 0, 3]], rgba)
    assert opened == [] and limits and None not in limits
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # smaller than the image: cvdenoise's own limit rules
    assert np.array_equal(read_image(tmp_path / "a.tif"), got)
    assert opened == [] and Image.MAX_IMAGE_PIXELS == 1000


def test_associated_alpha_tiff_is_read_as_stored_and_stays_associated(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    rgba = np.random.default_rng(5).integers(0, 256, (24, 32, 4), dtype=np.uint8)
    rgba[..., :3] = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)  # premultiplied
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["assocalpha"])
    got = read_image(tmp_path / "a.tif")
    assert np.array_equal(got[..., [2, 1, 0, 3]], rgba)
    meta = read_metadata(tmp_path / "a.tif")
    assert meta.tiff_alpha == 1
    write_image(tmp_path / "out.tif", got, metadata=meta)
    assert read_metadata(tmp_path / "out.tif").tiff_alpha == 1 and np.array_equal(read_image(tmp_path / "out.tif"), got)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiffs_read_by_tifffile_are_turned_upright_like_opencv_turns_the_rest(tmp_path: Path, orientation: int) -> None:
    tifffile = pytest.importorskip("tifffile")
    from cvdenoise.io import orient

    rng = np.random.default_rng(orientation)
    rgb16 = rng.integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    tag = [(274, 3, 1, orientation, True)]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb16, -1, 0), photometric="rgb", planarconfig="separate", extratags=tag)
    tifffile.imwrite(tmp_path / "chunky.tif", rgb16, photometric="rgb", extratags=tag)
    upright = orient(rgb16, orientation)[..., ::-1]
    assert np.array_equal(read_image(tmp_path / "chunky.tif"), upright)  # OpenCV's own path
    assert np.array_equal(read_image(tmp_path / "planar.tif"), upright)
    rgba = rng.integers(0, 256, (24, 40, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"], extratags=tag,
                     compression="zlib")
    assert np.array_equal(read_image(tmp_path / "rgba.tif"), orient(rgba, orientation)[..., [2, 1, 0, 3]])


def test_gif_is_written_with_a_fitted_palette_and_its_transparency(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """OpenCV's GIF encoder lost ~12 dB on a clean photo (a denoised GIF came out worse than its input)."""
    bgr = np.ascontiguousarray(clean_rgb[:96, :128, ::-1])
    write_image(tmp_path / "c.gif", bgr)
    back = read_image(tmp_path / "c.gif")
    mse = np.mean((back[..., :3].astype(np.float64) - bgr) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
    bgra = np.dstack([bgr, np.where(np.arange(128) < 64, 0, 255).astype(np.uint8)[None].repeat(96, 0)])
    write_image(tmp_path / "t.gif", bgra)
    back = read_image(tmp_path / "t.gif")
    assert back.shape == (96, 128, 4) and np.array_equal(back[..., 3], bgra[..., 3])
    gray = bgr[..., 1].copy()
    write_image(tmp_path / "g.gif", gray)
    assert np.array_equal(read_image(tmp_path / "g.gif")[..., 0], gray)  # 256 grays: exact
    with pytest.raises(ImageWriteError, match="holds uint8"):
        write_image(tmp_path / "w.gif", gray.astype(np.uint16))


def test_exif_thumbnail_is_dropped_when_the_image_is_turned_upright(tmp_path: Path) -> None:
    """A camera JPEG's IFD1 thumbnail is stored like the main image: after read_image turns the
    image upright, a kept thumbnail would show sideways in viewers that use it."""
    buf = __import__("io").BytesIO()
    Image.new("RGB", (16, 12), "red").save(buf, "JPEG")
    thumb = buf.getvalue()

    def exif(orientation: int) -> bytes:  # IFD0 (orientation) → IFD1 (the JPEG thumbnail) → thumbnail bytes
        ifd0 = struct.pack("<HHHIHHI", 1, _ORIENTATION, 3, 1, orientation, 0, 26)
        ifd1 = struct.pack("<HHHIIHHIII", 2, 0x0201, 4, 1, 56, 0x0202, 4, 1, len(thumb), 0)
        return b"II*\0" + struct.pack("<I", 8) + ifd0 + ifd1 + thumb

    stored = np.zeros((12, 16, 3), np.uint8)
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=b"Exif\0\0" + exif(6))
    Image.fromarray(stored).save(tmp_path / "u.jpg", exif=b"Exif\0\0" + exif(1))
    assert _next_ifd(exif(6)) == 26
    turned, kept = (read_metadata(tmp_path / n).exif for n in ("r.jpg", "u.jpg"))
    assert turned is not None and kept is not None
    assert _next_ifd(turned) == 0  # the thumbnail, stored the old way round, is unlinked
    assert _next_ifd(kept) == 26  # an upright source keeps its thumbnail


def _next_ifd(exif: bytes) -> int:
    o = "<" if exif[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(o + "I", exif, 4)
    (n,) = struct.unpack_from(o + "H", exif, ifd0)
    return struct.unpack_from(o + "I", exif, ifd0 + 2 + 12 * n)[0]


def test_float16_tiff_and_uint16_avif_output_are_named(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "h.tif", np.full((8, 8, 3), 0.5, np.float16), photometric="rgb")
    with pytest.raises(ImageReadError, match="float16 samples.*float32"):  # was "corrupt or unsupported format"
        read_image(tmp_path / "h.tif")
    with pytest.raises(ImageWriteError, match=r"\.avif file holds uint8"):  # refused before the work, not after
        write_image(tmp_path / "a.avif", np.zeros((8, 8, 3), np.uint16))


# ---------------------------------------------------------------------- hostile files
def test_a_file_declaring_a_gigapixel_image_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 35-byte GIF or a 631-byte JPEG declaring 32767² pixels decoded to 3 GB (8 GB peak)."""
    gif = b"GIF89a" + struct.pack("<HHBBB", 32767, 32767, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00\x3b"
    (tmp_path / "bomb.gif").write_bytes(gif)
    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    sof = jpeg.find(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, sof + 5, 32768, 32768)
    (tmp_path / "bomb.jpg").write_bytes(bytes(jpeg))
    for name in ("bomb.gif", "bomb.jpg"):
        with pytest.raises(ImageReadError, match=r"declares .* M pixels, over the limit of 268 M .*CVDENOISE_MAX_PIXELS"):
            read_image(tmp_path / name)
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((40, 50), np.uint8))
    monkeypatch.setenv("CVDENOISE_MAX_PIXELS", "1999")
    with pytest.raises(ImageReadError, match="declares 50 × 40"):
        read_image(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png", max_pixels=0).shape == (40, 50)  # 0: no limit
    monkeypatch.setenv("CVDENOISE_MAX_PIXELS", "2000")
    assert read_image(tmp_path / "ok.png").shape == (40, 50)
    monkeypatch.setenv("CVDENOISE_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="CVDENOISE_MAX_PIXELS must be a whole number"):
        read_image(tmp_path / "ok.png")


def _count_ifd_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from cvdenoise.io import _containers, _tiff, metadata

    calls: list[int] = []
    real = _containers._tiff_ifd

    def counting(*args: object, **kwargs: object):  # noqa: ANN202
        entries, nxt = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(len(entries))
        return entries, nxt

    for module in (_containers, _tiff, metadata):  # every module that walks IFDs
        monkeypatch.setattr(module, "_tiff_ifd", counting)
    return calls


def test_exif_with_thousands_of_sub_ifd_pointers_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Exif-pointer entry re-read the sub-IFD: a 64 KB JPEG took minutes (quadratic)."""
    n = 3000
    exif = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", n) + struct.pack("<HHII", 0x8769, 4, 1, 8) * n + b"\0\0\0\0"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.jpg", exif=b"Exif\0\0" + exif)
    calls = _count_ifd_reads(monkeypatch)
    read_metadata(tmp_path / "x.jpg")
    read_image(tmp_path / "x.jpg")
    assert 1 <= len(calls) <= 12  # a handful of IFD reads, not one per pointer


def test_a_chain_of_huge_overlapping_tiff_ifds_is_walked_within_a_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Overlapping IFDs of 65535 entries each, chained: counting pages took over an hour."""
    from cvdenoise.io import _containers as io_module

    k, c = 400, 20000
    buf = bytearray(b"\x01" * (10 + 12 * c + 4 * k + 16))
    buf[0:8] = b"II*\0" + struct.pack("<I", 8)
    for i in range(k):
        struct.pack_into("<H", buf, 8 + 4 * i, c)
    for i in range(k):
        struct.pack_into("<I", buf, 8 + 4 * i + 2 + 12 * c, 8 + 4 * (i + 1) if i + 1 < k else 0)
    calls = _count_ifd_reads(monkeypatch)
    assert io_module._tiff_pages(bytes(buf)) > 1  # still refused as several pages
    assert 0 < sum(calls) <= io_module._IFD_ENTRY_BUDGET + c


def test_a_png_colour_profile_that_inflates_to_gigabytes_is_dropped(tmp_path: Path) -> None:
    png = bytearray(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    profile = bytearray(40 << 20)  # an "ICC profile" of 40 MB (acsp signature), ~40 KB compressed
    profile[36:40] = b"acsp"
    body = b"icc\0\0" + zlib.compress(bytes(profile), 9)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    (tmp_path / "icc.png").write_bytes(bytes(png[:33]) + chunk + bytes(png[33:]))
    assert read_metadata(tmp_path / "icc.png").icc_profile is None


def test_a_malformed_png_colour_profile_costs_only_itself(tmp_path: Path) -> None:
    """An iCCP chunk that does not inflate ended the whole metadata walk: the pHYs, eXIf and sBIT
    after it were dropped too."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    phys = chunk(b"pHYs", struct.pack(">IIB", 3780, 3780, 1))
    for name, first in (("ok.png", b""), ("bad.png", chunk(b"iCCP", b"icc\0\0" + b"not zlib at all"))):
        (tmp_path / name).write_bytes(png[:33] + first + phys + chunk(b"sBIT", b"\x05") + png[33:])
    meta = read_metadata(tmp_path / "bad.png")
    assert meta.icc_profile is None
    assert meta.png_chunks == read_metadata(tmp_path / "ok.png").png_chunks != ()
    assert meta.png_sbit is not None


def test_the_pixel_limit_reads_the_header_itself_and_checks_what_it_cannot_read(tmp_path: Path) -> None:
    """Pillow, which read the declared size, gives up on chunks OpenCV takes (a bad CRC, a large ICC
    profile): the limit was skipped and the image decoded."""
    png = bytearray(cv2.imencode(".png", np.zeros((40, 50), np.uint8))[1].tobytes())
    bad = struct.pack(">I", 4) + b"tEXt" + b"a\0bc" + b"\0\0\0\0"  # wrong CRC: libpng warns, Pillow refuses
    (tmp_path / "crc.png").write_bytes(bytes(png[:33]) + bad + bytes(png[33:]))
    with pytest.raises(ImageReadError, match="declares 50 × 40 = 2000 pixels, over the limit of 1999"):
        read_image(tmp_path / "crc.png", max_pixels=1999)
    assert read_image(tmp_path / "crc.png", max_pixels=2000).shape == (40, 50)
    with pytest.raises(ValueError, match="max_pixels must be a whole number"):
        read_image(tmp_path / "crc.png", max_pixels=-1)


def test_review_mends_of_the_readers(tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    import PIL.Image

    from cvdenoise.io import _containers as io_module

    # a PNG ICC profile cut short is left out, not carried half
    profile = bytearray(600_000)
    profile[36:40] = b"acsp"
    packed = zlib.compress(bytes(profile), 9)
    png = bytearray(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    body = b"icc\0\0" + packed[: len(packed) // 2]
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    (tmp_path / "cut.png").write_bytes(bytes(png[:33]) + chunk + bytes(png[33:]))
    assert read_metadata(tmp_path / "cut.png").icc_profile is None
    # a BigTIFF IFD claiming 2^40 entries is damaged (it was walked entry by entry to the file's end)
    big = bytearray(b"II+\0\x08\0\0\0" + struct.pack("<Q", 16) + struct.pack("<Q", 1 << 40) + b"\x01" * 4000)
    with pytest.raises(struct.error, match="claims"):
        io_module._tiff_ifd(bytes(big), "<", 16, big=True)
    # gray content in three planes is written on exact grays
    gray = clean_rgb[:64, :64, 1].copy()
    write_image(tmp_path / "g.gif", np.dstack([gray] * 3))
    assert np.array_equal(read_image(tmp_path / "g.gif")[..., 0], gray)
    # an RGBA TIFF over Pillow's own decompression-bomb limit still reads (cvdenoise's limit applies)
    rgba = np.dstack([clean_rgb[:40, :50], np.full((40, 50), 128, np.uint8)])
    PIL.Image.fromarray(rgba).save(tmp_path / "u.tif", compression="tiff_lzw")
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 500)
    assert np.array_equal(read_image(tmp_path / "u.tif")[..., [2, 1, 0, 3]], rgba)
    assert PIL.Image.MAX_IMAGE_PIXELS == 500  # put back


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_ctrl_c_just_after_a_copy_is_renamed_still_records_it(tmp_path: Path, fast32: cvdenoise.Denoiser,
                                                                monkeypatch: pytest.MonkeyPatch, python_sigint: None) -> None:
    """A Ctrl-C between an output's rename and its record line left a copy every later run refused."""
    import os

    from cvdenoise.folder import OutputRecords

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"t{i}.png"), np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    sigint_after(monkeypatch, os, "replace", 2)  # the second copy is in place when the interrupt arrives
    with pytest.raises(KeyboardInterrupt):
        denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    monkeypatch.undo()
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert written == ["t0.png", "t1.png"]
    assert all(OutputRecords().ours(tmp_path / "out" / n) for n in written)  # a re-run replaces them freely
    assert denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False).ok


def test_output_records_say_which_paths_a_run_may_replace(tmp_path: Path, fast32: cvdenoise.Denoiser) -> None:
    from cvdenoise.folder import OutputRecords

    src = tmp_path / "a.png"
    cv2.imwrite(str(src), np.full((16, 16, 3), 90, np.uint8))
    denoise_files(plan_jobs([src], tmp_path / "out"), fast32, progress=False)
    ours, theirs, nothing = tmp_path / "out" / "a.png", tmp_path / "out" / "b.png", tmp_path / "out" / "c.png"
    theirs.write_bytes(b"the user's")
    records = OutputRecords()
    assert records.replaceable(ours) and records.replaceable(nothing)
    assert not records.replaceable(theirs) and records.replaceable(theirs, overwrite=True)
    ours.write_bytes(b"changed by the user")  # (a new size: no longer the recorded version)
    assert not OutputRecords().replaceable(ours)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_ctrl_c_as_the_temporary_file_is_made_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      python_sigint: None) -> None:
    import tempfile

    from cvdenoise.io import atomic_write

    sigint_after(monkeypatch, tempfile, "mkstemp", 1)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.txt", lambda tmp: Path(tmp).write_text("x"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="process ids are probed with os.kill(pid, 0)")
def test_a_killed_runs_temporary_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """kill -9 runs no cleanup: the temporary files it left beside its outputs go with the next
    write of the same kind into that folder (an image of that format, that video) once they have
    been untouched for a while; a live process's, a recent one's (perhaps a live writer in another
    container of the same host name), another machine's and the user's own files stay."""
    import subprocess
    import time

    from cvdenoise import _fs
    from cvdenoise.io import atomic_path, atomic_write

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _fs._host()
    left = tmp_path / f".cvdenoise-{host}-{dead.pid}.ab12cd_x.png"
    clip = tmp_path / f".clip.{host}-{dead.pid}.zz9yy8xx.partial.mp4"
    live = tmp_path / f".cvdenoise-{host}-{os.getppid()}.abcdefgh.png"  # (our parent runs)
    other = tmp_path / f".cvdenoise-another_host-{dead.pid}.abcdefgh.png"
    huge = tmp_path / f".cvdenoise-{host}-9999999999.abcdefgh.png"  # (no such process id: os.kill overflows)
    users = [tmp_path / f".cvdenoise-{host}-{dead.pid}.notours.png", tmp_path / "a.png",
             tmp_path / f".cvdenoise-{host}-{dead.pid}.abcdefgh.jpg"]  # (another suffix: not this write's)
    old = time.time() - _fs.STALE_AFTER - 60
    for f in (left, clip, live, other, huge, *users):
        f.write_bytes(b"x")
        os.utime(f, (old, old))
    recent = tmp_path / f".cvdenoise-{host}-{dead.pid}.recent__.png"
    recent.write_bytes(b"x")
    atomic_write(tmp_path / "b.png", lambda tmp: Path(tmp).write_bytes(b"new"))
    assert not left.exists() and clip.exists()  # (a video's leftovers go with the next write of that video)
    assert live.exists() and other.exists() and huge.exists() and recent.exists() and all(f.exists() for f in users)
    with atomic_path(tmp_path / "clip.mp4", prefix=".clip.", suffix=".partial.mp4") as tmp:
        m = _fs.temp_name_pattern(".clip.", ".partial.mp4").match(Path(tmp).name)  # (mkstemp's names, as the sweep reads them)
        assert m is not None and int(m.group(1)) == os.getpid()
        Path(tmp).write_bytes(b"video")
    assert not clip.exists() and (tmp_path / "clip.mp4").read_bytes() == b"video"
    assert len(_fs._host()) <= 16


def test_atomic_path_stopped_removes_the_empty_folders_it_made_and_a_failure_keeps_them(tmp_path: Path) -> None:
    """A video or detect run stopped by Ctrl-C/SIGTERM left the output folders it had made, empty."""
    from cvdenoise.io import atomic_path

    (tmp_path / "there").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "there" / "a" / "b" / "clip.mp4") as tmp:
            Path(tmp).write_bytes(b"half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["there"] and not any((tmp_path / "there").iterdir())
    with pytest.raises(OSError):
        with atomic_path(tmp_path / "x" / "clip.mp4"):
            raise OSError("disk full")
    assert (tmp_path / "x").is_dir() and not any((tmp_path / "x").iterdir())  # (an error, not a stop: as before)
    (tmp_path / "y").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "y" / "z" / "clip.mp4"):
            (tmp_path / "y" / "z" / "other.png").write_bytes(b"another writer's")
            raise KeyboardInterrupt
    assert (tmp_path / "y" / "z" / "other.png").exists()  # a folder with something in it stays


def test_two_runs_recording_one_copy_in_either_order_both_count(tmp_path: Path) -> None:
    """Two runs writing the same copy at once can append their lines out of order: every recorded
    version of a file counts as cvdenoise's (only the last one did)."""
    import json
    import os

    from cvdenoise.folder import OUTPUT_MARKER, OutputRecords

    f = tmp_path / "a.png"
    f.write_bytes(b"x" * 10)
    st = os.stat(f)
    lines = [["a.png", st.st_size, st.st_mtime_ns], ["a.png", st.st_size, st.st_mtime_ns - 5]]  # the current one first
    (tmp_path / OUTPUT_MARKER).write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert OutputRecords().ours(f)
    f.write_bytes(b"y" * 11)  # changed since by someone else: not ours
    assert not OutputRecords().ours(f)


def test_a_file_of_a_format_opencv_cannot_decode_is_named_by_its_format(tmp_path: Path) -> None:
    """An .ico (or a HEIC photo renamed .jpg) was refused as "corrupt or unsupported format"."""
    ico = tmp_path / "icon.ico"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(ico)
    with pytest.raises(ImageReadError, match=r"icon.ico: cannot decode image \(ICO, a format cvdenoise does not read: convert"):
        read_image(ico)
    heic = tmp_path / "phone.jpg"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(ImageReadError, match=r"\(HEIC, a format"):
        read_image(heic)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="corrupt or unsupported format"):
        read_image(junk)
    # a damaged file of such a format that this OpenCV does read (JPEG 2000 with OpenJPEG) is damaged, not unsupported
    broken = tmp_path / "scan.jp2"
    broken.write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(65))
    if not cv2.haveImageReader(str(broken)):
        pytest.skip("this OpenCV reads no JPEG 2000")
    with pytest.raises(ImageReadError, match=r"scan.jp2: cannot decode image \(truncated or corrupt JPEG 2000\)"):
        read_image(broken)


def test_the_output_records_drop_stale_lines_once_they_pile_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every re-run added a line per copy to ``.cvdenoise-output`` (a nightly run over 10 000
    files: millions of lines, all read by each run); stale lines are now dropped."""
    import os

    from cvdenoise import folder
    from cvdenoise.folder import OUTPUT_MARKER, OutputRecords

    monkeypatch.setattr(folder, "_COMPACT_AFTER", 20, raising=False)
    names = [f"c{i}.png" for i in range(5)]
    marker = tmp_path / OUTPUT_MARKER
    for run in range(30):  # 30 re-runs, each writing every copy anew (a new version each time)
        records = OutputRecords()
        for n in names:
            (tmp_path / n).write_bytes(b"x" * (run + 1))
            os.utime(tmp_path / n, ns=(run * 10**9, run * 10**9))
            records.record(marker, tmp_path / n)
        if run == 3:
            with open(marker, "a", encoding="utf-8") as f:
                f.write("my note, edited by hand\n")
            (tmp_path / "gone.png").write_bytes(b"g")
            records.record(marker, tmp_path / "gone.png")
            (tmp_path / "gone.png").unlink()
    lines = marker.read_text().splitlines()
    assert len(lines) <= 2 + 2 * len(names) + 20 + len(names)  # head, the hand-written line, live + at most the threshold
    assert lines[0].startswith("#") and "my note, edited by hand" in lines
    assert not any("gone.png" in line for line in lines)
    assert all(OutputRecords().ours(tmp_path / n) for n in names)


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_run_waiting_to_record_writes_into_the_rewritten_record_file(tmp_path: Path) -> None:
    """Runs recording into one folder at once: one rewrites ``.cvdenoise-output`` (dropping stale
    lines) while another waits to append; the waiting one's line must land in the new file (on
    the replaced file it was lost, and its copy refused by every later run)."""
    import os
    import threading
    import time

    from cvdenoise._fs import locked_for_append

    marker = tmp_path / ".cvdenoise-output"

    def other_run() -> None:
        with locked_for_append(marker) as g:
            g.write(b"b\n")

    with locked_for_append(marker) as f:
        f.write(b"a\n")
        f.flush()
        waiting = threading.Thread(target=other_run)
        waiting.start()
        time.sleep(0.3)  # (it now waits for the lock, on the file about to be replaced)
        assert marker.read_bytes() == b"a\n"  # (it has not appended past the lock)
        (tmp_path / "new").write_bytes(b"rewritten\n")
        os.replace(tmp_path / "new", marker)
    waiting.join(timeout=30)
    assert marker.read_bytes() == b"rewritten\nb\n"


def test_a_tiff_of_more_than_four_samples_is_named_as_such(tmp_path: Path) -> None:
    """A valid RGB + alpha + mask TIFF was "corrupt or unsupported format" (and OpenCV logged errors)."""
    tifffile = pytest.importorskip("tifffile")
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    alpha = np.full((16, 16), 255, np.uint8)
    tifffile.imwrite(tmp_path / "five.tif", np.dstack([rgb, alpha, alpha]), photometric="rgb", extrasamples=[2, 0])
    with pytest.raises(ImageReadError, match="a TIFF with 5 samples per pixel.*gray, RGB and RGBA"):
        read_image(tmp_path / "five.tif")


def test_12_bit_data_is_rescaled_without_full_size_float64_temporaries() -> None:
    """A 12-bit 8000×6000 TIFF made 2 GB of float64 temporaries around the model (its scaling, then its
    requantisation); now in place and in bands of rows, with the same output."""
    import tracemalloc

    from cvdenoise.folder import _denoise_image

    img = np.random.default_rng(0).integers(0, 4096, (1000, 1500, 3)).astype(np.uint16)

    def model(x: np.ndarray, channel_order: str) -> np.ndarray:  # (a stand-in: the model's own memory apart)
        return x * np.float32(0.5)

    tracemalloc.start()
    out = _denoise_image(img, model, 12, None)  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    expected = np.rint(np.minimum(img / 4095.0, 1.0).astype(np.float32) * np.float32(0.5) * 4095.0).astype(np.uint16)
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert peak < 3 * img.size * 4, peak / (img.size * 4)  # the float32 input, the model's output, the uint16 result (was 5×)
