"""GPU throughput of the Denoiser in float16: frames per second on a CUDA device.

Run:  python benchmarks/gpu.py [--weights fast default ...]   (needs CUDA; exits 0 with a note
      when there is none, writing nothing)

For each weights name and frame size (640×640, 1920×1080): ``Denoiser`` on a float tensor that
already lives on the GPU (batch 1 and 8: the model alone), and ``FrameFilter`` on a BGR uint8
numpy frame (host → device → host each frame, what an OpenCV video loop sees). Median of 10
timed runs after 3 warm-ups, CUDA synchronised. Writes ``benchmarks/results/gpu.json`` and the
``gpu`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, median_time, should_write, write_section  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.video import FrameFilter  # noqa: E402

SIZES = ((640, 640), (1080, 1920))


def _median_s(fn: Callable[[], Any]) -> float:
    """Median seconds of ``fn()`` with the GPU work finished inside each timed call."""

    def synced() -> None:
        fn()
        torch.cuda.synchronize()

    return median_time(synced, repeats=10, warmup=3)


def run(weights: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in weights:
        for h, w in SIZES:
            den = cvdenoise.load(name, device="cuda", half=True)
            for bs in (1, 8):
                x = torch.rand(bs, 3, h, w, device="cuda")
                fps = bs / _median_s(lambda: den(x))
                rows.append({"weights": name, "size": f"{w}×{h}", "input": f"float tensor on GPU, batch {bs}", "fps": fps})
            ff = FrameFilter(name, device="cuda")
            frame = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
            fps = 1 / _median_s(lambda: ff(frame))
            rows.append({"weights": name, "size": f"{w}×{h}", "input": "FrameFilter, BGR uint8 numpy", "fps": fps})
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", default=["fast", "default"])
    add_write_option(ap)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: GPU benchmark skipped (nothing written)")
        return 0
    rows = run(args.weights)
    table = markdown_table(
        ["weights", "frame", "input", "frames/s (fp16)"],
        [[r["weights"], r["size"], r["input"], f"{r['fps']:.1f}"] for r in rows],
    )
    md = (
        "## GPU throughput (`python benchmarks/gpu.py`)\n\n"
        f"Machine: {machine()}, {torch.cuda.get_device_name()}. float16, median of 10 runs.\n\n" + table + "\n"
    )
    if should_write(args):
        write_section("gpu", md, {"machine": machine(), "device": torch.cuda.get_device_name(), "rows": rows})
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
