"""argparse ``type=`` helpers shared by the command lines (``cvdenoise``, ``python -m cvdenoise.train``);
no third-party imports, so ``cvdenoise --help`` stays light."""

from __future__ import annotations

import argparse


def path_argument(value: str) -> str:
    """argparse ``type=`` for a path: refuses an empty string, which would mean the working folder
    (an unset shell variable: ``cvdenoise denoise "$SRC" -o "$DST"``)."""
    if not value:
        raise argparse.ArgumentTypeError("empty path (an unset shell variable?)")
    return value
