"""argparse ``type=`` helpers shared by the command lines (``cvdenoise``, ``python -m cvdenoise.train``);
no third-party imports, so ``cvdenoise --help`` stays light."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def path_argument(value: str) -> str:
    """argparse ``type=`` for a path: refuses an empty string, which would mean the working folder
    (an unset shell variable: ``cvdenoise denoise "$SRC" -o "$DST"``)."""
    if not value:
        raise argparse.ArgumentTypeError("empty path (an unset shell variable?)")
    return value


def whole_number(lo: int, hi: int | None, what: str) -> Callable[[str], int]:
    """argparse ``type=`` for a whole number in ``lo..hi`` (``hi`` None: no upper bound); the
    error names ``what`` is expected."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = None
        if n is None or n < lo or (hi is not None and n > hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return n

    return parse


def number_in(lo: float, hi: float, what: str) -> Callable[[str], float]:
    """argparse ``type=`` for a number in ``[lo, hi]``; the error names ``what`` is expected."""

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = math.nan
        if not lo <= x <= hi:  # (NaN fails too)
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return x

    return parse
