"""Cost of candidate architectures on this CPU: parameters, MACs per pixel, latency per 640² frame.

Run:  python benchmarks/arch.py [--threads 2] [--size 640]
      python benchmarks/arch.py --candidate "80 112 176 256 / 3 2 3 4 / 3 2 2"   (widths / enc / dec)

Untrained models with random weights (latency does not depend on the weights): the named
sizes (``fast``, ``default``) and candidate sizes for the next accelerator training: the model
alone, as the Denoiser calls it on a CPU (float32, channels-last, ``torch.inference_mode``,
batch 1, RGB), without the Denoiser's border padding and uint8 conversions.
Median of 5 runs after a warm-up, all in one process, so the ratios to ``default`` are the
figures to compare across machines. Writes ``benchmarks/results/arch.json`` and the ``arch``
section of RESULTS.md (skipped with ``--no-write``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, median_time, write_section  # noqa: E402

from cvdenoise.model import CONFIGS, DenoiseAutoencoder, ModelConfig, count_macs, count_params  # noqa: E402

#: the stage-5 default (gray-default's size) and candidates for a larger ``default``
#: (widths / encoder blocks / decoder blocks; unshuffle 2)
CANDIDATES = [
    "48 96 160 256 / 2 2 3 4 / 2 2 2",
    "80 112 176 256 / 3 2 3 4 / 3 2 2",
    "96 128 192 256 / 2 2 3 4 / 2 2 2",
]


def parse(spec: str) -> ModelConfig:
    """``"w0 w1 … / e0 e1 … / d0 …"`` → ModelConfig (3 channels, unshuffle 2)."""
    parts = [tuple(int(v) for v in p.split()) for p in spec.split("/")]
    if len(parts) != 3:
        raise ValueError(f"candidate {spec!r}: expected 'widths / enc_blocks / dec_blocks'")
    return ModelConfig(widths=parts[0], enc_blocks=parts[1], dec_blocks=parts[2])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--candidate", action="append", default=None, help="widths / enc / dec (repeatable)")
    add_write_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    configs = {name: CONFIGS[name] for name in ("fast", "default")}
    configs.update({spec: parse(spec) for spec in (args.candidate or CANDIDATES)})
    x = torch.rand(1, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    rows, data = [], {}
    for name, cfg in configs.items():
        model = DenoiseAutoencoder(cfg).eval().to(memory_format=torch.channels_last)
        with torch.inference_mode():
            ms = median_time(lambda: model(x), repeats=5) * 1e3
        data[name] = {"config": cfg.to_dict(), "parameters": count_params(model), "macs_per_pixel": count_macs(model), "ms": ms}
        print(f"{name}: {ms:.0f} ms", flush=True)
    ref = data["default"]["ms"]
    for name, d in data.items():
        rows.append([name, f"{d['parameters'] / 1e6:.2f} M", f"{d['macs_per_pixel'] / 1e3:.0f} k", f"{d['ms']:.0f}", f"{d['ms'] / ref:.2f}"])
    table = markdown_table(["architecture", "params", "MACs/px", f"ms per {args.size}² RGB", "× default"], rows)
    print(table)
    if not args.no_write:
        md = (
            f"## Architecture cost (`python benchmarks/arch.py`)\n\n{machine()}; float32, channels-last, "
            f"batch 1, median of 5. Candidates are `widths / encoder blocks / decoder blocks` "
            f"(pixel-unshuffle 2), untrained.\n\n{table}\n"
        )
        write_section("arch", md, {"machine": machine(), "size": args.size, "models": data})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
