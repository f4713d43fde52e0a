from __future__ import annotations

import argparse
import importlib.util
import copy
import os
import sys
import re
from typing import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import cvdenoise
from cvdenoise.cli import main
from cvdenoise.degrade import Degrader
from cvdenoise.noise import estimate_sigma, residual_sigma
from cvdenoise.video import FrameFilter, ImageNotVideoError, VideoReadError, read_video

from helpers import add_noise, disk_full_writer, mjpeg_avi, psnr, sigint_after


@pytest.fixture(scope="module")
def ff() -> FrameFilter:
    return FrameFilter("fast")


def test_bgr_and_gray_frames(ff: FrameFilter, clean_rgb: np.ndarray, clean_gray: np.ndarray) -> None:
    bgr = cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2BGR)
    noisy = add_noise(bgr, 25)
    out = ff(noisy)
    assert out.shape == bgr.shape and out.dtype == np.uint8
    assert psnr(out, bgr) > psnr(noisy, bgr) + 3
    # BGR order respected: same as the RGB path of the Denoiser, flipped
    ref = ff.denoiser(np.ascontiguousarray(noisy[..., ::-1]), channel_order="rgb")[..., ::-1]
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    g = add_noise(clean_gray, 25)
    og = ff(g)
    assert og.shape == g.shape and og.dtype == np.uint8 and psnr(og, clean_gray) > psnr(g, clean_gray) + 3


def test_stream_matches_single(ff: FrameFilter, clean_rgb: np.ndarray) -> None:
    frames = [add_noise(clean_rgb, 20, seed=i) for i in range(5)] + [add_noise(clean_rgb[:100], 20)]
    streamed = list(ff.stream(iter(frames), batch_size=3))
    assert len(streamed) == len(frames)
    for f, s in zip(frames, streamed):
        assert np.abs(ff(f).astype(int) - s.astype(int)).max() <= 1
        assert s.flags.owndata or s.base is None or s.base.nbytes == s.nbytes  # no whole batch kept alive by one frame


def test_stream_takes_a_reader_that_refills_one_array(ff: FrameFilter, clean_rgb: np.ndarray) -> None:
    """``cap.read(buf)`` and camera SDKs fill one array for every frame: the batch held references,
    so every frame of it came back as the batch's last frame, denoised (8-12 dB)."""
    frames = [add_noise(np.roll(clean_rgb, 9 * k, axis=1), 20, seed=k) for k in range(4)]

    def reader() -> Iterator[np.ndarray]:
        buf = np.empty_like(frames[0])
        for f in frames:
            buf[...] = f
            yield buf

    streamed = [o.copy() for o in ff.stream(reader(), batch_size=4)]
    for f, s in zip(frames, streamed, strict=True):
        assert np.abs(ff(f).astype(int) - s.astype(int)).max() <= 1


def test_stream_yields_the_good_frames_before_a_bad_one(ff: FrameFilter, clean_rgb: np.ndarray) -> None:
    """A failed read (``None``) inside a batch lost the good frames before it."""
    good = add_noise(clean_rgb, 20)
    got: list[np.ndarray] = []
    with pytest.raises(TypeError, match="check its ok flag"):
        for o in ff.stream(iter([good, good, None, good]), batch_size=4):
            got.append(o)
    assert len(got) == 2


def test_stream_yields_the_frames_read_before_the_reader_fails(ff: FrameFilter, clean_rgb: np.ndarray) -> None:
    """A reader that raises (a camera disconnecting) lost the frames of its unfinished batch."""
    good = add_noise(clean_rgb, 20)

    def camera() -> Iterator[np.ndarray]:
        for _ in range(6):
            yield good
        raise OSError("camera disconnected")

    got: list[np.ndarray] = []
    with pytest.raises(OSError, match="camera disconnected"):
        for o in ff.stream(camera(), batch_size=4):
            got.append(o)
    assert len(got) == 6 and np.array_equal(got[5], got[0])


def test_a_gated_clean_frame_with_stuck_pixels_counts_them_and_is_not_called_unchanged(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate passed such frames at strength 0 but replaced their impulses, and the summary said
    they passed through unchanged."""
    bgr = cv2.cvtColor(clean_rgb[:96, :128], cv2.COLOR_RGB2BGR)
    spots = bgr.copy()
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(4, 92, 12), rng.integers(4, 124, 12)
    spots[ys[:6], xs[:6]], spots[ys[6:], xs[6:]] = 0, 255
    gated = FrameFilter("fast", gate=True)
    out = gated(spots)
    info = gated.info
    assert info is not None and info.strength == 0.0 and info.impulses > 0
    assert not np.array_equal(out, spots)
    clean_out = gated(bgr)
    assert gated.info is not None and gated.info.impulses == 0 and np.array_equal(clean_out, bgr)
    src = tmp_path / "in.mkv"  # lossless, so the stuck pixels reach the filter as they are
    wr = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (128, 96))
    assert wr.isOpened()
    for _ in range(3):
        wr.write(spots)
    wr.release()
    report = tmp_path / "r.csv"
    assert main(["video", str(src), "-o", str(tmp_path / "o.mkv"), "--codec", "ffv1", "--gate", "--report", str(report), "-q"]) == 0
    said = capsys.readouterr().out
    assert "0 frame(s) passed through unchanged, 3 with only their impulse pixels (salt-and-pepper) replaced" in said, said
    assert all(int(r.split(",")[4]) > 0 for r in report.read_text().splitlines()[1:])


def test_gray16_frames(ff: FrameFilter, clean_gray: np.ndarray) -> None:
    clean16 = clean_gray.astype(np.uint16) * 257
    noisy = add_noise(clean16, 20)
    gated = FrameFilter(denoiser=ff.denoiser, gate=True)
    out = gated(noisy)
    assert out.dtype == np.uint16 and out.shape == noisy.shape
    assert psnr(out, clean16, 65535.0) > psnr(noisy, clean16, 65535.0) + 3
    assert gated.info is not None and gated.info.sigma > 10


def test_bad_frames(ff: FrameFilter) -> None:
    with pytest.raises(TypeError, match="uint8"):
        ff(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape.*COLOR_BGRA2BGR"):  # BGRA: how to convert it
        ff(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(TypeError, match="big-endian uint16: frame.astype"):  # it said "use Denoiser for floats"
        ff(np.zeros((8, 8, 3), ">u2"))
    with pytest.raises(TypeError, match=r"got NoneType \(cap.read\(\) returns None"):
        ff(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got UMat \(umat.get\(\) gives its numpy array\)"):  # OpenCV's T-API
        ff(cv2.UMat(np.zeros((8, 8, 3), np.uint8)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"empty frame of shape \(0, 8, 3\)"):  # the caller's shape
        ff(np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="gate"):
        FrameFilter("fast", gate=(5, 1))


def test_noise_estimate_tracks_sigma(clean_rgb: np.ndarray) -> None:
    est = [estimate_sigma(add_noise(clean_rgb, s)) for s in (0, 5, 10, 25)]
    assert est == sorted(est)
    assert abs(est[2] - 10) < 2.5 and abs(est[3] - 25) < 4
    assert est[0] < 3


def test_gate_passes_clean_and_denoises_noisy(clean_rgb: np.ndarray) -> None:
    gated = FrameFilter("fast", gate=True)
    clean = cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2BGR)
    assert np.array_equal(gated(clean), clean)
    assert gated.info is not None and gated.info.strength == 0.0 and gated.info.sigma < 3
    noisy = add_noise(clean, 25)
    out = gated(noisy)
    assert gated.info.strength == 1.0 and gated.info.sigma > 15
    assert psnr(out, clean) > psnr(noisy, clean) + 3
    assert [i.index for i in gated.history] == [0, 1]


def test_residual_sigma() -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 0.8, (3, 64, 64)).astype(np.float32)
    noise = rng.normal(0, 10 / 255, clean.shape).astype(np.float32)
    assert abs(residual_sigma(torch.from_numpy(clean + noise), torch.from_numpy(clean)) - 10) < 0.5
    batch = torch.from_numpy(np.stack([clean + noise, clean + 2 * noise]))
    got = residual_sigma(batch, torch.from_numpy(np.stack([clean, clean])))
    assert got.shape == (2,) and abs(float(got[1]) - 20) < 1  # type: ignore[union-attr]
    u8 = (clean.transpose(1, 2, 0) * 255).astype(np.uint8)
    assert residual_sigma(u8, u8) == 0.0
    with pytest.raises(ValueError, match="shape"):
        residual_sigma(u8, u8[:32])


def test_noise_estimates_skip_clipped_pixels() -> None:
    """A mostly black frame (a night scene) keeps its noise where it is not clipped at 0: both
    estimates read that noise instead of the 0 the clipped majority would give, and the gate
    denoises the frame instead of passing it through as clean."""
    rng = np.random.default_rng(3)
    scene = np.zeros((128, 160, 3), np.float32)
    scene[40:80, 50:110] = np.linspace(0.3, 0.7, 60, dtype=np.float32)[None, :, None]  # one lit object, 12 %
    noisy = np.clip(scene + rng.normal(0, 12 / 255, scene.shape), 0, 1)
    u8 = (noisy * 255).round().astype(np.uint8)
    assert (u8 == 0).mean() > 0.4  # most of the frame is clipped black
    truth = (scene * 255).round().astype(np.uint8)
    # (counting the clipped pixels: 6.9 and 3.0; the black pixels left unclipped hold one-sided
    # noise, so the residual still reads low)
    assert abs(estimate_sigma(u8) - 12) < 3
    assert 6 < residual_sigma(u8, truth) < 14
    gated = FrameFilter("fast", gate=True)
    out = gated(u8)
    assert gated.info is not None and gated.info.strength > 0.4  # counting clipped pixels: 0.14
    assert psnr(out, truth) > psnr(u8, truth) + 2
    white = np.full((16, 16), 255, np.uint8)
    assert estimate_sigma(white) == 0.0 and residual_sigma(white, white) == 0.0  # nothing unclipped


def test_gate_reads_camera_noise(clean_rgb: np.ndarray) -> None:
    # demosaiced camera noise is correlated between neighbours: the wavelet estimate sees less
    # than half of it, the gate (what the model removes) most of it
    noisy = Degrader("camera")(clean_rgb, 0)
    true = float((noisy.astype(np.float64) - clean_rgb).std())
    assert true > 12 and estimate_sigma(noisy) < 0.5 * true
    gated = FrameFilter("fast", gate=True)
    out = gated(np.ascontiguousarray(noisy[..., ::-1]))[..., ::-1]
    assert gated.info is not None and gated.info.sigma > 0.6 * true and gated.info.strength == 1.0
    assert psnr(out, clean_rgb) > psnr(noisy, clean_rgb) + 3


def test_gate_reads_light_noise_on_gray_frames_as_white_noise() -> None:
    """The gray models remove less of light noise (σ 4 read ≈ 2.9): σ 4–5 gray frames passed the
    default gate untouched where colour frames got denoised (the audit: 1.7–3.3 dB below `auto`)."""
    from skimage import data

    clean = data.camera()[100:356, 100:356]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 5, clean.shape), 0, 255).round().astype(np.uint8)
    ff = FrameFilter("fast", gate=True, half=False)
    reading = ff.denoiser.gate_readings[1]  # the shipped gray twin's card
    out = ff(noisy)
    assert ff.info is not None and ff.info.sigma is not None and 4.5 < ff.info.sigma < 6.5
    raw = copy.copy(ff)
    raw.denoiser = cvdenoise.load("fast", half=False)
    raw.denoiser.gate_readings = {}  # as before: the residual read as σ
    as_is = raw(noisy)
    assert raw.info is not None and raw.info.sigma is not None and raw.info.sigma < 4.5
    assert ff.info.sigma == pytest.approx(reading.white_sigma(raw.info.sigma), abs=1e-3)
    assert ff.info.strength > raw.info.strength + 0.3
    assert psnr(out, clean) > psnr(as_is, clean) + 0.5 and psnr(out, clean) > psnr(noisy, clean) + 2
    assert np.array_equal(ff(clean), clean) and ff.info.strength == 0.0  # a clean frame still passes through
    assert 3 not in ff.denoiser.gate_readings  # colour frames: read as they are (0.9–1.06 of white noise's σ)


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 12.0) -> None:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(f)
    wr.release()


def test_video_cli_round_trip(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    bgr = cv2.cvtColor(clean_rgb[:128, :160], cv2.COLOR_RGB2BGR)
    frames = [add_noise(np.roll(bgr, i * 3, axis=1), 25, seed=i) for i in range(8)]
    src = tmp_path / "in.avi"
    _write_video(src, frames)
    before = src.read_bytes()
    out = tmp_path / "out" / "clean.mp4"
    report = tmp_path / "frames.csv"
    code = main(["video", str(src), "-o", str(out), "-q", "--gate", "3", "6", "--report", str(report)])
    assert code == 0, capsys.readouterr().err
    rows = report.read_text().splitlines()
    assert rows[0] == "frame,sigma,strength,ms,impulses" and len(rows) == 9
    assert all(float(r.split(",")[1]) > 10 and float(r.split(",")[2]) == 1.0 for r in rows[1:])
    assert "wrote 8 frames" in capsys.readouterr().out
    assert src.read_bytes() == before
    got, fps, size, count = read_video(out)
    got_frames = list(got)
    assert len(got_frames) == 8 and size == (160, 128) and abs(fps - 12.0) < 0.01
    # decoded output is smoother than the decoded input (lossy codecs on both sides)
    src_frames = list(read_video(src)[0])
    assert np.mean([estimate_sigma(f) for f in got_frames]) < 0.5 * np.mean([estimate_sigma(f) for f in src_frames])
    # a bare --gate is the default gate; a clean clip passes through it
    _write_video(src, [bgr] * 3)
    assert main(["video", str(src), "-o", str(out), "-q", "--gate", "--report", str(report)]) == 0
    assert "3 frame(s) passed through unchanged" in capsys.readouterr().out
    assert all(float(r.split(",")[2]) == 0.0 for r in report.read_text().splitlines()[1:])


@pytest.mark.parametrize("gray, suffix", [(False, ".mkv"), (True, ".avi")])
def test_ffv1_video_reads_back_exactly_the_filtered_frames(tmp_path: Path, ff: FrameFilter, clean_rgb: np.ndarray,
                                                           clean_gray: np.ndarray, gray: bool, suffix: str) -> None:
    from cvdenoise.video import denoise_video, video_writer

    clean = cv2.cvtColor(clean_gray[:48, :64], cv2.COLOR_GRAY2BGR) if gray else cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    src, out = tmp_path / "in.avi", tmp_path / f"out{suffix}"
    _write_video(src, [add_noise(clean, 20, seed=i) for i in range(3)])
    denoise_video(src, out, ff, batch_size=2, progress=False, codec="ffv1")
    expected = list(FrameFilter(denoiser=ff.denoiser).stream(read_video(src)[0], batch_size=2))
    got = list(read_video(out)[0])
    assert len(got) == 3 and all(np.array_equal(g, e) for g, e in zip(got, expected))  # lossless
    with video_writer(src, out, 10.0, (64, 48), codec="ffv1") as write:  # (H,W) gray frames: three equal planes
        for f in expected:
            write(f[..., 0])
    assert all(np.array_equal(g, cv2.cvtColor(e[..., 0], cv2.COLOR_GRAY2BGR)) for g, e in zip(read_video(out)[0], expected))


def test_a_frame_rate_the_mp4_writer_cannot_store_is_written_at_the_nearest_it_can(tmp_path: Path,
                                                                                   clean_rgb: np.ndarray) -> None:
    # OpenCV keeps 3 decimals of fps and MPEG-4 takes a numerator up to 65535: 119.881 (a 120-fps clip's average
    # frame rate) made the .mp4 writer fail to open, "this OpenCV build may lack the encoder"
    from cvdenoise.video import video_writer, writable_fps

    assert (writable_fps(119.881), writable_fps(66.001), writable_fps(239.871), writable_fps(12.5)) == (
        119.88, 66.0, 239.87, 12.5)
    assert writable_fps(0.001) == writable_fps(0.0002) == 0.0011  # (the writer refuses 0.001 itself)
    for bad in (float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match="cannot write a video at"):
            writable_fps(bad)
    frame = cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    src = tmp_path / "in.avi"
    _write_video(src, [frame] * 2)
    with video_writer(src, tmp_path / "o.mp4", 119.881, (64, 48)) as write:
        write(frame)
        write(frame)
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 2 and abs(cap.get(cv2.CAP_PROP_FPS) - 119.88) < 0.01
    cap.release()
    with pytest.warns(UserWarning, match=r"written at 0.001 fps; OpenCV's video writer cannot store the source's 0.00111 fps"):
        with video_writer(src, tmp_path / "t.avi", 0.00111, (64, 48)) as write:  # a timelapse: said, not silently slower
            write(frame)
    with video_writer(tmp_path / "t.avi", tmp_path / "t2.avi", 0.001, (64, 48)) as write:  # what it wrote, written again
        write(frame)
    assert read_video(tmp_path / "t2.avi")[3] == 1


def test_video_codec_choice_and_its_container(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    from cvdenoise.video import video_fourcc

    src = tmp_path / "in.avi"
    _write_video(src, [add_noise(cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR), 20, seed=i) for i in range(2)])
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-q", "--codec", "ffv1"]) == 2  # checked before the work
    assert "a .mp4 file cannot hold ffv1 video; name the output .mkv or .avi" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
    assert main(["video", str(src), "-o", str(tmp_path / "o.mkv"), "-q", "--codec", "FFV1"]) == 0  # any case
    assert "(FFV1, lossless;" in capsys.readouterr().out
    assert [video_fourcc(f"x{e}") for e in (".mp4", ".mov", ".avi", ".mkv")] == ["mp4v", "mp4v", "MJPG", "MJPG"]  # auto
    assert video_fourcc("x.avi", "mp4v") == "mp4v"
    with pytest.raises(ValueError, match="unknown video codec 'h264'"):
        video_fourcc("x.mp4", "h264")


def test_codec_names_in_any_case_and_the_api_error_names_no_cli_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary prints ``MJPG``/``FFV1``: the Python API takes those spellings too, and its
    writer error says "codec", not the CLI's ``--codec``."""
    import cvdenoise.video as video

    assert video.video_fourcc("x.avi", "MJPG") == "MJPG" and video.video_fourcc("x.mkv", "FFV1") == "FFV1"
    assert video.video_fourcc("x.mp4", "Auto") == "mp4v"

    class Closed:
        def __init__(self, *a: object) -> None: ...
        def isOpened(self) -> bool:
            return False

    monkeypatch.setattr(video.cv2, "VideoWriter", type("W", (Closed,), {"fourcc": staticmethod(lambda *c: 0)}))
    with pytest.raises(OSError, match="video writer") as e, video.video_writer(tmp_path / "in.avi", tmp_path / "o.avi", 10.0, (64, 48), "MJPG"):
        pass
    assert "try another codec" in str(e.value) and "--codec" not in str(e.value)


def test_odd_frame_size_is_cropped_to_even(tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # the codecs store even sizes only; OpenCV cannot write an odd-sized source, so fake the reader
    import cvdenoise.video as video

    odd = [add_noise(cv2.cvtColor(clean_rgb[:49, :65], cv2.COLOR_RGB2BGR), 25, seed=i) for i in range(3)]
    monkeypatch.setattr(video, "read_video", lambda p: (iter(odd), 10.0, (65, 49), 3))
    out = tmp_path / "odd.avi"
    with pytest.warns(UserWarning, match="65x49 frames are written as 64x48"):
        infos = video.denoise_video(tmp_path / "src.avi", out, FrameFilter("fast"), progress=False)
    assert len(infos) == 3
    monkeypatch.undo()
    got, _, size, _ = read_video(out)
    frames = list(got)
    assert size == (64, 48) and len(frames) == 3
    # cropped, not resampled: the output lines up with the input's top-left 64x48
    clean = cv2.cvtColor(clean_rgb[:49, :65], cv2.COLOR_RGB2BGR)
    resampled = cv2.resize(clean, (64, 48), interpolation=cv2.INTER_AREA)
    assert psnr(frames[0], clean[:48, :64]) > psnr(frames[0], resampled) + 1.5
    assert psnr(frames[0], clean[:48, :64]) > psnr(odd[0][:48, :64], clean[:48, :64]) + 3


def test_video_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"definitely not a video")
    with pytest.raises(VideoReadError, match="cannot read video"):
        read_video(bad)
    assert main(["video", str(bad), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    assert "cannot read video" in capsys.readouterr().err
    assert main(["video", str(tmp_path / "missing.avi"), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    # an MP4 cut off before its writer finished (no index: OpenCV's mp4v writer puts `moov` after the media data)
    whole = tmp_path / "whole.mp4"
    wr = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(6):
        wr.write(np.full((48, 64, 3), 40 * i, np.uint8))
    wr.release()
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: data.index(b"moov") - 4])
    with pytest.raises(VideoReadError, match="without its index .no 'moov' box"):
        read_video(cut)
    start = data.index(b"mdat") - 4  # an older QuickTime recording: no ftyp, the media data first
    (tmp_path / "cut.mov").write_bytes(data[start: data.index(b"moov") - 4])
    with pytest.raises(VideoReadError, match="without its index"):
        read_video(tmp_path / "cut.mov")
    assert main(["video", str(tmp_path / "missing.avi"), "-o", str(tmp_path / "o.mp4"), "-q", "--gate", "1", "2", "3"]) == 2
    assert "--gate takes no value (σ 3 → 6) or two (LOW HIGH), got 3 value(s): 1 2 3" in capsys.readouterr().err
    assert main(["video", str(tmp_path / "missing.avi"), "-o", str(tmp_path / "o.mp4"), "-q", "--gate", "5"]) == 2
    assert "got 1 value(s): 5" in capsys.readouterr().err  # (was "got 1", read as the value)
    for lo, hi in (("6", "3"), ("-1", "3"), ("1", "inf")):  # in the command's own terms, not the Python API's
        assert main(["video", str(bad), "-o", str(tmp_path / "o.mp4"), "-q", "--gate", lo, hi]) == 2
        assert "--gate LOW HIGH needs finite numbers with 0 <= LOW < HIGH" in capsys.readouterr().err
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert main(["video", str(empty), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    assert "is empty (0 bytes)" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_video_and_detect_help_give_their_default_weights_and_the_run_names_them(
        tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    from cvdenoise.cli import build_parser

    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for cmd, expected in (("video", "fast"), ("detect", "fast"), ("denoise", "default")):
        assert subcommands[cmd].parse_args(["x", "-o", "y", "--model", "m.yaml"][: 3 if cmd != "detect" else 5]).weights == expected
        assert f"'{expected}' (default)" in " ".join(subcommands[cmd].format_help().split())
    assert "[--gate [LOW HIGH]]" in " ".join(subcommands["video"].format_usage().split())  # 0 or 2 values, not "LOW HIGH ..."
    src = tmp_path / "in.avi"
    _write_video(src, [add_noise(cv2.cvtColor(clean_rgb[:64, :64], cv2.COLOR_RGB2BGR), 20, seed=i) for i in range(2)])
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-q"]) == 0
    assert re.search(r"wrote 2 frames .*; fast, \w+ ×1 on cpu\)", capsys.readouterr().out)


def test_public_api() -> None:
    assert cvdenoise.FrameFilter is FrameFilter


def test_gate_argument_and_passed_through_frames() -> None:
    for bad in ((1, 2, 3), "yes", (2, 1), (None, 3), (1,), (0, float("inf"))):
        with pytest.raises(ValueError, match="gate"):
            FrameFilter("fast", gate=bad)  # type: ignore[arg-type]
    assert FrameFilter("fast", gate=[1, np.float32(4)]).gate == (1.0, 4.0)
    assert FrameFilter("fast", gate=np.array([3, 6])).gate == (3.0, 6.0)
    den = cvdenoise.load("fast")
    with pytest.raises(TypeError, match="tile has no effect with denoiser="):
        FrameFilter(denoiser=den, tile=64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"BGR frames, so channel_order has no effect.*frame\[\.\.\., ::-1\]"):
        FrameFilter("fast", channel_order="rgb")  # was taken, and every frame still read as BGR
    assert FrameFilter("fast", channel_order="bgr").denoiser.channel_order == "bgr"  # (what it does anyway: fine)
    for bad_temporal in ("0.5", float("nan"), 1.0):
        with pytest.raises(ValueError, match="temporal weight must be a number in"):
            FrameFilter(denoiser=den, temporal=bad_temporal)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the gate sets each frame's strength"):
        FrameFilter("fast", gate=True, strength=0.5)  # would be silently ignored
    assert FrameFilter("fast", gate=True, strength=1.0).gate is not None
    assert FrameFilter("fast", gate=True, strength="auto").denoiser.strength == 1.0  # the library default: fine
    f = FrameFilter("fast", gate=True, half=False)
    clean = np.full((48, 64, 3), 120, np.uint8)
    out = f(clean)
    assert f.info is not None and f.info.strength == 0.0 and np.array_equal(out, clean)
    assert not np.shares_memory(out, clean)  # drawing on the output leaves the caller's frame alone


def test_video_report_and_path_mistakes(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    bgr = cv2.cvtColor(clean_rgb[:64, :80], cv2.COLOR_RGB2BGR)
    src = tmp_path / "in.avi"
    _write_video(src, [add_noise(bgr, 20, seed=i) for i in range(3)])
    before = src.read_bytes()
    out = tmp_path / "out.mp4"
    # the CSV must never take the place of the input or the output video
    for report in (src, out):
        assert main(["video", str(src), "-o", str(out), "-q", "--report", str(report)]) == 2
        assert "give the CSV its own file name" in capsys.readouterr().err
    assert src.read_bytes() == before and not out.exists()
    # its folder is made when it is written; lines end in \n
    report = tmp_path / "new" / "dir" / "frames.csv"
    assert main(["video", str(src), "-o", str(out), "-q", "--report", str(report)]) == 0
    assert report.read_bytes().count(b"\r") == 0 and len(report.read_text().splitlines()) == 4
    assert main(["video", str(src), "-o", str(out), "-q", "--gate", "--strength", "0.5"]) == 2
    assert "--strength and --gate" in capsys.readouterr().err
    assert main(["video", str(tmp_path), "-o", str(out), "-q"]) == 2
    assert "is a folder, not a video file" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "still.png"), bgr)  # OpenCV opens a still as a one-frame video
    assert main(["video", str(tmp_path / "still.png"), "-o", str(tmp_path / "still.mp4"), "-q"]) == 2
    assert "is an image, not a video: use cvdenoise denoise" in capsys.readouterr().err
    assert main(["video", str(src), "-o", str(tmp_path / "new"), "-q"]) == 2
    assert "is a folder; give a video file name" in capsys.readouterr().err


def test_truncated_video_warns(tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    import cvdenoise.video as video

    frames = [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2
    monkeypatch.setattr(video, "read_video", lambda p: (iter(frames), 10.0, (64, 48), 5))  # the header claims 5
    # written, but not the whole clip: exit code 1, as `denoise` for a failed file (it was 0: batch jobs saw success)
    assert main(["video", str(tmp_path / "src.avi"), "-o", str(tmp_path / "o.avi"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "cvdenoise: warning:" in err and "3 of its 5 frames could not be decoded" in err and "Traceback" not in err
    assert (tmp_path / "o.avi").is_file()
    with pytest.warns(video.TruncatedVideoWarning, match="3 of its 5 frames could not"):
        video.denoise_video(tmp_path / "src.avi", tmp_path / "p.avi", FrameFilter("fast"), progress=False)


def test_one_damaged_frame_mid_clip_loses_only_that_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    src = tmp_path / "in.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(20):
        vw.write(np.full((48, 64, 3), 10 * i, np.uint8))
    vw.release()
    data = bytearray(src.read_bytes())
    at = [m.start() for m in re.finditer(b"\xff\xd8\xff", data)][8]  # frame 8's JPEG
    data[at : at + 200] = b"\0" * 200
    (bad := tmp_path / "mid.avi").write_bytes(bytes(data))
    frames, _, _, count = cvdenoise.video.read_video(bad)
    got, numbers = [], []
    for f in frames:
        got.append(int(f.mean()))
        numbers.append(frames.index)
    assert count == 20 and len(got) >= 19 and got[-1] > 180  # read on past the damaged frame
    assert [round(v / 10) for v in got] == numbers  # each frame keeps its source number (frame i is 10·i)
    assert main(["video", str(bad), "-o", str(tmp_path / "out.mp4"), "-q", "-w", "fast", "--report", str(tmp_path / "r.csv")]) == 1
    err = capsys.readouterr().err
    assert f"{20 - len(got)} of its 20 frames could not be decoded" in err
    assert f"holds the frame before each of {20 - len(got)} damaged one(s) in its place" in err
    # the damaged frame's slot holds the frame before it: the output stays in step with the source
    # (it was one frame short, each frame after the damaged one a slot early)
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    means = []
    while (read := cap.read())[0]:
        means.append(int(read[1].mean()))
    assert len(means) == 20 and [round(v / 10) for v in means] == [n if n in numbers else n - 1 for n in range(20)]
    rows = (tmp_path / "r.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == numbers  # the report's frame column: source numbers, not renumbered
    # the first frame damaged: the clip was refused whole ("cannot read video"), now it loses that frame
    data = bytearray(src.read_bytes())
    at = [m.start() for m in re.finditer(b"\xff\xd8\xff", data)][0]
    data[at : at + 200] = b"\0" * 200
    (first_bad := tmp_path / "first.avi").write_bytes(bytes(data))
    frames, _, _, count = cvdenoise.video.read_video(first_bad)
    got = [(frames.index, int(f.mean())) for f in frames]
    assert count == 20 and got[0][0] >= 1 and all(round(v / 10) == i for i, v in got) and len(got) >= 18
    assert main(["video", str(first_bad), "-o", str(tmp_path / "first.mp4"), "-q", "-w", "fast"]) == 1
    assert f"{20 - len(got)} of its 20 frames could not be decoded" in capsys.readouterr().err
    # the damaged first frame's slot holds the first good one: the output keeps the clip's 20 slots
    assert int(cv2.VideoCapture(str(tmp_path / "first.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 20


def test_gray_content_in_bgr_frames_uses_the_gray_model_and_stays_gray(ff: FrameFilter, clean_gray: np.ndarray) -> None:
    noisy = add_noise(clean_gray[:64, :80], 20, seed=3)
    as_bgr = np.repeat(noisy[:, :, None], 3, axis=2)  # how OpenCV decodes a gray video
    out = ff(as_bgr)
    assert out.shape == as_bgr.shape and np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(out[..., 0], ff(noisy))
    colour = add_noise(np.dstack([clean_gray[:64, :80]] * 3), 20, seed=4)
    both = list(ff.stream([as_bgr, colour], batch_size=2))
    assert np.array_equal(both[0], out) and not np.array_equal(both[1][..., 0], both[1][..., 2])
    # a gray clip through a colour codec: planes a few levels apart, still gray content
    jitter = np.random.default_rng(5).integers(-2, 3, as_bgr.shape)
    near = np.clip(as_bgr.astype(int) + jitter, 0, 255).astype(np.uint8)
    out_near = ff(near)
    assert np.array_equal(out_near[..., 0], out_near[..., 1]) and np.array_equal(out_near[..., 1], out_near[..., 2])


def test_stream_batch_size_must_be_an_integer(ff: FrameFilter) -> None:
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 2.5"):
        list(ff.stream([np.zeros((8, 8), np.uint8)], batch_size=2.5))  # type: ignore[arg-type]


def test_video_output_that_is_the_input_under_another_name_is_refused(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    from cvdenoise.video import denoise_video

    bgr = cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    src = tmp_path / "clip.avi"
    _write_video(src, [add_noise(bgr, 20, seed=i) for i in range(4)])
    before = src.read_bytes()
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "clip.avi"
    os.link(src, link)  # a hard link (or the same name on a case-insensitive disk)
    assert main(["video", str(src), "-o", str(link), "-q"]) == 2
    assert "refusing to overwrite the input video" in capsys.readouterr().err
    assert src.read_bytes() == before
    # a reused FrameFilter starts each clip afresh; nothing is left beside the output
    f = FrameFilter("fast", half=False, temporal=0.5)
    first = denoise_video(src, tmp_path / "a.avi", f, progress=False)
    second = denoise_video(src, tmp_path / "b.avi", f, progress=False)
    assert [i.index for i in second] == [i.index for i in first] == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.avi", "b.avi", "clip.avi", "out"]


def test_sigterm_mid_video_removes_the_partial_output(
    tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    bgr = cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    src = tmp_path / "clip.avi"
    _write_video(src, [bgr] * 4)
    real_stream = FrameFilter.stream

    def killed_after_one(self: FrameFilter, frames: object, batch_size: int = 4) -> object:
        for k, f in enumerate(real_stream(self, frames, 1)):  # type: ignore[arg-type]
            if k == 1:
                os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` or a job scheduler would
            yield f

    monkeypatch.setattr(FrameFilter, "stream", killed_after_one)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["video", str(src), "-o", str(tmp_path / "out.avi"), "-q", "-w", "fast"]) == 143  # 128 + SIGTERM
    assert "cvdenoise video: terminated" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]
    assert signal.getsignal(signal.SIGTERM) == before
    # the folders it made for the output go too (they were left, empty); one that was there stays
    (tmp_path / "kept").mkdir()
    assert main(["video", str(src), "-o", str(tmp_path / "kept" / "new" / "er" / "out.avi"), "-q", "-w", "fast"]) == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "kept"] and not any((tmp_path / "kept").iterdir())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_ctrl_c_just_after_the_video_is_in_place_still_records_it(
    tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, python_sigint: None
) -> None:
    """A Ctrl-C between the finished video's rename and its record left a file every re-run
    refused as the user's (the record was written after denoise_video returned)."""
    from cvdenoise.folder import OutputRecords

    src, out = tmp_path / "in.avi", tmp_path / "o" / "clean.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)
    sigint_after(monkeypatch, os, "replace", 1)  # the video is in place when the interrupt arrives
    assert main(["video", str(src), "-o", str(out), "-q", "-w", "fast"]) == 130
    monkeypatch.undo()
    assert out.is_file() and OutputRecords().ours(out)
    assert main(["video", str(src), "-o", str(out), "-q", "-w", "fast"]) == 0  # a re-run replaces it freely


def test_video_output_under_a_file_is_refused(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "clip.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)
    assert main(["video", str(src), "-o", str(src / "out.mp4"), "-q"]) == 2
    assert "clip.avi is a file, so no folder can be made there" in capsys.readouterr().err


def test_gate_passes_near_gray_frames_through_exactly(clean_gray: np.ndarray) -> None:
    base = np.repeat(clean_gray[:64, :80, None], 3, axis=2)
    near = np.clip(base.astype(int) + np.random.default_rng(6).integers(-2, 3, base.shape), 0, 255).astype(np.uint8)
    ff = FrameFilter("fast", half=False, gate=(50.0, 60.0))  # everything below σ 50 passes through
    out = ff(near)
    assert ff.info is not None and ff.info.strength == 0.0 and np.array_equal(out, near) and out is not near


def test_gated_filter_on_weights_without_a_card_does_not_warn(tmp_path: Path) -> None:
    import shutil
    import warnings

    from cvdenoise.weights import resolve

    shutil.copy(resolve("color-fast"), tmp_path / "bare.safetensors")  # no card: no "auto" rule
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the gate never reads the rule: nothing to warn about
        ff = FrameFilter(str(tmp_path / "bare.safetensors"), half=False, gate=True)
    assert ff(np.full((32, 32, 3), 128, np.uint8)).shape == (32, 32, 3)
    with pytest.warns(UserWarning, match="no model card"):
        FrameFilter(str(tmp_path / "bare.safetensors"), half=False)


@pytest.mark.parametrize("keep", [0.0, 0.6])
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_failed_video_write_is_an_error_and_keeps_the_earlier_output(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    suffix: str, keep: float,
) -> None:
    import cvdenoise.video as video

    src = tmp_path / "clip.avi"
    _write_video(src, [add_noise(cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR), 20, seed=i) for i in range(6)])
    out = tmp_path / "out" / f"clean{suffix}"
    assert main(["video", str(src), "-o", str(out), "-q"]) == 0
    good = out.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(video.cv2, "VideoWriter", disk_full_writer(keep))
    assert main(["video", str(src), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"writing {out} failed" in err and "wrote" not in err
    assert out.read_bytes() == good  # the earlier output is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == [".cvdenoise-output", out.name]  # no partial file left


def test_a_video_with_a_long_name_is_written(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """An output name of 240 bytes is valid, but its hidden temporary file (name, host, process id,
    random part, ``.partial.mp4``) would pass the 255-byte limit of common file systems: the
    temporary name holds the first 120 characters of the stem only."""
    src = tmp_path / "clip.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 3)
    out = tmp_path / "out" / ("v" * 236 + ".mp4")
    assert main(["video", str(src), "-o", str(out), "-q"]) == 0
    assert read_video(out)[3] == 3
    assert sorted(p.name for p in out.parent.iterdir()) == [".cvdenoise-output", out.name]


@pytest.mark.parametrize("gate", [None, (3.0, 6.0)])
def test_stream_keeps_each_frames_dtype_when_shapes_match(clean_rgb: np.ndarray, gate: tuple[float, float] | None) -> None:
    ff = FrameFilter("fast", gate=gate)
    a = add_noise(cv2.cvtColor(clean_rgb[:64, :80], cv2.COLOR_RGB2BGR), 25)
    b = a.astype(np.uint16) * 257
    got = list(ff.stream([a, b], batch_size=2))
    assert [g.dtype for g in got] == [np.uint8, np.uint16]
    alone = [ff(a), ff(b)]
    assert np.array_equal(got[0], alone[0]) and np.array_equal(got[1], alone[1])
    assert [h.strength for h in ff.history[:2]] == [1.0, 1.0]


def test_an_empty_video_is_called_empty_not_corrupt(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    wr = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    wr.release()
    with pytest.raises(VideoReadError, match="holds no frames"):
        read_video(empty)


def test_an_image_sequence_pattern_is_named_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """frames/f%03d.png (OpenCV's image-sequence source) was reported as "no such video file"."""
    (tmp_path / "frames").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "frames" / f"f{i:03d}.png"), np.full((24, 32, 3), 90 + i, np.uint8))
    pattern = tmp_path / "frames" / "f%03d.png"
    with pytest.raises(VideoReadError, match=r"image-sequence pattern \(3 frames in .*cvdenoise denoise .*frames -o OUT"):
        read_video(pattern)
    with pytest.raises(FileNotFoundError, match="no such video file"):
        read_video(tmp_path / "frames" / "g%03d.png")  # a pattern no file matches: missing, as before
    assert main(["video", str(pattern), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "image-sequence pattern" in err and "cvdenoise denoise " in err
    if importlib.util.find_spec("ultralytics") is not None:  # (the yolo extra)
        assert main(["detect", str(pattern), "-o", str(tmp_path / "det"), "--model", "yolo26n.yaml", "-q"]) == 2
        err = capsys.readouterr().err
        assert "image-sequence pattern" in err and "cvdenoise detect " in err and not (tmp_path / "det").exists()


def test_cli_video_error_is_one_line_without_ffmpeg_log(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(200))  # an mp4 header without a moov atom
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    r = subprocess.run([sys.executable, "-m", "cvdenoise", "video", str(bad), "-o", str(tmp_path / "o.mp4"), "-q"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"cvdenoise video: error: {bad}: cannot read video (not a video, corrupt, or unsupported codec)"]


def test_video_whose_output_cannot_be_recorded_is_refused_before_the_work(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """The clip was denoised and put in place, then recording it failed: exit 2 with a raw error,
    and every re-run refused the file as the user's."""
    src = tmp_path / "in.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)
    for out, report in ((tmp_path / "a" / "o.mp4", None), (tmp_path / "o.mp4", tmp_path / "b" / "r.csv")):
        (Path((report or out).parent) / ".cvdenoise-output").mkdir(parents=True)
        argv = ["video", str(src), "-o", str(out), "-q", "-w", "fast", *(["--report", str(report)] if report else [])]
        assert main(argv) == 2
        assert "cannot record the output in" in capsys.readouterr().err
        assert not out.exists()


def test_video_never_replaces_a_file_it_did_not_write_unless_asked(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.avi"
    _write_video(src, [add_noise(cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR), 20, seed=i) for i in range(2)])
    out, report = tmp_path / "o" / "clean.mp4", tmp_path / "o" / "notes.csv"
    out.parent.mkdir()
    out.write_bytes(b"the user's own video")
    report.write_text("precious notes\n")
    for argv in (["-o", str(out)], ["-o", str(tmp_path / "o" / "new.mp4"), "--report", str(report)]):
        assert main(["video", str(src), *argv, "-q"]) == 2
        assert "exists and cvdenoise did not write it" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's own video" and report.read_text() == "precious notes\n"
    assert not (tmp_path / "o" / "new.mp4").exists()
    # asked: replaced; then recorded as cvdenoise's, so a rerun replaces them without asking
    assert main(["video", str(src), "-o", str(out), "--report", str(report), "-q", "--overwrite"]) == 0
    assert len(list(read_video(out)[0])) == 2 and report.read_text().startswith("frame,")
    assert main(["video", str(src), "-o", str(out), "--report", str(report), "-q"]) == 0
    # ...unless changed since
    report.write_text("edited\n")
    assert main(["video", str(src), "-o", str(out), "--report", str(report), "-q"]) == 2
    assert report.read_text() == "edited\n"
    # a run that fails (missing input) creates no report folder
    assert main(["video", str(tmp_path / "missing.avi"), "-o", str(tmp_path / "x.mp4"), "--report",
                 str(tmp_path / "rep" / "sub" / "f.csv"), "-q"]) == 2
    assert not (tmp_path / "rep").exists()


def test_an_image_named_as_a_video_is_refused(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    bgr = cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    for ext, kind in ((".png", "PNG"), (".jpg", "JPEG"), (".bmp", "BMP"), (".tiff", "TIFF"), (".webp", "WebP"),
                      (".ppm", "PNM"), (".pgm", "PNM")):
        fake = tmp_path / f"still{ext.replace('.', '_')}.mp4"
        fake.write_bytes(cv2.imencode(ext, bgr[..., 0] if ext == ".pgm" else bgr)[1].tobytes())
        with pytest.raises(VideoReadError, match=f"is a (single )?{kind} image, not a video") as e:
            read_video(fake)
        if kind == "JPEG":  # a one-frame MJPEG: `denoise` takes it under an image name only
            assert "rename it .jpg and use cvdenoise denoise" in str(e.value)
    mjpeg = tmp_path / "clip.mjpeg"  # a raw MJPEG stream starts like a JPEG, but is a video
    frames = [np.roll(bgr, 5 * i, axis=1) for i in range(3)]
    mjpeg.write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in frames))
    got = list(read_video(mjpeg)[0])
    assert len(got) == 3 and all(np.abs(g.astype(int) - f).mean() < 3 for g, f in zip(got, frames))


def test_a_still_of_another_format_is_refused_as_a_video(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """OpenCV opens a .jp2 / .ras / .pfm still as a one-frame video: `video` wrote a 1-frame mp4 of it."""
    bgr = cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)
    for ext in (".jp2", ".ras", ".pfm"):
        still = tmp_path / f"still{ext}"
        assert cv2.imwrite(str(still), bgr.astype(np.float32) / 255 if ext == ".pfm" else bgr)
        with pytest.raises(VideoReadError, match="is an image, not a video"):
            read_video(still)
    named_as_video = tmp_path / "jp2.mp4"  # (by its content: JPEG 2000's signature)
    named_as_video.write_bytes((tmp_path / "still.jp2").read_bytes())
    with pytest.raises(VideoReadError, match="is a JPEG 2000 image, not a video"):
        read_video(named_as_video)
    one = tmp_path / "one.gif"  # a single-frame GIF: refused by its frame count, as ImageNotVideoError
    Image.fromarray(clean_rgb[:48, :64]).save(one)
    with pytest.raises(ImageNotVideoError, match="is a single GIF image, not a video"):
        read_video(one)


def test_report_never_replaces_the_input_under_another_name_nor_the_record_file(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)
    before = src.read_bytes()
    os.link(src, tmp_path / "mine.avi")  # a hard link: the input under another name
    for report, message in ((tmp_path / "mine.avi", "give the CSV its own file name"),
                            (tmp_path / "out" / ".cvdenoise-output", "where cvdenoise records its outputs")):
        assert main(["video", str(src), "-o", str(tmp_path / "out" / "v.mp4"), "--report", str(report), "-q"]) == 2
        assert message in capsys.readouterr().err
    assert src.read_bytes() == before and (tmp_path / "mine.avi").read_bytes() == before
    # output names are checked before the model is loaded and the video opened
    assert main(["video", str(tmp_path / "missing.avi"), "-o", str(tmp_path / "v.webm"), "-q"]) == 2
    assert "unsupported output container" in capsys.readouterr().err
    assert main(["video", str(src), "-o", str(tmp_path / "out" / "x"), "-q"]) == 2  # (said "container ''")
    assert f"{tmp_path / 'out' / 'x'}' has no video suffix; name it {tmp_path / 'out' / 'x'}.mp4" in capsys.readouterr().err
    assert main(["video", str(src), "-o", str(tmp_path / "mine.avi"), "-q"]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err


def test_toned_and_deep_colour_frames_are_not_taken_for_gray(clean_gray: np.ndarray, clean_rgb: np.ndarray) -> None:
    ff = FrameFilter("fast")
    g = clean_gray[:64, :64].astype(int)
    warm = np.dstack([g - 4, g, g + 4]).clip(0, 255).astype(np.uint8)  # BGR: R and B 8 levels apart
    out = ff(warm)
    assert abs((out[..., 2].astype(float) - out[..., 0]).mean() - 8) < 1.5  # the tone is kept
    ten_bit = (clean_rgb[:64, :64, ::-1].astype(np.uint32) * 1023 // 255).astype(np.uint16)  # unscaled 10-bit
    with pytest.warns(UserWarning, match="below 4096"):
        assert np.abs(np.diff(ff(ten_bit).astype(int), axis=2)).max() > 100  # colour kept
    speckled = np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)
    speckled[0, :3, 2] += 6  # a codec's stray colour at 3 of 4096 pixels: still a gray frame
    out = ff(speckled)
    assert np.array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("gate", [False, True])
def test_rotated_frames_come_back_drawable(clean_rgb: np.ndarray, gate: bool) -> None:
    frame = add_noise(np.ascontiguousarray(clean_rgb[:48, :64, ::-1]), 20)
    for view in (np.rot90(frame), frame.transpose(1, 0, 2), frame[:, ::-1]):
        out = FrameFilter("fast", gate=gate)(view)
        assert out.shape == view.shape and out.flags.c_contiguous
        cv2.rectangle(out, (2, 2), (20, 20), (0, 255, 0), 2)  # raised cv2.error on a strided result


def test_low_bit_depth_uint16_frames_get_one_warning() -> None:
    rng = np.random.default_rng(0)
    x = np.clip(2000 + rng.normal(0, 240, (32, 40)), 0, 4095).astype(np.uint16)  # 12-bit data, unscaled
    ff = FrameFilter("fast")
    with pytest.warns(UserWarning, match="below 4096.*frame << 4"):
        ff(x)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ff(x)  # once per filter
        FrameFilter("fast")(x << 4)  # full 16-bit data: no warning


def test_gate_passes_a_clean_drawing_through(clean_rgb: np.ndarray) -> None:
    # fast smooths thin strokes away, so the gate read a clean drawing as noisy (σ ≈ 8) and denoised it
    img = np.full((160, 256, 3), 255, np.uint8)
    cv2.putText(img, "CAR bus 42", (6, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (128, 80), (240, 150), (255, 0, 0), 1)  # a blue 1-pixel line (BGR)
    img[::16, :64] = (0, 0, 255)  # a red 1-pixel grid
    gated = FrameFilter("fast", gate=True)
    assert np.array_equal(gated(img), img) and gated.info is not None and gated.info.strength == 0.0
    noisy = add_noise(img, 15)
    gated(noisy)
    assert gated.info.strength == 1.0  # a noisy drawing is denoised as before


def test_a_playlist_is_refused_not_followed(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """FFmpeg follows an HLS playlist's entries: an uploaded .m3u8 read any local video it named."""
    secret = tmp_path / "secret.avi"
    _write_video(secret, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)
    text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n"
    for name in ("clip.m3u8", "clip.mp4"):
        (tmp_path / name).write_text(text)
        with pytest.raises(VideoReadError, match="is a playlist, not a video file"):
            read_video(tmp_path / name)


def test_dropping_a_part_read_video_releases_it_at_once(tmp_path: Path) -> None:
    """The frame iterator and its generator referred to each other: the capture stayed open until
    the cycle collector ran (on Windows the source could not be renamed or deleted meanwhile)."""
    import gc
    import os

    src = tmp_path / "v.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        vw.write(np.full((48, 64, 3), 20 * i, np.uint8))
    vw.release()

    def open_handles() -> int:
        fds = "/proc/self/fd"
        return sum(os.path.realpath(os.path.join(fds, f)) == str(src.resolve()) for f in os.listdir(fds))

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc (Linux)")
    gc.disable()
    try:
        frames, _, _, _ = read_video(src)
        next(frames)
        next(frames)
        assert frames.index == 1 and open_handles() == 1
        del frames
        assert open_handles() == 0
    finally:
        gc.enable()


def test_max_history_bounds_the_records_and_keeps_the_numbering(tmp_path: Path, fast: cvdenoise.Denoiser) -> None:
    # history grew by a record per frame forever; clearing it restarted FrameInfo.index at 0
    from cvdenoise.video import denoise_video

    f = FrameFilter(denoiser=fast, max_history=3, temporal=0.5)
    frames = [add_noise(np.full((32, 48, 3), 100 + 10 * i, np.uint8), 10, seed=i) for i in range(7)]
    for frame in frames[:2]:
        f(frame)
    list(f.stream(frames[2:], batch_size=2))
    assert [i.index for i in f.history] == [4, 5, 6] and f.info is not None and f.info.index == 6
    f.history.clear()  # the records only: numbering (and the temporal state) go on
    f(frames[0])
    assert [i.index for i in f.history] == [7]
    f.reset()
    f(frames[0])
    assert [i.index for i in f.history] == [0]
    src = tmp_path / "clip.avi"
    _write_video(src, frames)
    infos = denoise_video(src, tmp_path / "out.avi", f, progress=False)  # a file: every record returned
    assert [i.index for i in infos] == list(range(7)) and f.max_history == 3
    for bad in (0, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="max_history"):
            FrameFilter(denoiser=fast, max_history=bad)  # type: ignore[arg-type]


def test_a_filter_bounds_its_records_by_default(fast: cvdenoise.Denoiser) -> None:
    """The default kept a record for every frame since reset(): an endless live stream grew ~25 MB an hour."""
    from cvdenoise.video import DEFAULT_MAX_HISTORY

    f = FrameFilter(denoiser=fast)
    assert f.max_history == DEFAULT_MAX_HISTORY and 1000 <= DEFAULT_MAX_HISTORY <= 1_000_000
    assert FrameFilter(denoiser=fast, max_history=None).max_history is None  # every record, when asked
    f.max_history = 2  # the bound a default filter holds is the one it trims to
    for i in range(4):
        f(np.full((16, 16, 3), 60 + i, np.uint8))
    assert [i.index for i in f.history] == [2, 3]


def _open_fds_on(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc")
def test_a_failed_video_run_does_not_keep_the_input_open(tmp_path: Path, ff: FrameFilter, clean_rgb: np.ndarray,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The input was opened before the output name was checked, and stayed open as long as the
    error lived (a service that logs the exception leaks a file handle; Windows locks the file)."""
    import cvdenoise.video as video_module

    src = tmp_path / "in.avi"
    _write_video(src, [clean_rgb[:64, :64, ::-1].copy()] * 3)
    errors: list[BaseException] = []
    with pytest.raises(ValueError, match="unsupported output container") as bad_name:
        video_module.denoise_video(src, tmp_path / "out.xyz", ff, progress=False)
    errors.append(bad_name.value)

    def broken(frames: object, batch_size: int = 4) -> object:
        raise RuntimeError("filter failed")

    monkeypatch.setattr(ff, "stream", broken)
    with pytest.raises(RuntimeError, match="filter failed") as failed:
        video_module.denoise_video(src, tmp_path / "out.avi", ff, progress=False)
    errors.append(failed.value)
    assert _open_fds_on(src) == 0  # while both errors (and their tracebacks) are alive


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc")
def test_closing_frames_before_the_first_releases_the_video(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """Closing a generator that never ran runs none of its code: the capture stayed open while the
    frames lived (a failed run's traceback kept them: the test above failed on Python 3.12 and 3.13)."""
    src = tmp_path / "in.avi"
    _write_video(src, [clean_rgb[:64, :64, ::-1].copy()] * 3)
    frames, *_ = read_video(src)
    assert _open_fds_on(src) == 1
    frames.close()
    assert _open_fds_on(src) == 0
    assert list(frames) == []  # (closed: no frame after it)
    frames.close()  # (twice: nothing more to do)


def test_copy_is_a_filter_for_another_stream_and_repr_names_its_settings(ff: FrameFilter, clean_rgb: np.ndarray) -> None:
    """copy.copy shared the temporal state and the history list: two streams fed one smoother."""
    import copy

    f = FrameFilter(denoiser=ff.denoiser, temporal=0.5)
    frame = np.ascontiguousarray(add_noise(clean_rgb, 15, seed=1)[:48, :64, ::-1])
    f(frame)
    twin = copy.copy(f)
    assert twin.denoiser is f.denoiser and twin.smoother is not f.smoother and twin.history is not f.history
    other = np.ascontiguousarray(add_noise(clean_rgb, 15, seed=2)[48:96, 64:128, ::-1])
    twin(other)  # another stream's frame
    reference = FrameFilter(denoiser=ff.denoiser, temporal=0.5)
    reference(frame)
    assert len(f.history) == 1 and len(twin.history) == 2
    assert np.array_equal(f(frame), reference(frame))  # f smooths against its own last output, not the twin's
    text = repr(f)
    assert text.startswith("FrameFilter(denoiser=Denoiser(") and "temporal=0.5" in text and "frames=2" in text
    for field in ("strength='auto'", "channel_order='rgb'", "border="):
        assert field in repr(f.denoiser)


def test_stream_keeps_the_records_of_the_batch_it_yields_and_strength_0_leaves_gray_frames_as_given(
        ff: FrameFilter) -> None:
    """max_history < batch_size trimmed a batch's records before its frames were yielded; a
    strength-0 denoiser gave gray-content frames back as their luma (1 level off the frame)."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(8)]
    bounded = FrameFilter(denoiser=ff.denoiser, max_history=2)
    seen = [bounded.history[-4 + k % 4].index for k, _ in enumerate(bounded.stream(frames, batch_size=4))]
    assert seen == list(range(8))
    bounded(frames[0])
    assert len(bounded.history) == 2  # the bound again once a batch is out
    g = np.clip(100 + rng.normal(0, 10, (64, 80)), 0, 255)
    near_gray = np.clip(np.dstack([g + 1, g, g - 1]), 0, 255).astype(np.uint8)  # planes within a level or two
    untouched = FrameFilter(denoiser=cvdenoise.load("fast", strength=0))
    assert np.array_equal(untouched(near_gray), near_gray)
    assert np.array_equal(list(untouched.stream([near_gray, frames[0]], batch_size=2))[0], near_gray)


@pytest.mark.skipif(sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8", reason="needs POSIX byte names")
def test_video_names_that_are_not_utf8_are_refused_not_a_segfault(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    """OpenCV's binding crashed the interpreter (exit 139) on such a name, in or out, leaving .partial files."""
    import subprocess

    good = tmp_path / "ok.avi"
    vw = cv2.VideoWriter(str(good), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(2):
        vw.write(np.ascontiguousarray(clean_rgb[:48, :64]))
    vw.release()
    latin = tmp_path / os.fsdecode(b"clip\xe9.avi")
    latin.write_bytes(good.read_bytes())
    run = [sys.executable, "-c", "import sys; from cvdenoise.cli import main; sys.exit(main(sys.argv[1:]))"]
    for src, dst in ((latin, tmp_path / "o.avi"), (good, tmp_path / os.fsdecode(b"out\xe9.avi"))):
        r = subprocess.run([*run, "video", str(src), "-o", str(dst), "-q", "-w", "fast"], capture_output=True, text=True,
                           errors="backslashreplace", timeout=300)
        assert r.returncode == 2 and "not valid UTF-8" in r.stderr, r.stderr
        assert "PosixPath(" not in r.stderr  # (the name as the user wrote it, not a Python object)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ok.avi", latin.name])  # nothing left behind


def test_a_writer_that_will_not_open_on_a_full_disk_says_so(tmp_path: Path, clean_rgb: np.ndarray,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With no byte left OpenCV's writer does not open, and the error blamed the OpenCV build's encoders."""
    import shutil
    from collections import namedtuple

    import cvdenoise.video as video

    src = tmp_path / "in.avi"
    _write_video(src, [cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR)] * 2)

    class Unopened:
        def __init__(self, *args: object) -> None:
            pass

        def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
            return False

        def release(self) -> None:
            pass

        fourcc = staticmethod(cv2.VideoWriter.fourcc)

    monkeypatch.setattr(video.cv2, "VideoWriter", Unopened)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(600_000, 600_000, 0))
    with pytest.raises(OSError, match="no space left on its disk"):
        video.denoise_video(src, tmp_path / "o.avi", FrameFilter(denoiser=cvdenoise.load("fast")), progress=False)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 10**12))
    with pytest.raises(OSError, match="may lack the encoder"):
        video.denoise_video(src, tmp_path / "o.avi", FrameFilter(denoiser=cvdenoise.load("fast")), progress=False)
    assert not (tmp_path / "o.avi").exists()


def test_video_output_through_a_link_is_written_through_and_a_broken_link_or_read_only_folder_is_refused(
        tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    """The link was replaced by a file that went unrecorded (the next run refused it); a broken link
    failed with a bare errno after the whole clip; a read-only folder failed after the model loaded."""
    src = tmp_path / "in.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(2):
        vw.write(np.ascontiguousarray(clean_rgb[:48, :64]))
    vw.release()
    run = ["-q", "-w", "fast"]
    (runs := tmp_path / "runs").mkdir()
    assert main(["video", str(src), "-o", str(runs / "r1.avi"), *run]) == 0
    (latest := tmp_path / "latest.avi").symlink_to(runs / "r1.avi")
    for _ in range(2):
        assert main(["video", str(src), "-o", str(latest), *run]) == 0, capsys.readouterr().err
    assert latest.is_symlink() and (runs / "r1.avi").is_file()
    (dangling := tmp_path / "dangling.avi").symlink_to(tmp_path / "missing" / "x.avi")
    assert main(["video", str(src), "-o", str(dangling), *run]) == 2
    assert "broken symbolic link" in capsys.readouterr().err and not (tmp_path / "missing").exists()
    if Path("/proc/self").is_dir():  # a folder that takes no new file, for root too
        assert main(["video", str(src), "-o", "/proc/cvdenoise-test.avi", *run]) == 2
        assert "takes no new file" in capsys.readouterr().err


def test_a_clip_that_holds_frames_keeps_its_timing_and_is_not_called_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An AVI with empty index entries (dropped or repeated frames, as OpenCV's own sample tree.avi:
    68 frames in 444 slots) was reported as damaged ('only 68 of its 444 frames'), exit 1, and
    written as 68 frames: a 29.6 s clip came out 4.5 s long."""

    frames = [np.full((48, 64, 3), 20 + 30 * i, np.uint8) for i in range(6)]
    src = tmp_path / "held.avi"
    mjpeg_avi(src, frames, 10, [0, 1, None, None, 2, 3, None, 4, 5, None])
    got, fps, _, count = read_video(src)
    seen = [(got.index, got.held) for _ in got]
    assert count == 10 and seen == [(0, 0), (1, 0), (4, 2), (5, 0), (7, 1), (8, 0)]
    assert got.held_at_end == 1 and got.held_total == 4
    out, report = tmp_path / "o.avi", tmp_path / "r.csv"
    capsys.readouterr()
    assert main(["video", str(src), "-o", str(out), "--report", str(report), "-q", "-w", "fast",
                 "--codec", "ffv1", "--strength", "0"]) == 0
    said = capsys.readouterr()
    assert "could not be decoded" not in said.err and "wrote 10 frames to" in said.out and "(6 denoised" in said.out
    written = list(read_video(out)[0])
    assert len(written) == 10  # every slot: the clip's duration
    levels = [int(f.mean().round()) for f in written]
    assert levels == [20, 50, 50, 50, 80, 110, 110, 140, 170, 170]
    assert [line.split(",")[0] for line in report.read_text().splitlines()[1:]] == ["0", "1", "4", "5", "7", "8"]
    # a clip cut short, with no frame held before: still named as missing its end
    cut = tmp_path / "cut.avi"
    mjpeg_avi(cut, frames, 10, [0, 1, 2, 3, None, None])
    assert main(["video", str(cut), "-o", str(tmp_path / "c.avi"), "-q", "-w", "fast"]) == 1
    assert "2 of its 6 frames could not be decoded" in capsys.readouterr().err
    # a stream whose timestamps start at a frame's length (OpenCV's Megamind.avi): numbered from 0, nothing held
    late = tmp_path / "late.avi"
    mjpeg_avi(late, frames, 10, list(range(6)), start=1)
    got = read_video(late)[0]
    assert [(got.index, got.held) for _ in got] == [(i, 0) for i in range(6)] and got.held_total == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_url_or_a_pipe_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A URL came out as 'no such video file: http:/example.com/a.mp4'; a FIFO or /dev/zero as missing."""
    with pytest.raises(VideoReadError, match=r"^http://example.com/a.mp4: a URL; cvdenoise reads local video files only"):
        read_video("http://example.com/a.mp4")
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoReadError, match="is not a regular file"):
        read_video(fifo)


def test_a_variable_frame_rate_clip_is_written_at_its_base_rate_with_its_timing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A clip at 30 fps that drops to 15 fps (a phone in low light) was numbered at OpenCV's average
    (20 fps): its 30-fps part came out slowed down, up to 0.45 s late on a real phone-like clip."""
    from helpers import mjpeg_mp4

    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    src = tmp_path / "vfr.mp4"
    mjpeg_mp4(src, frames, [3000] * 10 + [6000] * 10)  # 90 kHz ticks: 10 frames at 30 fps, then 10 at 15 fps
    assert cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FPS) == pytest.approx(20.0)  # (OpenCV: the average)
    got, fps, _, count = read_video(src)
    assert fps == 30.0 and count == 30
    assert [got.index for _ in got] == [*range(10), *range(10, 30, 2)]
    out = tmp_path / "o.mkv"
    assert main(["video", str(src), "-o", str(out), "-q", "-w", "fast", "--codec", "ffv1", "--strength", "0"]) == 0
    assert "could not be decoded" not in capsys.readouterr().err
    written, out_fps, _, _ = read_video(out)
    assert out_fps == 30.0
    assert [int(f.mean().round()) for f in written] == [10 * i for i in range(10)] + [10 * i for i in range(10, 20) for _ in "ab"]


def test_a_clip_cut_without_re_encoding_is_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ffmpeg -ss 0.5 -i in.mp4 -c copy cut.mp4`` keeps the frames before the cut, counted but
    hidden by an edit list: the clip was called damaged ('only 15 of its 20 frames'), exit 1."""
    from helpers import mjpeg_mp4

    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    src = tmp_path / "cut.mp4"
    mjpeg_mp4(src, frames, [3000] * 20, hide=5)
    assert main(["video", str(src), "-o", str(tmp_path / "o.mkv"), "-q", "-w", "fast", "--codec", "ffv1", "--strength", "0"]) == 0
    assert "could not be decoded" not in capsys.readouterr().err
    assert [int(f.mean().round()) for f in read_video(tmp_path / "o.mkv")[0]] == [10 * i for i in range(5, 20)]
    whole = tmp_path / "whole.mp4"  # the same file cut short after its 12th frame: still damaged
    mjpeg_mp4(whole, frames, [3000] * 20)
    data = whole.read_bytes()
    whole.write_bytes(data[: data.index(cv2.imencode(".jpg", frames[12])[1].tobytes())])
    assert main(["video", str(whole), "-o", str(tmp_path / "w.mkv"), "-q", "-w", "fast", "--codec", "ffv1"]) == 1
    assert "8 of its 20 frames could not be decoded" in capsys.readouterr().err


def test_mjpeg_into_a_mov_is_written_without_opencvs_tag_lines(tmp_path: Path, clean_rgb: np.ndarray,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """``--codec mjpg`` into ``.mov`` printed two raw OpenCV lines (its MJPG tag refused, 'jpeg' used)."""
    src = tmp_path / "in.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(2):
        vw.write(np.ascontiguousarray(clean_rgb[:48, :64]))
    vw.release()
    capfd.readouterr()
    assert main(["video", str(src), "-o", str(tmp_path / "o.mov"), "--codec", "mjpg", "-q", "-w", "fast"]) == 0
    assert "OpenCV" not in capfd.readouterr().err
    cap = cv2.VideoCapture(str(tmp_path / "o.mov"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2 and int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"MJPG"


def test_the_base_rate_scan_stops_early_on_a_constant_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan for a variable rate decoded 90 frames of every clip (a second decode of its start,
    twice for `detect`); a clip whose first frames are one slot apart each is done after 16."""
    from helpers import mjpeg_mp4

    from cvdenoise import video

    frames = [np.full((48, 64, 3), 5 * i, np.uint8) for i in range(40)]
    mjpeg_mp4(tmp_path / "cfr.mp4", frames, [3000] * 40)
    mjpeg_mp4(tmp_path / "vfr.mp4", frames, [3000] * 20 + [6000] * 20)
    grabs: list[int] = []
    opened = cv2.VideoCapture

    class Counting:
        def __init__(self, name: str) -> None:
            self.cap = opened(name)

        def grab(self) -> bool:
            grabs.append(1)
            return self.cap.grab()

        def __getattr__(self, name: str) -> object:
            return getattr(self.cap, name)

    monkeypatch.setattr(video.cv2, "VideoCapture", Counting)
    assert video._base_rate(tmp_path / "cfr.mp4", 30.0) == 30.0 and len(grabs) == 16
    grabs.clear()
    assert video._base_rate(tmp_path / "vfr.mp4", 20.0) == 30.0 and len(grabs) == 41  # (all 40, then the end)


def test_a_frame_filter_runs_the_fast_models_by_default() -> None:
    # it ran `default` (~0.7 s a 640² frame on 2 cores) where every other video path runs `fast`
    ff = FrameFilter()
    assert ff.denoiser.name == "fast"
