"""Shared fixtures: test images are made here (skimage's bundled photos + synthetic noise)."""

from __future__ import annotations

import os
from typing import Iterator

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pytest
import torch

import cvdenoise


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler (``KeyboardInterrupt``) for the test, whatever the test run
    inherited: a shell that starts it in the background (``pytest &``) leaves SIGINT ignored."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def clean_rgb() -> np.ndarray:
    """A real photo, 256×256 RGB uint8 (skimage ships it; no download)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[64:320, 128:384])


@pytest.fixture(scope="session")
def clean_gray() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.camera()[128:384, 128:384])


@pytest.fixture(scope="session")
def fast() -> cvdenoise.Denoiser:
    return cvdenoise.load("fast")


@pytest.fixture(scope="session")
def default() -> cvdenoise.Denoiser:
    return cvdenoise.load("default")


@pytest.fixture(autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(2)
