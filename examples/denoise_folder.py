"""Denoise a folder of images from Python (the library twin of ``cvdenoise denoise``).

    python examples/denoise_folder.py [INPUT_DIR] [OUTPUT_DIR]

Defaults to the bundled noisy photos in examples/data and writes to examples/out/. Outputs keep
relative paths, formats and bit depth; unreadable files are reported, not fatal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cvdenoise
from cvdenoise.folder import denoise_files, plan_jobs

HERE = Path(__file__).resolve().parent


def main(src: Path = HERE / "data", dst: Path = HERE / "out") -> int:
    try:  # a missing input, an output over the input or files of yours in the way: one line, exit 2
        jobs = plan_jobs([src], dst)
    except (OSError, ValueError) as e:
        print(f"denoise_folder.py: error: {e}", file=sys.stderr)
        return 2
    report = denoise_files(jobs, cvdenoise.load("default"))
    print(f"wrote {len(report.written)} of {len(jobs)} images to {dst}")
    for path, reason in report.failed:
        print(f"FAILED {path}: {reason}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    raise SystemExit(main(*args))
