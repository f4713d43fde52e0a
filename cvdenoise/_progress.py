"""Progress bars for long work: tqdm on stderr, calmer when stderr is a log file, not a terminal."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["LOG_INTERVAL", "progress_bar"]

#: seconds between updates when stderr is no terminal (a CI, cron, nohup or SLURM log shows each
#: ``\r`` update as a line of its own: tqdm's default 0.1 s gives ~20 000 lines an hour)
LOG_INTERVAL = 30.0


def _interactive() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """``tqdm(*args, **kwargs)`` that updates at most every :data:`LOG_INTERVAL` seconds when
    stderr is not a terminal (``mininterval`` given by the caller is kept as a lower bound)."""
    if not _interactive():  # (maxinterval too: tqdm's monitor thread would refresh every 10 s)
        kwargs["mininterval"] = max(LOG_INTERVAL, float(kwargs.get("mininterval", 0.1)))
        kwargs["maxinterval"] = max(kwargs["mininterval"], float(kwargs.get("maxinterval", 10.0)))
    return tqdm(*args, **kwargs)
