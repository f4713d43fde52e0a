"""Where a warning should point: the user's line, not a line inside cvdenoise."""

from __future__ import annotations

import os
import sys
import threading

#: held around every ``warnings.catch_warnings()`` block of cvdenoise: before Python 3.14 such a block
#: saves and restores the process-wide filter list, so two threads' blocks interleaved left one's
#: "ignore" in place for the whole process (every later UserWarning dropped)
WARNINGS_LOCK = threading.RLock()

#: packages whose frames stand between a user's call and cvdenoise (a v2 transform pipeline, an
#: albumentations Compose): a warning points past them too (only those already imported are looked up)
_CALLERS = ("torch", "torchvision", "albumentations")


def user_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel, for a warning issued by the function that calls this one,
    of the first frame outside cvdenoise and the packages of :data:`_CALLERS`: the user's line,
    however deep cvdenoise's own calls go (a PIL image or masked array is denoised through a
    second ``Denoiser.__call__``; a transform reaches it through torchvision's call chain)."""
    modules = [sys.modules[__package__ or "cvdenoise"], *(sys.modules[n] for n in _CALLERS if n in sys.modules)]
    ours = tuple(os.path.dirname(getattr(m, "__file__", None) or "") + os.sep for m in modules)
    level, frame = 1, sys._getframe(1)  # 1: the caller, which calls warnings.warn
    while frame.f_code.co_filename.startswith(ours) and frame.f_back is not None:
        frame, level = frame.f_back, level + 1
    return level
