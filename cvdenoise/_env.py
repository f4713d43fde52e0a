"""Process-wide switches applied before third-party imports (no network at import time)."""

import os

# albumentations 2.x asks PyPI for a newer release at import unless told not to.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
