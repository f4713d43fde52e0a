"""Training-pair throughput: the albumentations chain vs the batched torch chain, on this CPU.

Run:  python benchmarks/data.py [--crop 128] [--preset noise]

One torch thread (what each data-loader worker gets). Clean crops come from six scikit-image
photos plus 30 % dead leaves (the training default); each row makes batches of 32 pairs:
``PairSampler.batch(32)`` (every crop degraded by ``cvdenoise.degrade.Degrader``),
``PairSampler.batch(32, 0)`` + ``TorchDegrader`` (what ``cvdenoise train --device-degrade 1``
does, here on the CPU), and the clean crops alone (what the workers still do for a batch that
is degraded on a GPU). Median of 5 timed batches after 2 warm-ups. Writes
``benchmarks/results/data.json`` and the ``data`` section of RESULTS.md.
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

from cvdenoise.data import PairSampler  # noqa: E402
from cvdenoise.degrade_torch import TorchDegrader  # noqa: E402

BATCH = 32


def _photos() -> list[np.ndarray]:
    from skimage import data as skdata

    imgs = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.retina(), skdata.brick()]
    out = []
    for im in imgs:
        im = np.stack([im] * 3, 2) if im.ndim == 2 else im[:, :, :3]
        out.append(np.ascontiguousarray(im, dtype=np.float32) / 255)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--preset", default="noise")
    add_write_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sampler = PairSampler(_photos(), crop=args.crop, degradation=args.preset, seed=0)
    device_chain = TorchDegrader(args.preset, seed=0)

    def torch_chain() -> None:
        _, clean = sampler.batch(BATCH, 0)
        device_chain(clean)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("albumentations chain (Degrader)", lambda: sampler.batch(BATCH)),
        ("torch chain (TorchDegrader, CPU)", torch_chain),
        ("clean crops only", lambda: sampler.batch(BATCH, 0)),
    ]
    rows = []
    for name, fn in cases:
        rows.append({"source": name, "pairs_per_s": BATCH / median_time(fn, repeats=5, warmup=2)})
        print(rows[-1], flush=True)
    base = rows[0]["pairs_per_s"]
    table = markdown_table(
        ["pairs made by", "pairs/s (1 thread)", "vs albumentations"],
        [[r["source"], f"{r['pairs_per_s']:.0f}", f"{r['pairs_per_s'] / base:.1f}×"] for r in rows],
    )
    md = (
        f"## Training-pair throughput (`python benchmarks/data.py --crop {args.crop} --preset {args.preset}`)\n\n"
        f"Machine: {machine()}. Crop {args.crop}², preset `{args.preset}`, batches of {BATCH}, "
        "median of 5 batches.\n\n" + table + "\n"
    )
    if should_write(args):
        write_section("data", md, {"machine": machine(), "crop": args.crop, "preset": args.preset, "rows": rows})
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
