"""Shared helpers of the benchmark scripts: timing, tables, RESULTS.md sections."""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch

from cvdenoise.denoiser import cpu_bf16_units

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
OUT = HERE / "results"


def median_time(fn: Callable[[], Any], repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line naming what the figures were measured on (timings differ across CPUs)."""
    units = cpu_bf16_units() or "no bf16 units"
    isa = torch.backends.cpu.get_cpu_capability()  # e.g. AVX2, AVX512: which kernels torch runs
    return (f"{platform.machine()} {cpu_name()} ({units}; torch CPU capability {isa}), {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def write_section(name: str, markdown: str, data: dict[str, Any]) -> None:
    """Replace the ``name`` section of RESULTS.md and write ``results/<name>.json``."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    text = RESULTS.read_text() if RESULTS.exists() else "# cvdenoise benchmark results\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def publish(name: str, heading: str, text: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
            data: dict[str, Any], write: bool = True) -> str:
    """Print the table of ``rows`` and (unless ``write`` is false) write it, under ``## heading``
    and ``text``, as the ``name`` section of RESULTS.md (with ``data`` as
    ``results/<name>.json``); returns the table."""
    table = markdown_table(header, rows)
    print(table)
    if write:
        write_section(name, f"## {heading}\n\n{text}\n\n{table}\n", data)
    return table


def add_write_option(ap: argparse.ArgumentParser) -> None:
    """``--no-write``: print the table only (also implied by ``--quick``)."""
    quick = any("--quick" in a.option_strings for a in ap._actions)
    ap.add_argument("--no-write", action="store_true",
                    help="print only; leave RESULTS.md and results/ alone" + (" (a --quick run never writes)" if quick else ""))


def should_write(args: argparse.Namespace) -> bool:
    """Whether this run may replace its RESULTS.md section: not with ``--no-write``, and never
    for a ``--quick`` smoke run (its small figures would replace the published ones)."""
    if getattr(args, "no_write", False) or getattr(args, "quick", False):
        print("(--no-write / --quick: RESULTS.md and results/ left unchanged)")
        return False
    return True


def models_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser (description: ``doc``'s first line) with ``--weights`` (default:
    ``default fast``); add the script's own options, then :func:`parse_models_args`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=["default", "fast"])
    return ap


def parse_models_args(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """Add ``--no-write`` and ``--threads`` (default 2), parse, and set torch's thread count."""
    add_write_option(ap)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def photo_args(doc: str, crop: int) -> argparse.Namespace:
    """The options of a benchmark over the quality photos: ``--weights``, ``--crop`` and ``--no-write``."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--weights", nargs="+", default=["fast", "default"])
    ap.add_argument("--crop", type=int, default=crop)
    add_write_option(ap)
    return ap.parse_args()


def training_crops(root: Path, sets: list[str], crop: int = 256) -> list[np.ndarray]:
    """Centre crops of every ``step``-th photo of each ``folder:step`` in ``sets`` under ``root``."""
    files: list[Path] = []
    for entry in sets:
        folder, _, step = entry.partition(":")
        files += sorted((root / folder).glob("*"))[:: int(step or 1)]
    out = []
    for f in files:
        im = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if im is None or min(im.shape[:2]) < 200:
            continue
        h, w = im.shape[:2]
        c = min(crop, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        out.append(np.ascontiguousarray(im[y : y + c, x : x + c, ::-1]))
    if not out:
        raise SystemExit(f"no training photos under {root} (build them: python scripts/training_photos.py {root})")
    return out
