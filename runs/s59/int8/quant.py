"""s59 experiment: onnxruntime static int8 quantization (QDQ, per-channel weights) of the `fast` ONNX export, for CPUs
without fast bfloat16: latency against the fp32 export and PSNR on the quality benchmark's photos.

    python runs/s59/int8/quant.py [fast|default] [--threads 2]
"""
from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from quality import photos  # noqa: E402
from upscale import psnr  # noqa: E402

from cvdenoise.export import to_onnx  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("weights", nargs="?", default="fast")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--ops", default="conv", choices=("conv", "all"))
ap.add_argument("--calib", type=int, default=24)
ap.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"))
ap.add_argument("--keep-ends", action="store_true", help="leave the first and last convolutions in float32")
args = ap.parse_args()
out = Path(__file__).resolve().parent
fp32 = out / f"{args.weights}.onnx"
if not fp32.exists():
    to_onnx(fp32, args.weights)
rng = np.random.default_rng(0)


def noisy(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255)


class Calib(CalibrationDataReader):
    """Noisy 128² crops of training photos (P/photos), σ 0–40, float (1,3,H,W) in [0,1]."""

    def __init__(self, n: int) -> None:
        files = sorted(glob.glob(str(ROOT / "P/photos/*.jpg")))
        self.items = []
        for f in files:
            im = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
            im = cv2.resize(im, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
            h, w = im.shape[:2]
            if min(h, w) < 128:
                continue
            if len(self.items) == n:
                break
            i = len(self.items)
            y, x = rng.integers(0, max(1, h - 128)), rng.integers(0, max(1, w - 128))
            crop = im[y:y + 128, x:x + 128]
            x_ = noisy(crop, [0, 5, 15, 25, 40][i % 5]) / 255
            self.items.append({"image": x_.transpose(2, 0, 1)[None].astype(np.float32)})
        self.it = iter(self.items)

    def get_next(self):  # noqa: ANN201
        return next(self.it, None)


tag = f"{args.ops}-{args.method}{'-ends' if args.keep_ends else ''}"
int8 = out / f"{args.weights}-int8-{tag}.onnx"
if not int8.exists():
    import onnx

    kw: dict = {"op_types_to_quantize": ["Conv", "ConvTranspose"]} if args.ops == "conv" else {}
    if args.keep_ends:
        convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("Conv", "ConvTranspose")]
        kw["nodes_to_exclude"] = [convs[0], convs[-1]]
    quantize_static(str(fp32), str(int8), Calib(args.calib), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                                     "entropy": CalibrationMethod.Entropy}[args.method], **kw)


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


sessions = {"fp32": session(fp32), "int8": session(int8)}
frame = (noisy(cv2.resize(list(photos(320, False).values())[0], (640, 640)), 15) / 255).transpose(2, 0, 1)[None].astype(np.float32)
times: dict[str, list[float]] = {k: [] for k in sessions}
for _ in range(2):
    for s in sessions.values():
        s.run(None, {"image": frame})
for _ in range(7):  # interleaved: the same load on both
    for k, s in sessions.items():
        t = time.perf_counter()
        s.run(None, {"image": frame})
        times[k].append(time.perf_counter() - t)
med = {k: 1000 * float(np.median(v)) for k, v in times.items()}
print(f"{args.weights} 640x640, {args.threads} threads: fp32 {med['fp32']:.0f} ms, int8 ({tag}) {med['int8']:.0f} ms, "
      f"ratio {med['int8'] / med['fp32']:.2f}")

imgs = list(photos(320, False).values())
for sigma in (15, 25, 50):
    res = {k: [] for k in sessions}
    for i, im in enumerate(imgs):
        x = noisy(im, sigma).round() / 255
        inp = x.transpose(2, 0, 1)[None].astype(np.float32)
        for k, s in sessions.items():
            y = s.run(None, {"image": inp})[0][0].transpose(1, 2, 0)
            res[k].append(psnr((np.clip(y, 0, 1) * 255).round().astype(np.uint8), im))
    print(f"σ{sigma}: fp32 {np.mean(res['fp32']):.2f} dB, int8 {np.mean(res['int8']):.2f} dB "
          f"({np.mean(res['int8']) - np.mean(res['fp32']):+.2f})", flush=True)
