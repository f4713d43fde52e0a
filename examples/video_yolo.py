"""Denoise a noisy video in front of an Ultralytics YOLO detector, fully offline.

    pip install 'cvdenoise[yolo]'          # see docs/video-yolo.md, "OpenCV and Ultralytics"
    python examples/video_yolo.py [OUT_DIR]

Makes a short noisy clip from Ultralytics' bundled bus.jpg, then runs denoise → YOLO
(``yolo26n.yaml``: built from its config with random weights, since no ``.pt`` may be
downloaded; pass a local .pt for real detections) with the ``fast`` Denoiser attached through
``cvdenoise.integrations.ultralytics.attach``, and prints the per-frame timing split.
(``cvdenoise detect`` runs a :class:`cvdenoise.FrameFilter` instead, which also keeps gray
clips on the gray model.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from cvdenoise.integrations.ultralytics import attach, configure_offline, hooks_of

try:
    configure_offline()  # before importing ultralytics: no downloads, no update checks
    from ultralytics import YOLO
    from ultralytics.utils import ASSETS
except ImportError as e:  # (this example's own dependency)
    raise SystemExit(f"{e}: this example needs the yolo extra: pip install 'cvdenoise[yolo]'") from None

import cvdenoise  # noqa: E402
from cvdenoise.degrade import Degrader  # noqa: E402


def make_clip(path: Path, frames: int = 6) -> None:
    img = cv2.resize(cv2.imread(str(ASSETS / "bus.jpg")), (384, 480))
    noise = Degrader("gaussian25")
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 480))
    for i in range(frames):
        wr.write(noise(np.roll(img, 4 * i, axis=1), np.random.default_rng(i)))
    wr.release()


def main(out: Path = Path(__file__).resolve().parent / "out") -> None:
    out.mkdir(parents=True, exist_ok=True)
    clip = out / "noisy_bus.avi"
    make_clip(clip)
    model = attach(YOLO("yolo26n.yaml"), cvdenoise.load("fast"), gate=True)  # clean frames pass through
    cap = cv2.VideoCapture(str(clip))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        t = time.perf_counter()
        res = model.predict(frame, imgsz=384, verbose=False)[0]
        total = (time.perf_counter() - t) * 1e3
        den = hooks_of(model).denoise_ms[-1]
        print(f"frame {n}: denoise {den:6.1f} ms, detect {total - den:6.1f} ms, {len(res.boxes)} boxes")
        n += 1
    cap.release()
    print(f"{n} frames; the same from the command line: cvdenoise detect {clip} --model yolo26n.yaml -o {out / 'detect'}")


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])
