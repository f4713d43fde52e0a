"""Throughput of cvdenoise in the places it is used: video filter, YOLO pre-filter, DataLoader.

Run:  python benchmarks/pipeline.py          (needs: pip install -e ".[yolo]")

Frames per second on this CPU, all measured in the same run (compare the ratios): FrameFilter
("fast", default ``half="auto"``: bfloat16 on CPUs with AMX or AMD's AVX512-BF16, else float32) alone, the same
filter forced to float32, the same in onnxruntime (``runtime="onnxruntime"``), Ultralytics yolo26n (built from yolo26n.yaml, random weights — speed does not
depend on the weights) alone, and the two chained through ``attach``; at 640×640 and 1280×720
BGR uint8 (YOLO at imgsz=640), all with the same torch thread count (Ultralytics itself lowers
it to ``cpu_count - 1`` when it sets up a CPU device; the table resets it after warm-up). Then images/s of a DataLoader (2 workers, 320² uint8 images)
with and without ``cvdenoise.transforms.Denoise("fast")``. Writes ``results/pipeline.json`` and
the ``pipeline`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, median_time, should_write, write_section  # noqa: E402

from cvdenoise.integrations.ultralytics import attach, configure_offline  # noqa: E402

configure_offline()
from ultralytics import YOLO  # noqa: E402
from ultralytics.utils import ASSETS  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import Degrader  # noqa: E402
from cvdenoise.transforms import Denoise  # noqa: E402


class Noisy(Dataset):
    def __init__(self, n: int, transform: object | None) -> None:
        img = cv2.resize(cv2.imread(str(ASSETS / "bus.jpg")), (320, 320))[:, :, ::-1]
        self.items = [Degrader("gaussian25")(np.ascontiguousarray(img), np.random.default_rng(i)) for i in range(n)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = torch.from_numpy(self.items[i]).permute(2, 0, 1).contiguous()
        return self.transform(x) if self.transform else x


def loader_rate(transform: object | None, n: int) -> float:
    dl = DataLoader(Noisy(n, transform), batch_size=8, num_workers=2)
    t = time.perf_counter()
    count = sum(b.shape[0] for b in dl)
    return count / (time.perf_counter() - t)


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    base = cv2.imread(str(ASSETS / "bus.jpg"))
    ff = cvdenoise.FrameFilter("fast")
    ff32 = cvdenoise.FrameFilter("fast", half=False)
    ff32t = cvdenoise.FrameFilter("fast", runtime="onnxruntime")  # (float32)
    rt32 = ff32t.denoiser.runtime
    prec = ff.denoiser.precision
    yolo = YOLO("yolo26n.yaml")
    chained = attach(YOLO("yolo26n.yaml"), ff.denoiser)
    rows, data = [], {}
    for w, h in ((640, 640), (1280, 720)):
        frame = Degrader("gaussian15")(cv2.resize(base, (w, h)), np.random.default_rng(0))
        for warm in (lambda: ff(frame), lambda: ff32(frame), lambda: ff32t(frame), lambda: yolo.predict(frame, imgsz=640, verbose=False),
                     lambda: chained.predict(frame, imgsz=640, verbose=False)):
            warm()
        # Ultralytics' device setup sets torch to cpu_count-1 threads; time everything alike
        torch.set_num_threads(args.threads)
        t_ff = median_time(lambda: ff(frame), args.repeats)
        t_32 = median_time(lambda: ff32(frame), args.repeats)
        t_32t = median_time(lambda: ff32t(frame), args.repeats)
        t_yolo = median_time(lambda: yolo.predict(frame, imgsz=640, verbose=False), args.repeats)
        t_both = median_time(lambda: chained.predict(frame, imgsz=640, verbose=False), args.repeats)
        data[f"{w}x{h}"] = {"framefilter_ms": t_ff * 1e3, "framefilter_precision": prec,
                             "framefilter_fp32_ms": t_32 * 1e3, "framefilter_fp32_onnxruntime_ms": t_32t * 1e3, "yolo26n_ms": t_yolo * 1e3, "chained_ms": t_both * 1e3}
        rows.append([f"{w}×{h}", f"{t_ff * 1e3:.0f} ms ({1 / t_ff:.1f} fps)", f"{t_32 * 1e3:.0f} ms ({1 / t_32:.1f} fps)",
                     f"{t_32t * 1e3:.0f} ms ({1 / t_32t:.1f} fps)", f"{t_yolo * 1e3:.0f} ms ({1 / t_yolo:.1f} fps)",
                     f"{t_both * 1e3:.0f} ms ({1 / t_both:.1f} fps)", f"{t_ff / t_yolo:.2f}"])
        print(rows[-1], flush=True)
    plain = loader_rate(None, args.images)
    den = loader_rate(Denoise("fast"), args.images)
    den_auto = loader_rate(Denoise("fast", half="auto"), args.images)
    data["dataloader_images_per_s"] = {"without": plain, "with_denoise": den, "with_denoise_half_auto": den_auto,
                                       "half_auto_precision": prec}
    md = f"""## Pipeline throughput (`python benchmarks/pipeline.py`)

Machine: {machine()}. Medians of {args.repeats} runs, same process.

{markdown_table(["frame", f"FrameFilter (fast; load default: {prec})", "FrameFilter (fast, fp32)", f"FrameFilter (fast, fp32, {rt32})", "yolo26n", "FrameFilter → yolo26n", "filter / yolo time"], rows)}

DataLoader (2 workers, batch 8, {args.images} noisy 320×320 uint8 images): {plain:.0f} images/s without the
transform, {den:.1f} images/s with `cvdenoise.transforms.Denoise("fast")` (float32), {den_auto:.1f} images/s with
`Denoise("fast", half="auto")` ({prec} here).
"""
    print(md)
    if should_write(args):
        write_section("pipeline", md, data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--images", type=int, default=48)
    add_write_option(p)
    run(p.parse_args())


if __name__ == "__main__":
    main()
