"""Ultralytics YOLO pre-filter: make a YOLO model see denoised frames.

Optional dependency (AGPL-3.0, ``pip install 'cvdenoise[yolo]'``), imported only here.

* :func:`configure_offline` — call before importing ultralytics: no update checks, no
  auto-install, no settings sync, a private config folder and a local font (no downloads).
* :func:`attach` / :func:`detach` — register / remove callbacks so that ``predict``,
  ``__call__``, ``track`` (``on_predict_batch_start``: the predictor's original BGR frames are
  replaced by denoised ones before YOLO pre-processing) and ``val`` (``on_val_start`` wraps the
  validator's ``preprocess`` to denoise the RGB uint8 batch) see denoised images.

Example::

    from cvdenoise.integrations.ultralytics import attach, configure_offline
    configure_offline()
    from ultralytics import YOLO
    model = attach(YOLO("yolo11n.yaml"))          # default denoiser: cvdenoise.load("fast")
    results = model.predict("frame.jpg")
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..denoiser import Denoiser, load

__all__ = ["configure_offline", "attach", "detach", "hooks_of", "DenoiseHooks", "FrameTiming", "run_detection"]

_ATTR = "_cvdenoise_hooks"


def configure_offline(config_dir: str | Path | None = None) -> Path:
    """Switch Ultralytics to offline operation; returns its config folder.

    Sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=0`` and a private ``YOLO_CONFIG_DIR`` (default
    ``$TMPDIR/cvdenoise-ultralytics``) holding matplotlib's DejaVuSans as ``Arial.ttf`` so
    plotting never downloads a font. Call it before ``import ultralytics``; afterwards it also
    turns settings sync off.
    """
    cfg = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "cvdenoise-ultralytics")
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    for sub in (cfg, cfg / "Ultralytics"):
        sub.mkdir(parents=True, exist_ok=True)
        try:
            import matplotlib

            font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
            for name in ("Arial.ttf", "Arial.Unicode.ttf"):
                if font.is_file() and not (sub / name).exists():
                    shutil.copy(font, sub / name)
        except ImportError:  # pragma: no cover - ultralytics depends on matplotlib
            pass
    import sys

    if "ultralytics" in sys.modules:
        from ultralytics.utils import SETTINGS

        SETTINGS.update({"sync": False})
    return cfg


@dataclass
class DenoiseHooks:
    """The callbacks :func:`attach` registers, and the time they spent (ms per image)."""

    denoiser: Denoiser
    denoise_ms: list[float] = field(default_factory=list)
    callbacks: dict[str, Callable[[Any], None]] = field(default_factory=dict)

    def on_predict_batch_start(self, predictor: Any) -> None:
        im0s = predictor.batch[1]
        t = time.perf_counter()
        for i, im in enumerate(im0s):
            if isinstance(im, np.ndarray) and im.dtype == np.uint8:
                im0s[i] = self.denoiser(im, channel_order="bgr")  # list mutated in place
        self.denoise_ms.append((time.perf_counter() - t) * 1e3 / max(1, len(im0s)))

    def on_val_start(self, validator: Any) -> None:
        if getattr(validator.preprocess, "_cvdenoise", False):
            return
        original = validator.preprocess

        def preprocess(batch: dict[str, Any]) -> dict[str, Any]:
            img = batch["img"]
            if isinstance(img, torch.Tensor) and img.dtype == torch.uint8:
                t = time.perf_counter()
                batch["img"] = self.denoiser(img, channel_order="rgb")  # Format() gives RGB
                self.denoise_ms.append((time.perf_counter() - t) * 1e3 / max(1, img.shape[0]))
            return original(batch)

        preprocess._cvdenoise = True  # type: ignore[attr-defined]
        preprocess._original = original  # type: ignore[attr-defined]
        validator.preprocess = preprocess

    def on_val_end(self, validator: Any) -> None:
        validator.preprocess = getattr(validator.preprocess, "_original", validator.preprocess)


def attach(model: Any, denoiser: Denoiser | None = None) -> Any:
    """Make ``model`` (an ``ultralytics.YOLO``) denoise every frame it predicts, tracks or validates.

    Args:
        model: a YOLO model (``YOLO("yolo11n.yaml")`` or a local ``.pt``).
        denoiser: defaults to ``cvdenoise.load("fast", half="auto")`` (bfloat16 on AMX CPUs).

    Returns ``model`` (attached). Attaching twice replaces the earlier hooks.
    """
    if not hasattr(model, "add_callback") or not hasattr(model, "callbacks"):
        raise TypeError(f"attach() expects an ultralytics YOLO model, got {type(model).__name__}")
    detach(model)
    hooks = DenoiseHooks(denoiser or load("fast", half="auto"))
    hooks.callbacks = {
        "on_predict_batch_start": hooks.on_predict_batch_start,
        "on_val_start": hooks.on_val_start,
        "on_val_end": hooks.on_val_end,
    }
    for event, fn in hooks.callbacks.items():
        model.add_callback(event, fn)
    setattr(model, _ATTR, hooks)
    return model


def detach(model: Any) -> Any:
    """Remove what :func:`attach` added; returns ``model``. A no-op if nothing is attached."""
    hooks: DenoiseHooks | None = getattr(model, _ATTR, None)
    if hooks is None:
        return model
    for event, fn in hooks.callbacks.items():
        fns = model.callbacks.get(event, [])
        model.callbacks[event] = [f for f in fns if f != fn]
    delattr(model, _ATTR)
    return model


def hooks_of(model: Any) -> DenoiseHooks | None:
    """The attached :class:`DenoiseHooks` (for their timings), or None."""
    return getattr(model, _ATTR, None)


@dataclass(frozen=True)
class FrameTiming:
    """Per-frame timing split of :func:`run_detection`."""

    name: str
    denoise_ms: float
    detect_ms: float
    detections: int


def run_detection(
    source: str | Path,
    model: str | Path,
    out: str | Path,
    denoiser: Denoiser | None = None,
    conf: float = 0.25,
    imgsz: int = 640,
    progress: bool = True,
) -> list[FrameTiming]:
    """Denoise → YOLO on an image folder/file or a video; write annotated output and timings.

    Images are written as ``out/<relative path>``; a video as ``out/<stem>.mp4``. A
    ``timing.csv`` (frame, denoise_ms, detect_ms, detections) is written to ``out``.
    ``denoiser=None`` loads ``"fast"``; pass ``strength=0`` in it to measure YOLO alone.
    """
    import csv

    import cv2
    from tqdm import tqdm

    from ..data import IMAGE_SUFFIXES
    from ..io import read_image, write_image
    from ..video import FrameFilter, _FOURCC, read_video

    configure_offline()
    from ultralytics import YOLO

    src, out = Path(source), Path(out)
    yolo = YOLO(str(model))
    ff = FrameFilter(denoiser=denoiser or load("fast", half="auto"))
    timings: list[FrameTiming] = []
    out.mkdir(parents=True, exist_ok=True)

    def process(name: str, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 3 and frame.shape[2] == 2:  # gray + alpha PNG
            frame = frame[..., 0]
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        frame = frame[:, :, :3]
        if frame.dtype != np.uint8:  # 16-bit stills: scale to 8 bit for the detector
            frame = (frame.astype(np.float32) / np.iinfo(frame.dtype).max * 255).round().astype(np.uint8)
        t0 = time.perf_counter()
        clean = ff(frame)
        t1 = time.perf_counter()
        res: Any = list(yolo.predict(clean, conf=conf, imgsz=imgsz, verbose=False))[0]
        t2 = time.perf_counter()
        timings.append(FrameTiming(name, (t1 - t0) * 1e3, (t2 - t1) * 1e3, len(res.boxes)))
        return res.plot()

    if src.is_dir() or src.suffix.lower() in IMAGE_SUFFIXES:
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if src.is_dir() else [src]
        if not files:
            raise ValueError(f"no images found in {src}")
        for f in tqdm(files, desc="detect", unit="img", disable=not progress):
            rel = f.relative_to(src) if src.is_dir() else Path(f.name)
            write_image(out / rel, process(str(rel), read_image(f)))
    else:
        frames, fps, size, count = read_video(src)
        dst = out / f"{src.stem}.mp4"
        writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*_FOURCC[".mp4"]), fps, size)
        try:
            for i, f in enumerate(tqdm(frames, total=count or None, desc="detect", unit="frame", disable=not progress)):
                writer.write(process(f"{i:06d}", f))
        finally:
            writer.release()
    with (out / "timing.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "denoise_ms", "detect_ms", "detections"])
        for t in timings:
            w.writerow([t.name, f"{t.denoise_ms:.2f}", f"{t.detect_ms:.2f}", t.detections])
    return timings
