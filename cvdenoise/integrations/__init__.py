"""Adapters for third-party augmentation libraries.

Each submodule imports its library on import, so import the one you use explicitly::

    from cvdenoise.integrations.albumentations import Denoise   # albumentations 2.x

The torchvision v2 transform lives in :mod:`cvdenoise.transforms`.
"""

_SUBMODULES = frozenset({"albumentations", "ultralytics"})


def __getattr__(name: str) -> object:
    """``cvdenoise.integrations.albumentations`` after a plain ``import cvdenoise``: imported on first use."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({n for n in globals() if not n.startswith("_") or n.startswith("__")} | _SUBMODULES)
