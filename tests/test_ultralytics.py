from __future__ import annotations

import csv
import os
import socket
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("ultralytics")

from cvdenoise.integrations.ultralytics import attach, configure_offline, detach, hooks_of  # noqa: E402

configure_offline()

import cvdenoise  # noqa: E402
from cvdenoise.cli import main  # noqa: E402

from helpers import add_noise, disk_full_writer, mjpeg_avi  # noqa: E402


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any outgoing connection attempt fails the test."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *a: object) -> None:
        attempts.append(address)
        raise OSError(f"network blocked in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    yield attempts
    assert attempts == [], f"network was contacted: {attempts}"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    from ultralytics.utils import ASSETS

    img = cv2.imread(str(ASSETS / "bus.jpg"))
    return add_noise(cv2.resize(img, (320, 416)), 25)


def test_attach_predict_equals_manual_and_detach_restores(no_network: list[object], frame: np.ndarray) -> None:
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolo11n.yaml")
    kw = dict(conf=0.0, max_det=30, imgsz=320, verbose=False)
    raw = model.predict(frame.copy(), **kw)[0]
    den = cvdenoise.load("fast")
    attach(model, den)
    attached = model.predict(frame.copy(), **kw)[0]
    called = model(frame.copy(), **kw)[0]
    assert hooks_of(model) is not None and len(hooks_of(model).denoise_ms) == 2
    detach(model)
    assert hooks_of(model) is None
    manual = model.predict(den(frame, channel_order="bgr"), **kw)[0]
    again = model.predict(frame.copy(), **kw)[0]
    assert len(attached.boxes) > 0
    assert torch.equal(attached.boxes.data, manual.boxes.data)
    assert torch.equal(called.boxes.data, manual.boxes.data)
    assert np.array_equal(attached.orig_img, manual.orig_img)
    assert not np.array_equal(attached.orig_img, raw.orig_img)  # frames really were changed
    assert torch.equal(again.boxes.data, raw.boxes.data)  # detach restores the original behaviour


def test_attach_track(no_network: list[object], frame: np.ndarray) -> None:
    from ultralytics import YOLO

    model = attach(YOLO("yolo11n.yaml"))
    res = model.track(frame.copy(), imgsz=320, conf=0.0, max_det=5, verbose=False, persist=False)[0]
    assert res.orig_img.shape == frame.shape and len(hooks_of(model).denoise_ms) == 1


def test_attach_rejects_non_model() -> None:
    with pytest.raises(TypeError, match="ultralytics YOLO"):
        attach(object())


def test_attach_takes_a_weights_name_and_refuses_other_denoisers() -> None:
    # a name or a FrameFilter was accepted, and failed at the first predict inside a callback
    from ultralytics import YOLO

    model = attach(YOLO("yolo26n.yaml"), "fast")
    hooks = hooks_of(model)
    assert hooks is not None and isinstance(hooks.denoiser, cvdenoise.Denoiser) and hooks.denoiser.name == "fast"
    with pytest.raises(TypeError, match=r"expects a cvdenoise.Denoiser, a weights name or None, got FrameFilter \(a FrameFilter's is its .denoiser\)"):
        attach(model, cvdenoise.FrameFilter(denoiser=hooks.denoiser))  # type: ignore[arg-type]
    assert hooks_of(model) is hooks  # (left as it was)


def test_configure_offline_leaves_ultralytics_logging_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # it set YOLO_VERBOSE=False: val's mAP table and Ultralytics' warnings vanished
    monkeypatch.delenv("YOLO_VERBOSE", raising=False)
    configure_offline(tmp_path / "cfg")
    assert "YOLO_VERBOSE" not in os.environ


def test_detect_says_when_yolo_rounds_imgsz(no_network: list[object], tmp_path: Path, frame: np.ndarray) -> None:
    from cvdenoise.integrations.ultralytics import run_detection

    cv2.imwrite(str(tmp_path / "a.png"), frame[:96, :96])
    with pytest.warns(UserWarning, match="imgsz 33 is no multiple of the model's stride 32: YOLO runs at 64"):
        run_detection(tmp_path / "a.png", "yolo26n.yaml", tmp_path / "out", imgsz=33, progress=False,
                      denoiser=cvdenoise.load("fast", half=False))


def test_validation_denoises_each_image_without_its_letterbox_padding(frame: np.ndarray) -> None:
    # the padding (114) lowered the automatic strength of what it surrounded: an image's denoising
    # depended on the batch size and on the other images of its batch
    from types import SimpleNamespace

    from cvdenoise.integrations.ultralytics import DenoiseHooks

    den = cvdenoise.load("fast", half=False)
    hooks = DenoiseHooks(den)
    seen: list[torch.Tensor] = []
    validator = SimpleNamespace(training=False, preprocess=lambda batch: seen.append(batch["img"]) or batch)
    hooks.on_val_start(validator)
    rgb = torch.from_numpy(np.ascontiguousarray(frame[:160, :192, ::-1])).permute(2, 0, 1)
    alone = den(rgb, channel_order="rgb")
    boxed = torch.full((2, 3, 224, 224), 114, dtype=torch.uint8)
    boxed[0, :, 32:192, 16:208] = rgb  # a batch's letterboxed image beside a wider one
    boxed[1, :, 8:216, :] = torch.from_numpy(np.ascontiguousarray(frame[:208, :224, ::-1])).permute(2, 0, 1)
    validator.preprocess({"img": boxed})
    got = seen[-1]
    assert torch.equal(got[0, :, 32:192, 16:208], alone)
    assert (got[0, :, :32] == 114).all() and (got[0, :, :, :16] == 114).all()  # the padding as it was
    assert len(hooks.denoise_ms) == 2


def test_detect_cli_folder_and_video(no_network: list[object], tmp_path: Path, frame: np.ndarray) -> None:
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "a.jpg"), frame)
    cv2.imwrite(str(src / "sub" / "b.png"), frame[:200, :240])
    out = tmp_path / "out"
    assert main(["detect", str(src), "--model", "yolo26n.yaml", "-o", str(out), "--imgsz", "320", "-q"]) == 0
    assert (out / "a.jpg").is_file() and (out / "sub" / "b.png").is_file()
    rows = list(csv.DictReader((out / "timing.csv").open()))
    assert [r["frame"] for r in rows] == ["a.jpg", "sub/b.png"]
    assert all(float(r["denoise_ms"]) > 0 and float(r["detect_ms"]) > 0 for r in rows)
    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 416))
    for i in range(3):
        wr.write(np.roll(frame, i * 4, axis=1))
    wr.release()
    assert main(["detect", str(video), "--model", "yolo26n.yaml", "-o", str(tmp_path / "vout"), "--imgsz", "320", "-q"]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "vout" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_detect_gate_passes_clean_images_through(no_network: list[object], tmp_path: Path, frame: np.ndarray,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`detect` had no gate: on the clean bus.jpg it changed pixels by 2 levels on average (up to 90), where the
    README's loop, FrameFilter(gate=True), passes the frame through (audit s59)."""
    from ultralytics.utils import ASSETS

    src = tmp_path / "clean.png"
    clean = cv2.resize(cv2.imread(str(ASSETS / "bus.jpg")), (240, 320), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(src), clean)
    cv2.imwrite(str(tmp_path / "noisy.png"), frame[:320, :240])
    opts = ["--model", "yolo26n.yaml", "--imgsz", "160", "--conf", "1", "-q"]  # (conf 1: no box is drawn)
    assert main(["detect", str(src), "-o", str(tmp_path / "plain"), *opts]) == 0
    assert not np.array_equal(cv2.imread(str(tmp_path / "plain" / "clean.png")), clean)
    capsys.readouterr()
    assert main(["detect", str(src), "-o", str(tmp_path / "gated"), *opts, "--gate"]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "gated" / "clean.png")), clean)  # passed through
    assert "noise gate: median σ" in (out := capsys.readouterr().out) and "1 frame(s) passed through unchanged" in out
    assert main(["detect", str(tmp_path / "noisy.png"), "-o", str(tmp_path / "gated"), *opts, "--gate", "3", "6"]) == 0
    assert not np.array_equal(cv2.imread(str(tmp_path / "gated" / "noisy.png")), frame[:320, :240])  # σ 25: denoised
    assert main(["detect", str(src), "-o", str(tmp_path / "t"), *opts, "--temporal", "0.5"]) == 2  # images: no sequence
    assert main(["detect", str(src), "-o", str(tmp_path / "t"), *opts, "--gate", "6", "3"]) == 2
    assert not (tmp_path / "t").exists()


def test_a_yolo_checkpoint_given_as_denoiser_weights_is_named(no_network: list[object], tmp_path: Path) -> None:
    """attach(model, "yolo.pt") (the arguments swapped) or --weights yolo.pt was told how to resume `cvdenoise train`."""
    from ultralytics import YOLO

    from cvdenoise.weights import WeightsError

    model = YOLO("yolo26n.yaml")
    pt = tmp_path / "rand26n.pt"
    model.save(str(pt))
    with pytest.raises(WeightsError, match=r"an Ultralytics \(YOLO\) checkpoint, not denoiser weights"):
        attach(model, str(pt))
    with pytest.raises(WeightsError, match="Ultralytics"):
        cvdenoise.load(pt)


def test_load_yolo_without_ultralytics_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from cvdenoise.integrations.ultralytics import load_yolo

    class NotInstalled:  # import ultralytics fails as where it is not installed
        @staticmethod
        def find_spec(name: str, path: object = None, target: object = None) -> None:
            if name.split(".")[0] == "ultralytics":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    for name in [m for m in sys.modules if m.split(".")[0] == "ultralytics"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NotInstalled, *sys.meta_path])
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "cfg"))
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'cvdenoise\[yolo\]'"):
        load_yolo("yolo26n.yaml")


def test_attach_with_a_gate_passes_clean_frames_through(no_network: list[object], frame: np.ndarray) -> None:
    """attach() had no gate: a clean frame was smoothed by the automatic strength, where the documented loop,
    FrameFilter(gate=True), passes it through (audit s59)."""
    from types import SimpleNamespace

    from ultralytics import YOLO
    from ultralytics.utils import ASSETS

    from cvdenoise.integrations.ultralytics import DenoiseHooks

    den = cvdenoise.load("fast", half=False)
    clean = cv2.resize(cv2.imread(str(ASSETS / "bus.jpg")), (240, 320), interpolation=cv2.INTER_AREA)
    model = attach(YOLO("yolo26n.yaml"), den, gate=True)
    got = model.predict([clean, frame], imgsz=160, verbose=False)
    assert np.array_equal(got[0].orig_img, clean)  # passed through
    assert np.array_equal(got[1].orig_img, cvdenoise.FrameFilter(denoiser=den, gate=True)(frame))  # σ 25: denoised
    assert not np.array_equal(attach(model, den).predict(clean, imgsz=160, verbose=False)[0].orig_img, clean)
    with pytest.raises(ValueError, match="gate must be"):
        attach(model, den, gate=(6, 3))
    # validation batches (RGB, letterboxed) are gated image by image too
    hooks = DenoiseHooks(den, gate=(3.0, 6.0))
    seen: list[torch.Tensor] = []
    validator = SimpleNamespace(training=False, preprocess=lambda batch: seen.append(batch["img"]) or batch)
    hooks.on_val_start(validator)
    batch = torch.full((2, 3, 352, 352), 114, dtype=torch.uint8)
    batch[0, :, 16:336, 56:296] = torch.from_numpy(np.ascontiguousarray(clean[..., ::-1])).permute(2, 0, 1)
    batch[1, :, 16:336, 56:296] = torch.from_numpy(np.ascontiguousarray(frame[:320, :240, ::-1])).permute(2, 0, 1)
    validator.preprocess({"img": batch.clone()})
    assert torch.equal(seen[-1][0], batch[0]) and not torch.equal(seen[-1][1], batch[1])
    assert (seen[-1][1, :, :16] == 114).all()  # the padding as it was
    gray = batch[:, :1].clone()  # a gray dataset's (B,1,H,W) batch (it failed: negative strides), and a 4-channel one
    validator.preprocess({"img": gray.clone()})
    assert seen[-1].shape == gray.shape and torch.equal(seen[-1][0], gray[0]) and not torch.equal(seen[-1][1], gray[1])
    four = torch.cat([batch, batch[:, :1]], 1)
    validator.preprocess({"img": four.clone()})
    assert seen[-1].shape == four.shape and torch.equal(seen[-1][0], four[0]) and torch.equal(seen[-1][:, 3], four[:, 3])
    bgra = np.dstack([clean, np.full(clean.shape[:2], 200, np.uint8)])
    assert np.array_equal(hooks._bgr(bgra), bgra)  # a clean BGRA frame passes the gate too, alpha kept
    with pytest.raises(ValueError, match="strength=0.5 with a gate"):
        attach(model, cvdenoise.load("fast", half=False, strength=0.5), gate=True)


def test_attach_val_sees_denoised_batches(no_network: list[object], tmp_path: Path, frame: np.ndarray) -> None:
    from ultralytics import YOLO

    for split in ("images", "labels"):
        (tmp_path / split / "val").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(tmp_path / "images" / "val" / f"{i}.jpg"), frame)
        (tmp_path / "labels" / "val" / f"{i}.txt").write_text("5 0.5 0.5 0.8 0.6\n")
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/val\nval: images/val\nnames: ['a', 'b', 'c', 'd', 'e', 'bus']\n")
    model = attach(YOLO("yolo11n.yaml"))
    model.val(data=str(data), imgsz=64, batch=2, plots=False, verbose=False, workers=0)
    assert len(hooks_of(model).denoise_ms) == 2  # one entry per image (a batch of 2)


def test_detect_protects_inputs_reports_bad_files_and_refuses_missing_models(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "imgs"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), frame[:160, :160])
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    opts = ["--model", "yolo26n.yaml", "--imgsz", "160", "-q"]
    # the input folder as output: refused, nothing touched
    assert main(["detect", str(src), "-o", str(src), *opts]) == 2
    assert "input folder" in capsys.readouterr().err
    # a corrupt image is reported, the good one written, timing.csv written, rc 1
    out = src / "out"
    assert main(["detect", str(src), "-o", str(out), *opts]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "broken.jpg" in err
    assert (out / "a.png").is_file() and (out / "timing.csv").is_file()
    # run again: earlier outputs inside the input folder are not read as inputs
    assert main(["detect", str(src), "-o", str(out), *opts]) == 1
    assert not (out / "out").exists()
    # a timing.csv of the user's in the output folder is not replaced, unless asked
    (tmp_path / "o5").mkdir()
    (tmp_path / "o5" / "timing.csv").write_text("mine\n")
    assert main(["detect", str(src / "a.png"), "-o", str(tmp_path / "o5"), *opts]) == 2
    err = capsys.readouterr().err  # (it named denoise's --skip-existing, which detect has not)
    assert "timing.csv exists and cvdenoise did not write it" in err and "--overwrite" in err and "skip" not in err
    assert (tmp_path / "o5" / "timing.csv").read_text() == "mine\n"
    assert main(["detect", str(src / "a.png"), "-o", str(tmp_path / "o5"), *opts, "--overwrite"]) == 0
    assert main(["detect", str(src / "a.png"), "-o", str(tmp_path / "o5"), *opts]) == 0  # now recorded as ours
    assert {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()} == before
    # a video whose output would replace it
    video = tmp_path / "clip.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 160))
    wr.write(frame[:160, :160])
    wr.release()
    vbytes = video.read_bytes()
    assert main(["detect", str(video), "-o", str(tmp_path), *opts]) == 2
    assert "refusing to overwrite the input video" in capsys.readouterr().err and video.read_bytes() == vbytes
    # weights that are not a local file: refused before Ultralytics could try to download them
    for model in ("yolo26n.pt", str(tmp_path / "nope.pt")):
        assert main(["detect", str(src / "a.png"), "--model", model, "-o", str(tmp_path / "o"), "-q"]) == 2
        assert "YOLO model file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    assert main(["detect", str(src / "a.png"), "--model", str(bad), "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not a YOLO model Ultralytics can load" in err and "Traceback" not in err
    # a PNG named .mp4: detect takes images, so not "use cvdenoise denoise" but its own suffix
    (disguised := tmp_path / "pic.mp4").write_bytes((src / "a.png").read_bytes())
    assert main(["detect", str(disguised), "-o", str(tmp_path / "o6"), *opts]) == 2
    err = capsys.readouterr().err
    assert "is a PNG image with a video's suffix" in err and "rename it .png" in err and "cvdenoise denoise" not in err
    # a folder (an exported model's, to Ultralytics): handed over, not "not found"
    (folder := tmp_path / "model_folder").mkdir()
    assert main(["detect", str(src / "a.png"), "--model", str(folder), "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not a YOLO model Ultralytics can load" in err and "not found" not in err
    # a classification model finds no boxes: refused up front (a TypeError at the first frame, exit 1)
    assert main(["detect", str(src / "a.png"), "--model", "yolo26n-cls.yaml", "-o", str(tmp_path / "o3"), "-q"]) == 2
    assert "a classification model" in capsys.readouterr().err and not (tmp_path / "o3").exists()
    # a file Ultralytics opens only at the first prediction (not a .pt): the same message, no output folder left
    assert main(["detect", str(src / "a.png"), "--model", str(src / "a.png"), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "not a YOLO model Ultralytics can load" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_attach_warns_on_frames_it_cannot_denoise(no_network: list[object]) -> None:
    from ultralytics import YOLO

    model = attach(YOLO("yolo11n.yaml"), cvdenoise.load("fast"))
    with pytest.warns(RuntimeWarning, match="undenoised"):
        model.predict(torch.rand(1, 3, 160, 160), imgsz=160, verbose=False)
    assert hooks_of(model).denoise_ms == []  # type: ignore[union-attr]  (no time booked for it)


def test_detect_reads_12_bit_and_float_stills_at_their_own_scale(
    no_network: list[object], tmp_path: Path, frame: np.ndarray
) -> None:
    src = tmp_path / "imgs"
    src.mkdir()
    gray8 = cv2.cvtColor(frame[:160, :160], cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(src / "scan12.png"), gray8.astype(np.uint16) * 16)  # 12-bit data in a 16-bit PNG
    cv2.imwrite(str(src / "linear.tif"), gray8.astype(np.float32) / 255)
    # a PPM whose maxval is 40000: read by its declared scale, as denoise and training read it (was ÷65535)
    at_maxval = np.repeat(np.round(gray8.astype(np.float64) * 40000 / 255).astype(">u2")[:, :, None], 3, axis=2)
    (src / "maxval.ppm").write_bytes(b"P6\n160 160\n40000\n" + at_maxval.tobytes())
    out = tmp_path / "out"
    assert main(["detect", str(src), "-o", str(out), "--model", "yolo26n.yaml", "--imgsz", "160", "-q"]) == 0
    for name in ("scan12.png", "linear.tif", "maxval.ppm"):
        seen = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        if name == "linear.tif":  # a float still's annotated copy is float in [0, 1] too (as denoise writes it)
            assert seen.dtype == np.float32 and seen.max() <= 1.0
            seen = seen * 255
        assert abs(float(seen.mean()) - float(gray8.mean())) < 8, name  # not a dark (÷65535) or failed frame


def test_detect_takes_a_still_of_another_format_named_directly_as_an_image(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .pfm / .jp2 / .ras still came out as <stem>.mp4, a one-frame video (OpenCV opens it as one)."""
    from PIL import Image

    still = tmp_path / "scan.pfm"
    assert cv2.imwrite(str(still), frame[:96, :128].astype(np.float32) / 255)
    out = tmp_path / "out"
    assert main(["detect", str(still), "-o", str(out), "--model", "yolo26n.yaml", "--imgsz", "128", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["scan.pfm", "timing.csv"]
    seen = cv2.imread(str(out / "scan.pfm"), cv2.IMREAD_UNCHANGED)
    assert seen.dtype == np.float32 and seen.shape == (96, 128, 3) and 0.0 <= seen.min() and seen.max() <= 1.0
    assert abs(float(seen.mean()) * 255 - float(frame[:96, :128].mean())) < 8  # (not 0–255 floats)
    one = tmp_path / "one.gif"
    Image.fromarray(frame[:48, :64, ::-1]).save(one)
    assert main(["detect", str(one), "-o", str(tmp_path / "g"), "--model", "yolo26n.yaml", "-q"]) == 2
    err = capsys.readouterr().err
    assert "is a single GIF image, not a clip: convert it to PNG and run detect on that" in err and "cvdenoise denoise" not in err


def test_detect_on_a_folder_of_unreadable_images_builds_no_yolo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every image corrupt: each was reported only after YOLO was built and warmed up."""
    import cvdenoise.integrations.ultralytics as ul

    def no_yolo(model: object) -> None:
        raise AssertionError("YOLO was built for a folder with no readable image")

    monkeypatch.setattr(ul, "load_yolo", no_yolo)
    src = tmp_path / "bad"
    src.mkdir()
    (src / "a.png").write_bytes(b"not an image")
    (src / "b.jpg").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["detect", str(src), "-o", str(out), "--model", "yolo26n.yaml", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("FAILED ") == 2 and "a.png" in err and "b.jpg" in err and not out.exists()


def test_detect_checks_its_arguments_and_the_video_before_building_yolo(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cvdenoise.integrations.ultralytics as ul

    def no_yolo(model: object) -> None:
        raise AssertionError("YOLO was built before the arguments were checked")

    monkeypatch.setattr(ul, "load_yolo", no_yolo)
    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    wr.write(frame[:160, :160])
    wr.release()
    out = tmp_path / "out"
    opts = ["--model", "yolo26n.yaml", "-o", str(out), "-q"]
    for bad in (["--imgsz", "0"], ["--imgsz", "-3"], ["--conf", "2"], ["--conf", "nan"]):
        with pytest.raises(SystemExit) as e:
            main(["detect", str(video), *opts, *bad])
        assert e.value.code == 2 and bad[0] in capsys.readouterr().err
    with pytest.raises(ValueError, match="imgsz must be a positive"):
        ul.run_detection(video, "yolo26n.yaml", out, imgsz=0)
    with pytest.raises(ValueError, match=r"conf must be a confidence in \[0, 1\]"):
        ul.run_detection(video, "yolo26n.yaml", out, conf=1.5)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all")
    assert main(["detect", str(garbage), *opts]) == 2
    assert "cannot read video" in capsys.readouterr().err
    afile = tmp_path / "afile.mp4"
    afile.write_bytes(b"x")
    assert main(["detect", str(video), "--model", "yolo26n.yaml", "-o", str(afile), "-q"]) == 2
    assert f"{afile} is a file, not a folder" in capsys.readouterr().err
    twins = tmp_path / "twins"  # x.pgm's annotated frame is x.ppm: it replaced x.ppm's, exit code 0
    twins.mkdir()
    cv2.imwrite(str(twins / "x.pgm"), cv2.cvtColor(frame[:64, :64], cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(twins / "x.ppm"), frame[:64, :64])
    assert main(["detect", str(twins), *opts]) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert not out.exists()  # nothing was created by any refused run
    if Path("/proc/self").is_dir():  # an output folder that cannot be made: said before YOLO is built
        assert main(["detect", str(video), "--model", "yolo26n.yaml", "-o", "/proc/cvdenoise-out", "-q"]) == 2
        assert "output folder /proc/cvdenoise-out cannot be written" in capsys.readouterr().err
    blocked = tmp_path / "blocked"  # a record that cannot be written: the clip's outputs would be left unrecorded
    (blocked / ".cvdenoise-output").mkdir(parents=True)
    assert main(["detect", str(video), "--model", "yolo26n.yaml", "-o", str(blocked), "-q"]) == 2
    assert "cannot record the output in" in capsys.readouterr().err and not (blocked / "clip.mp4").exists()
    thin = tmp_path / "thin.avi"  # frames 1 pixel wide: nothing to encode, said before YOLO is built or out made
    mjpeg_avi(thin, [frame[:64, :1]] * 2, 10.0, [0, 1])
    assert main(["detect", str(thin), *opts]) == 2
    assert "frames of 1x64 are too small to encode" in capsys.readouterr().err and not out.exists()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc")
def test_detect_that_fails_on_its_model_does_not_keep_the_video_open(
    no_network: list[object], tmp_path: Path, frame: np.ndarray
) -> None:
    import cvdenoise.integrations.ultralytics as ul

    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    wr.write(frame[:160, :160])
    wr.release()
    with pytest.raises(FileNotFoundError) as failed:
        ul.run_detection(video, tmp_path / "missing.pt", tmp_path / "out", progress=False)
    open_fds = [fd for fd in Path("/proc/self/fd").iterdir() if os.path.realpath(fd) == str(video.resolve())]
    assert failed.value is not None and open_fds == []  # while the error (and its traceback) lives


def test_detect_on_a_video_with_missing_frames_exits_1_as_video_does(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cvdenoise.video as video_module

    clip = [np.ascontiguousarray(frame[:160, :160])] * 2
    monkeypatch.setattr(video_module, "read_video", lambda p: (iter(clip), 10.0, (160, 160), 5))  # the header claims 5
    (tmp_path / "clip.avi").write_bytes(b"")
    out = tmp_path / "out"
    code = main(["detect", str(tmp_path / "clip.avi"), "--model", "yolo26n.yaml", "-o", str(out), "--imgsz", "160", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "3 of its 5 frames could not be decoded" in err and (out / "clip.mp4").is_file()
    assert err.count("could not be decoded") == 1  # (a FAILED line; the warning said it twice)


def test_detect_on_a_clip_that_holds_frames_keeps_its_timing_and_exits_0(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str],
) -> None:
    """Empty AVI index entries (held frames) were taken for damage: exit 1 and a shorter video."""
    from helpers import mjpeg_avi

    from cvdenoise.video import read_video

    shots = [np.ascontiguousarray(np.roll(frame[:160, :160], 9 * i, axis=1)) for i in range(3)]
    mjpeg_avi(tmp_path / "held.avi", shots, 10, [0, None, None, 1, 2])
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "held.avi"), "--model", "yolo26n.yaml", "-o", str(out), "--imgsz", "160", "-q"]) == 0
    assert "could not be decoded" not in capsys.readouterr().err
    assert len(list(read_video(out / "held.mp4")[0])) == 5
    rows = list(csv.reader((out / "held.timing.csv").open()))[1:]
    assert [r[0] for r in rows] == ["000000", "000003", "000004"]


def test_run_detection_warns_of_missing_frames_at_the_callers_line_naming_the_output_as_given(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cvdenoise.video as video_module
    from cvdenoise.integrations.ultralytics import run_detection
    from cvdenoise.video import TruncatedVideoWarning

    clip = [np.ascontiguousarray(frame[:160, :160])] * 2
    monkeypatch.setattr(video_module, "read_video", lambda p: (iter(clip), 10.0, (160, 160), 5))  # the header claims 5
    monkeypatch.chdir(tmp_path)
    Path("clip.avi").write_bytes(b"")
    with pytest.warns(TruncatedVideoWarning) as caught:
        run = run_detection("clip.avi", "yolo26n.yaml", "out", imgsz=160, progress=False)
    [w] = [w for w in caught if issubclass(w.category, TruncatedVideoWarning)]
    assert w.filename == __file__ and f"; {Path('out', 'clip.mp4')} holds the others" in str(w.message)
    assert run.failed and Path("out/clip.mp4").is_file()


def test_detect_after_a_failed_video_write_leaves_nothing_that_blocks_a_rerun(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cvdenoise.video as video_module

    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    for i in range(3):
        wr.write(np.roll(frame[:160, :160], i * 4, axis=1))
    wr.release()
    out = tmp_path / "out"
    opts = ["--model", "yolo26n.yaml", "-o", str(out), "--imgsz", "160", "-q"]
    with monkeypatch.context() as m:
        m.setattr(video_module.cv2, "VideoWriter", disk_full_writer(0.5))
        assert main(["detect", str(video), *opts]) == 2
    assert f"writing {out / 'clip.mp4'} failed" in capsys.readouterr().err
    assert not (out / "clip.mp4").exists() and not (out / "clip.timing.csv").exists()
    assert main(["detect", str(video), *opts]) == 0  # the rerun is not blocked by debris
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert len(list(csv.DictReader((out / "clip.timing.csv").open()))) == 3
    (tmp_path / "other.avi").write_bytes(video.read_bytes())  # a second clip into the same folder keeps both timings
    assert main(["detect", str(tmp_path / "other.avi"), *opts]) == 0
    assert "other.timing.csv" in capsys.readouterr().out
    assert all(len(list(csv.DictReader((out / f"{n}.timing.csv").open()))) == 3 for n in ("clip", "other"))


def test_detect_refuses_to_replace_another_clip_of_the_same_name(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two clips of one stem into one -o: the second used to replace the first's annotated video
    and timing CSV silently (exit 0). The record names the clip each was written from."""
    clips = [tmp_path / "clip.avi", tmp_path / "b" / "clip.avi"]
    clips[1].parent.mkdir()
    for shift, video in enumerate(clips):
        wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
        for i in range(2):
            wr.write(np.roll(frame[:160, :160], (i + shift) * 4, axis=1))
        wr.release()
    out = tmp_path / "out"
    opts = ["--model", "yolo26n.yaml", "-o", str(out), "--imgsz", "160", "-q"]
    assert main(["detect", str(clips[0]), *opts]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in (out / "clip.mp4", out / "clip.timing.csv")}
    assert main(["detect", str(clips[1]), *opts]) == 2
    err = capsys.readouterr().err
    assert "another clip of the same name" in err and str(clips[0].resolve()) in err, err
    assert {p.name: p.read_bytes() for p in (out / "clip.mp4", out / "clip.timing.csv")} == before
    assert main(["detect", str(clips[0]), *opts]) == 0  # the same clip again: replaced, as before
    assert main(["detect", str(clips[1]), *opts, "--overwrite"]) == 0
    assert main(["detect", str(clips[1]), *opts]) == 0  # now the record names the second clip


def test_detect_plan_tells_another_clip_from_the_same_one_by_another_path(tmp_path: Path) -> None:
    """Refused: a clip of the same stem that is another file while the recorded one is still
    there. Not refused: the same clip through a link, a link since pointed elsewhere (a daily
    ``latest.avi``), a recorded clip since moved or deleted, outputs recorded without their clip
    (older versions: a 3-element line, no source line), ``overwrite``; and the record's source
    lines survive its compaction, the latest counting."""
    from cvdenoise.folder import OUTPUT_MARKER, Job, OutputRecords, mark_output, recorded_source
    from cvdenoise.integrations.ultralytics import _plan_detection

    out = tmp_path / "out"
    out.mkdir()
    a, b = tmp_path / "a" / "clip.avi", tmp_path / "b" / "clip.avi"
    for clip in (a, b):
        clip.parent.mkdir()
        clip.write_bytes(clip.parent.name.encode())

    def made_from(src: Path) -> None:  # what a finished detect run leaves: the outputs and their record
        for name in ("clip.mp4", "clip.timing.csv"):
            (out / name).write_bytes(os.urandom(64))
            mark_output(Job(src, out / name, out / OUTPUT_MARKER, record_source=True))

    def plan(src: Path, overwrite: bool = False) -> object:
        return _plan_detection(src, out, overwrite, 320, 0.25)

    made_from(a)
    assert recorded_source(out / "clip.mp4") == str(a.absolute())
    with pytest.raises(ValueError, match=rf"another clip of the same name, {a.absolute()}"):
        plan(b)
    plan(b, overwrite=True)
    plan(a)
    link = tmp_path / "latest.avi"
    link.symlink_to(a)
    plan(link)  # the same file by another name
    made_from(link)
    link.unlink()
    link.symlink_to(b)
    plan(link)  # the link the record names, now to another file: the same path
    (out / "clip.timing.csv").write_bytes(os.urandom(64))  # the CSV alone, made from `a` (record below)
    mark_output(Job(a, out / "clip.timing.csv", out / OUTPUT_MARKER, record_source=True))
    with pytest.raises(ValueError, match=r"clip.timing.csv holds what an earlier run wrote for another clip"):
        plan(b)
    moved = tmp_path / "moved.avi"
    a.rename(moved)
    plan(b)  # the recorded clip is gone: not taken for another one
    moved.rename(a)
    for name in ("clip.mp4", "clip.timing.csv"):  # an older version's record: no source line
        (out / name).write_bytes(os.urandom(64))
        OutputRecords().record(out / OUTPUT_MARKER, out / name)
    assert recorded_source(out / "clip.mp4") is None
    plan(b)
    made_from(a)
    made_from(b)  # the latest source line of each output counts, also after the record is compacted
    records = OutputRecords()
    with (out / OUTPUT_MARKER).open("r+b") as f:
        records._compact(out / OUTPUT_MARKER, f)
    text = (out / OUTPUT_MARKER).read_text()
    assert text.count('"source"') == 2 and str(a.absolute()) not in text, text
    assert recorded_source(out / "clip.mp4") == str(b.absolute())
    assert records.ours(out / "clip.mp4")


def test_detect_writes_gray_pgm_as_ppm_and_names_dicom_and_bad_files_once(
    no_network: list[object], tmp_path: Path, frame: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "imgs"
    src.mkdir()
    cv2.imwrite(str(src / "gray.pgm"), cv2.cvtColor(frame[:160, :160], cv2.COLOR_BGR2GRAY))
    (src / "scan.dcm").write_bytes(b"DICM")  # left out, with a FAILED line
    (src / "bad.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    opts = ["--model", "yolo26n.yaml", "--imgsz", "160", "-q"]
    assert main(["detect", str(src), "-o", str(out), *opts]) == 1
    err = capsys.readouterr().err
    assert (out / "gray.ppm").is_file() and cv2.imread(str(out / "gray.ppm")).shape == (160, 160, 3)
    assert [r["frame"] for r in csv.DictReader((out / "timing.csv").open())] == ["gray.ppm"]
    assert "scan.dcm: DICOM" in err
    bad_line = next(line for line in err.splitlines() if "bad.png" in line)
    assert bad_line.count(str(src / "bad.png")) == 1 and "ImageReadError" in bad_line
    # a DICOM source, and -o that looks like a file name: refused before anything is built
    assert main(["detect", str(src / "scan.dcm"), "-o", str(tmp_path / "o"), *opts]) == 2
    assert "not DICOM" in capsys.readouterr().err
    assert main(["detect", str(src / "gray.pgm"), "-o", str(tmp_path / "result.mp4"), *opts]) == 2
    assert "names the output folder, but looks like a file name" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "result.mp4").exists()


def test_validation_inside_training_is_left_alone_and_training_warns() -> None:
    """attach() + model.train(): the in-training validator saw denoised batches while the training
    batches were not denoised (mAP and best.pt measured on other inputs than trained on)."""
    from types import SimpleNamespace

    from cvdenoise.integrations.ultralytics import DenoiseHooks

    hooks = DenoiseHooks(cvdenoise.load("fast", half=False))
    original = lambda batch: batch  # noqa: E731
    validator = SimpleNamespace(training=True, preprocess=original)
    hooks.on_val_start(validator)
    assert validator.preprocess is original
    standalone = SimpleNamespace(training=False, preprocess=original)
    hooks.on_val_start(standalone)
    assert standalone.preprocess is not original  # model.val(): denoised

    class Trainer:  # (Ultralytics' trainer: its validator is built after on_pretrain_routine_start)
        validator: object = None

    trainer = Trainer()
    with pytest.warns(UserWarning, match=r"model.train\(\) trains on the dataset's images as they are"):
        hooks.on_pretrain_routine_start(trainer)
    final = trainer.validator = SimpleNamespace(training=False, preprocess=original)  # its final evaluation of best.pt
    hooks.on_val_start(final)
    assert final.preprocess is original
    # a train() that raised never reaches on_train_end: a later model.val() was left undenoised for good
    meanwhile = SimpleNamespace(training=False, preprocess=original)
    hooks.on_val_start(meanwhile)
    assert meanwhile.preprocess is not original
    hooks.on_train_end(trainer)
    after = SimpleNamespace(training=False, preprocess=original)
    hooks.on_val_start(after)  # model.val() after training: denoised again
    assert after.preprocess is not original
    # a classification dataset's batches (normalised floats) pass undenoised: said once, not silently
    with pytest.warns(RuntimeWarning, match="not uint8 images"):
        after.preprocess({"img": torch.zeros(2, 3, 8, 8)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after.preprocess({"img": torch.zeros(2, 3, 8, 8)})
    assert hooks.denoise_ms == []
    after.preprocess({"img": torch.zeros(2, 3, 16, 16, dtype=torch.uint8)})
    assert len(hooks.denoise_ms) == 2


def test_offline_config_folder_is_private_and_font_links_are_replaced_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import os

    import cvdenoise.integrations.ultralytics as integration

    monkeypatch.setattr(integration.tempfile, "gettempdir", lambda: str(tmp_path))
    cfg = integration._private_config_dir()
    tag = integration._installation_tag()
    assert len(tag) == 8 and cfg.name == f"cvdenoise-ultralytics-{os.getuid()}-{tag}" and (os.stat(cfg).st_mode & 0o777) == 0o700
    # another installation (another checkout's venv) gets its own folder: one shared folder kept the settings of
    # the checkout that made it, so the second checkout's val(plots=True) wrote into the first one's runs/ (audit s59)
    class Spec:
        origin = str(tmp_path / "other-venv" / "ultralytics" / "__init__.py")

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: Spec())
    assert integration._private_config_dir() not in (cfg, None) and integration._installation_tag() != tag
    monkeypatch.undo()
    monkeypatch.setattr(integration.tempfile, "gettempdir", lambda: str(tmp_path))
    cfg.rmdir()
    cfg.symlink_to(tmp_path / "elsewhere")  # the name taken by a link (another user's trap): not used
    other = integration._private_config_dir()
    assert other != cfg and other.is_dir() and not other.is_symlink()
    planted = tmp_path / "planted"
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "Arial.ttf").symlink_to(planted)  # a dangling link where the font goes
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(trap))
    monkeypatch.setattr(integration, "_put_fonts", integration._put_fonts)  # (real copy)
    integration._put_fonts(trap)
    assert not planted.exists()  # the link was replaced by the font, not written through
    assert (trap / "Arial.ttf").is_file() and not (trap / "Arial.ttf").is_symlink()


def test_configure_offline_after_importing_ultralytics_puts_fonts_where_it_looks(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import ultralytics.utils

    monkeypatch.setattr(ultralytics.utils, "USER_CONFIG_DIR", tmp_path / "late")
    monkeypatch.setenv("YOLO_CONFIG_DIR", os.environ["YOLO_CONFIG_DIR"])
    import ultralytics.utils.checks

    for flag in ("AUTOINSTALL", "ONLINE"):  # read from the environment at its import: as if it had been online
        monkeypatch.setattr(ultralytics.utils.checks, flag, True)
        monkeypatch.setattr(ultralytics.utils, flag, True)
    configure_offline()
    assert (tmp_path / "late" / "Arial.ttf").is_file()  # else plotting downloads it (Ultralytics fixed its folder at import)
    # else its PIL patch tries `pip install pi-heif` for any file PIL cannot identify (a .pfm, say)
    assert not ultralytics.utils.checks.AUTOINSTALL and not ultralytics.utils.checks.ONLINE
    assert not ultralytics.utils.AUTOINSTALL and not ultralytics.utils.ONLINE


def test_an_interrupted_image_run_keeps_the_timing_of_what_it_wrote(no_network: list[object], tmp_path: Path,
                                                                     frame: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C kept the annotated images but wrote no timing.csv for them
    from cvdenoise.integrations.ultralytics import run_detection
    from cvdenoise.video import FrameFilter

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(src / name), frame[:96, :96])
    calls = {"n": 0}
    original = FrameFilter.__call__

    def interrupted_at_the_third(self: FrameFilter, f: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, f)

    monkeypatch.setattr(FrameFilter, "__call__", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_detection(src, "yolo26n.yaml", tmp_path / "out", imgsz=96, progress=False,
                      denoiser=cvdenoise.load("fast", half=False))
    rows = list(csv.DictReader((tmp_path / "out" / "timing.csv").open()))
    assert [r["frame"] for r in rows] == ["a.png", "b.png"] and (tmp_path / "out" / "b.png").is_file()
    # Ctrl-C after the timing, before the write: no row for the image not written
    import cvdenoise.integrations.ultralytics as yolo_module

    monkeypatch.setattr(FrameFilter, "__call__", original)
    assert yolo_module.run_detection is run_detection

    def write_interrupted(path: object, image: object, *a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cvdenoise.io.write_image", write_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_detection(src, "yolo26n.yaml", tmp_path / "out2", imgsz=96, progress=False,
                      denoiser=cvdenoise.load("fast", half=False))
    assert not (tmp_path / "out2" / "timing.csv").exists()  # (nothing written, no rows)
    assert not (tmp_path / "out2").exists()  # nor the folder made for them (it was left, empty)


def test_detect_decodes_each_image_once(no_network: list[object], tmp_path: Path, frame: np.ndarray,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The check that some image reads (before YOLO is built) decoded the first image, then the run again."""
    import cvdenoise.io as io

    real, decoded = io.read_image, []

    def counting(path: object, *a: object, **k: object) -> np.ndarray:
        decoded.append(Path(str(path)).name)
        return real(path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(io, "read_image", counting)
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes(b"not an image")  # a bad file before the first good one: reported once
    for name in ("b.png", "c.png"):
        cv2.imwrite(str(src / name), frame[:96, :128])
    assert main(["detect", str(src), "-o", str(tmp_path / "out"), "--model", "yolo26n.yaml", "--imgsz", "96", "-q"]) == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["b.png", "c.png"]
    assert sorted(decoded) == ["a.png", "b.png", "c.png"], decoded  # the bad one tried once too
    assert capsys.readouterr().err.count("a.png") == 1
