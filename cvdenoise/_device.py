"""Where and how a model runs on this machine: the device, the precision ``half`` resolves to,
the runtime, and the CPU's bfloat16 units that decide them (``half="auto"``, ``ensemble="auto"``).
Pure functions of the machine and their arguments; :mod:`cvdenoise.denoiser` re-exports them."""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch

from .backends import TORCHSCRIPT_SUFFIXES

__all__ = ["Half", "Precision", "Runtime", "check_half", "cpu_bf16_units", "cpu_flags", "cpu_has_fast_bf16",
           "cpu_runs_two_bf16_passes", "cpu_vendor", "exported_runtime", "resolve_device", "resolve_precision", "resolve_runtime"]

#: where a :class:`~cvdenoise.model.DenoiseAutoencoder` runs: see :func:`resolve_runtime`
Runtime = Literal["torch", "onnxruntime"]
#: what ``half`` resolved to: float32, float16 (CUDA) or bfloat16 (CPU autocast)
Precision = Literal["fp32", "fp16", "bf16"]
#: ``half`` as given: ``True``, ``False`` or ``"auto"``
Half = Union[bool, Literal["auto"]]


def cpu_bf16_units() -> Literal["amx", "avx512_bf16", None]:
    """The hardware this CPU runs bfloat16 convolutions on, or ``None`` where it has none.

    ``"amx"``: Intel AMX tiles (Sapphire Rapids and newer), ~3-4× float32 speed;
    ``"avx512_bf16"``: AVX512-BF16 dot products (AMD Zen 4 and newer, Intel Cooper Lake, and
    Intel CPUs whose AMX a virtual machine hides), ~2× float32 speed on AMD (measured: 480 vs
    1100 ms for ``default`` at 640² on 2 Zen 4 cores) but slower than float32 on Intel (see
    :func:`cpu_has_fast_bf16`). Without either, oneDNN emulates bfloat16 and it is slower than float32.
    """
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        if torch.cpu._is_amx_tile_supported():
            return "amx"
        if torch.cpu._is_avx512_bf16_supported():
            return "avx512_bf16"
    except (AttributeError, RuntimeError):  # older torch or non-x86 build
        pass
    return None


def _cpuinfo(field: str) -> str:
    """The value of ``field`` in the first CPU's entry of Linux's ``/proc/cpuinfo`` (``""`` where
    there is no such file or field)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU as Linux lists them (``/proc/cpuinfo``), or an empty
    set where that file does not exist (macOS, Windows)."""
    return frozenset(_cpuinfo("flags").split())


@functools.cache
def cpu_vendor() -> str:
    """``"AuthenticAMD"``, ``"GenuineIntel"`` (or another CPUID vendor string) from Linux's
    ``/proc/cpuinfo`` or, elsewhere, from ``platform.processor()`` (Windows names it there);
    ``""`` where neither tells."""
    vendor = _cpuinfo("vendor_id")
    if not vendor:
        processor = platform.processor()
        vendor = next((v for v in ("AuthenticAMD", "GenuineIntel") if v in processor), "")
    return vendor


def cpu_runs_two_bf16_passes() -> bool:
    """True where two bfloat16 passes of the ``default`` model take about what one float32 pass
    does: AMX (Intel Sapphire Rapids and newer, ~260 ms per 640² pass on 2 cores), or AVX512-BF16
    together with AVX-VNNI on an AMD CPU, i.e. Zen 5 and newer with full-width 512-bit units (277–334 ms per
    pass, 553–580 ms for two, float32 545–581 ms in ``benchmarks/quality.py`` runs). Zen 4
    (AVX512-BF16 without AVX-VNNI) double-pumps 256-bit units: 480–578 ms per pass, over 1 s for
    two."""
    return cpu_has_fast_bf16() and (cpu_bf16_units() == "amx" or "avx_vnni" in cpu_flags())


def cpu_has_fast_bf16() -> bool:
    """True when bfloat16 convolutions are faster than float32 on this CPU: Intel AMX, or
    AVX512-BF16 on an AMD CPU (Zen 4 and newer). AVX512-BF16 without AMX on an Intel CPU is not:
    on a 2-core Intel Xeon VM that shows AVX512-BF16, AVX-VNNI and AVX512-FP16 but no AMX,
    bfloat16 (oneDNN's ``brg_conv_fwd:avx512_core_bf16``) took 1.6× the float32 time:
    ``default`` 1264 vs 807 ms, ``fast`` 133 vs 85 ms per 640² frame (``benchmarks/quality.py``)."""
    units = cpu_bf16_units()
    return units == "amx" or (units == "avx512_bf16" and cpu_vendor() == "AuthenticAMD")


def check_half(half: object) -> Half:
    """``half`` as ``True``, ``False`` or ``"auto"``: a NumPy bool, ``1`` or ``0`` count as the bool
    they equal (so ``half=np.True_`` means what ``half=True`` means on every machine).

    Raises:
        ValueError: anything else (``"yes"``, ``2``, ``None``, an array).
    """
    if isinstance(half, str):
        if half == "auto":
            return "auto"
    elif isinstance(half, (bool, int, float, np.bool_, np.integer, np.floating)) and half in (0, 1):
        return bool(half)
    raise ValueError(f"half must be True, False or 'auto', got {half!r}")


def resolve_precision(half: Half, device: torch.device) -> Precision:
    """What ``half`` means on ``device``: float16 on CUDA, bfloat16 on CPUs with bf16 units.

    ``"auto"`` picks reduced precision only where it is fast (CUDA; CPUs with AMX, AMD CPUs with
    AVX512-BF16, see :func:`cpu_has_fast_bf16`) and float32 elsewhere; ``True`` insists
    (bfloat16 on any CPU with bf16 units, also where it is slower than float32) and raises
    where there is no half type in hardware.
    """
    half = check_half(half)
    if not half:
        return "fp32"
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and (cpu_has_fast_bf16() or (half is True and cpu_bf16_units() is not None)):
        return "bf16"
    if half == "auto":
        return "fp32"
    raise ValueError(
        f"half=True on {device.type} needs CUDA (float16) or a CPU with bfloat16 units "
        "(AMX or AVX512-BF16); use half='auto' (command line: leave out --half) to fall back to float32"
    )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU) or a device that exists here.

    Raises:
        ValueError: not a device name, or a device this machine or PyTorch build lacks
            (``"cuda"`` without a GPU, ``"cuda:3"`` with two, ``"mps"`` off Apple silicon).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {device!r}") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS (Apple silicon) is not available")
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {device!r}")
    return dev


def exported_runtime(weights: str | Path, runtime: str | None = None) -> Runtime:
    """The runtime an exported file (``.onnx``, ``.pt``/``.ts``/``.torchscript``) runs in, by
    its suffix; ``ValueError`` if ``runtime`` (``None``: any) names another."""
    own: Runtime = "torch" if Path(weights).suffix.lower() in TORCHSCRIPT_SUFFIXES else "onnxruntime"
    if runtime not in (None, own):
        raise ValueError(f"{weights}: an exported model runs in its own runtime, {own}; got runtime={runtime!r} "
                         "(omit runtime / --runtime)")
    return own


def resolve_runtime(runtime: Runtime, device: torch.device, precision: str) -> Runtime:
    """Check that ``runtime`` can run a model on ``device`` at ``precision``.

    ``"torch"`` runs anywhere. ``"onnxruntime"`` (:mod:`cvdenoise.ort_runtime`) runs float32 on
    the CPU and needs ``onnxruntime`` and ``onnx`` (``pip install 'cvdenoise[onnx]'``).

    Raises:
        ValueError: an unknown runtime, or ``"onnxruntime"`` off the CPU or in reduced precision.
        ImportError: ``"onnxruntime"`` without a working onnxruntime/onnx install (the cause is named).
    """
    if runtime not in ("torch", "onnxruntime"):
        raise ValueError(f"runtime must be 'torch' or 'onnxruntime', got {runtime!r}")
    if runtime == "onnxruntime":
        if device.type != "cpu" or precision != "fp32":
            raise ValueError(
                f"runtime='onnxruntime' runs float32 on the CPU; got device {str(device)!r} with precision "
                f"{precision!r} (use runtime='torch' / --runtime torch, or device='cpu' without half=True / --half)"
            )
        from .ort_runtime import require

        require()
    return runtime
