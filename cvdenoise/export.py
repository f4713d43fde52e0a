"""Export shipped or local weights for deployment: ONNX (preferred) and TorchScript, verified.

ONNX, written with PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)`` with
``torch.export.Dim`` dynamic shapes), is the preferred format: it runs in onnxruntime (CPU, CUDA,
TensorRT), TensorRT itself, OpenVINO and most serving stacks. TorchScript (``torch.jit.trace``)
is kept for the serving stacks that still need it (TorchServe, LibTorch/C++, Triton's PyTorch
backend); ``torch.jit`` is deprecated in torch 2.14, so prefer ONNX for new deployments.

Graph contract (both formats)::

    input  "image"    (B, C, H, W) float32 in [0, 1]   C = 1 (gray) or 3 (RGB order)
    output "denoised" (B, C, H, W) float32 in [0, 1]

``B``, ``H`` and ``W`` are dynamic by default; the graph contains the model's own
reflect-pad-to-``multiple`` and crop, so any ``H, W >= multiple`` works (the
:class:`~cvdenoise.denoiser.Denoiser` pads smaller images before they reach the graph). For
ONNX, ``batch=N`` fixes the batch and ``static=(H, W)`` the spatial size (for runtimes that
want fixed shapes; onnxruntime then rejects other sizes). ``half=True`` runs the network in
float16 with float32 I/O (casts inside the graph).

Dynamo exporter notes: the symbolic reflect pad exports as is (``Mod``/``Sub`` on the input
``Shape`` feeding ``Pad`` — no ``dynamo=False`` fallback is used); the example input is
``(2, C, 64, 64)`` so batch is not specialised to 1, and ``Dim`` minimums of ``1`` (batch)
and ``multiple`` (height/width) keep the pad amount valid for every admitted size. Tracing
(TorchScript) likewise records the pad amount from ``aten::size``, not as a constant; the
checks below verify both at odd sizes.

Every file carries metadata (ONNX ``metadata_props``; TorchScript extra file
``cvdenoise.json``): ``cvdenoise_version``, ``weights``, ``channels``, ``value_range``
(``"0,1"``), ``multiple``, ``layout`` (``"BCHW"``), ``color_order`` (``"RGB"``; ``"gray"`` for
one channel), plus ``precision``, ``format`` and, for ONNX, ``opset``, ``batch`` and ``static``.
:func:`cvdenoise.load` reads it to build a :class:`~cvdenoise.denoiser.Denoiser` around an
onnxruntime session or the TorchScript module (:mod:`cvdenoise.backends`).

With ``check=True`` (default) the written file is validated (``onnx.checker`` for ONNX), reloaded
(onnxruntime on CPU / ``torch.jit.load``) and compared with eager PyTorch on random inputs and a
noisy real photo at ``(1,C,64,64)``, ``(2,C,67,45)`` and ``(1,C,130,97)`` (odd sizes and batch 2);
an fp32 max abs error above :data:`TOLERANCE` raises :class:`ExportError` and removes the file.
fp16 exports are compared with the fp32 model on CUDA when available, else tried on CPU; where
they cannot run the check is skipped with a note in the report.

Example:
    >>> from cvdenoise.export import to_onnx
    >>> report = to_onnx("fast.onnx", "fast")            # doctest: +SKIP
    >>> print(report.summary())                          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np
import torch
from torch import nn

from .backends import (
    ONNX_SUFFIXES,
    TORCHSCRIPT_META,
    TORCHSCRIPT_SUFFIXES,
    OnnxBackend,
    TorchScriptBackend,
)
from ._checks import is_integer
from .blend import StrengthRule
from ._fs import creation_problem, file_above, missing_folders, no_regular_file, remove_empty, signals_held
from .model import DenoiseAutoencoder
from .weights import FAMILIES, WeightsError, blank_model, load_model, read_card, resolve
from ._warn import WARNINGS_LOCK

__all__ = [
    "to_onnx",
    "to_torchscript",
    "ExportReport",
    "ExportError",
    "ExportArgumentError",
    "TOLERANCE",
    "HALF_TOLERANCE",
    "CHECK_SIZES",
    "MIN_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
]

#: fp32 parity bound (max abs error, values in [0, 1]) between an export and eager PyTorch.
TOLERANCE = 1e-4
#: fp16 exports vs the fp32 model (2 uint8 levels; fp16 has ~3 digits: ~1e-3 typical on CPU, up to
#: 5e-3 on the random-noise check inputs for the stage-17 ``color-fast``).
HALF_TOLERANCE = 8e-3
#: (B, H, W) of the parity checks: a multiple, odd sizes with batch 2, a size above 128.
CHECK_SIZES: tuple[tuple[int, int, int], ...] = ((1, 64, 64), (2, 67, 45), (1, 130, 97))
#: lowest ONNX opset: the dynamo exporter's native opset (down-conversion fails on Pad).
MIN_OPSET = 18
#: the largest side of a fixed-size (``static``) ONNX graph (4K frames fit; larger frames run in tiles)
MAX_STATIC_SIDE = 4096
INPUT_NAME = "image"
OUTPUT_NAME = "denoised"

Format = Literal["onnx", "torchscript"]


class ExportError(ValueError):
    """Export failed, or the exported file does not reproduce the PyTorch model."""


class ExportArgumentError(ExportError):
    """An export argument is invalid (nothing was exported): channels, batch, static, opset,
    or an output suffix of the other format."""


@dataclass
class ExportReport:
    """What an export wrote and how well it matches eager PyTorch.

    Attributes:
        path: the written file.
        format: ``"onnx"`` or ``"torchscript"``.
        weights: name of the exported weights (shipped file name or file stem).
        channels: 1 or 3.
        multiple: the model's pad multiple (``H, W >= multiple``).
        half: float16 network (I/O stays float32).
        file_size: bytes on disk.
        max_abs_error: ``"BxCxHxW"`` → max abs error against eager fp32 PyTorch over a random
            input and a noisy photo of that size (empty when not checked).
        tolerance: the bound that was enforced, or ``None`` when nothing was compared.
        checked: parity was measured and passed.
        runtime: what ran the export for the check (e.g. ``"onnxruntime CPUExecutionProvider"``).
        metadata: the metadata written into the file.
        notes: anything worth knowing (skipped checks, tracer warnings, suffix hints).
    """

    path: Path
    format: Format
    weights: str
    channels: int
    multiple: int
    half: bool
    file_size: int
    max_abs_error: dict[str, float] = field(default_factory=dict)
    tolerance: float | None = None
    checked: bool = False
    runtime: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float | None:
        """Largest error over all checked sizes (``None`` when not checked)."""
        return max(self.max_abs_error.values()) if self.max_abs_error else None

    def summary(self) -> str:
        """Human-readable multi-line report (what the CLI prints)."""
        prec = "fp16 (float32 I/O)" if self.half else "fp32"
        extra, sizes = "", f"H and W >= {self.multiple}"
        if self.format == "onnx":
            b, s = self.metadata.get("batch", ""), self.metadata.get("static", "")
            extra = f", opset {self.metadata.get('opset', '?')}, batch {b or 'dynamic'}, H×W {s.replace(',', '×') if s else 'dynamic'}"
            if s:  # a fixed-size graph takes exactly that size (cvdenoise.load pads and tiles for it)
                sizes = f"H×W exactly {s.replace(',', '×')}"
        lines = [
            f"wrote {self.path} ({self.file_size / 1e6:.2f} MB, {self.format}, {prec}{extra})",
            f"weights {self.weights}: {self.channels} channel(s), {sizes}, "
            f"input {INPUT_NAME!r} → output {OUTPUT_NAME!r}, (B,C,H,W) float32 in [0,1]",
        ]
        if self.max_abs_error:
            lines.append(f"parity vs eager PyTorch fp32 ({self.runtime}; max |Δ|, tolerance {self.tolerance:g}):")
            lines += [f"  {k:>14s}  {v:.3g}" for k, v in self.max_abs_error.items()]
        else:
            lines.append("parity: not checked")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class _HalfIO(nn.Module):
    """float32 in → model in float16 → float32 out (casts inside the exported graph)."""

    def __init__(self, model: DenoiseAutoencoder) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.to(torch.float16)).to(torch.float32)


# ---------------------------------------------------------------------- helpers
def _resolve(weights: str | Path, channels: int | None) -> tuple[str, DenoiseAutoencoder, dict[str, Any]]:
    """``(name, model, card)`` of the weights to export (a family's ``channels``-channel model)."""
    if channels is not None and (not is_integer(channels) or channels not in (1, 3)):  # (True == 1: the gray model)
        raise ExportArgumentError(f"channels must be 1 or 3, got {channels!r}")
    if not isinstance(weights, (str, os.PathLike)):
        raise ExportArgumentError(f"weights must be a name ('default', 'fast', ...) or a .safetensors path, got {weights!r}")
    name = str(weights)
    if name in FAMILIES:
        ch = int(channels or 3)
        if ch not in FAMILIES[name]:
            raise WeightsError(f"weights family {name!r} has no {ch}-channel model")
        return FAMILIES[name][ch], load_model(FAMILIES[name][ch]), _checked_card(name, read_card(FAMILIES[name][ch]))
    model = load_model(weights)
    if channels is not None and model.config.channels != channels:
        raise ExportArgumentError(
            f"weights {name!r} are a {model.config.channels}-channel model, but channels={channels} was asked for"
        )
    return Path(name).stem, model, _checked_card(name, read_card(weights))


def _checked_card(name: str, card: dict[str, Any]) -> dict[str, Any]:
    """``card``, after checking the entry the export carries (``auto_strength``) as
    :func:`cvdenoise.load` reads it: ``WeightsError`` now, not a verified file that load refuses."""
    try:
        StrengthRule.from_card(card)
    except ValueError as e:
        raise WeightsError(f"{name}: {e}") from None
    return card


def _rule_notes(meta: dict[str, str]) -> list[str]:
    """The report's note when the export carries no ``strength="auto"`` rule."""
    if "auto_strength" in meta:
        return []
    return ["no auto_strength rule (the weights have no model card with one): strength='auto' of "
            "cvdenoise.load() of this file gives the plain model output"]


def _check_writable(path: Path) -> None:
    """``ExportArgumentError`` now, not after the export work, when ``path`` cannot be written:
    its nearest existing folder takes no new file (read-only, immutable, a pseudo file system)."""
    if (problem := creation_problem(path)) is not None:
        raise ExportArgumentError(f"cannot write {path}: {problem}")


def _example_generator() -> torch.Generator:
    """A fixed-seed CPU generator for the tracing/export example: the export draws nothing from
    the caller's global torch random stream (a checkpoint exported mid-run leaves it as it was)."""
    return torch.Generator().manual_seed(0)


def _weights_digest(model: DenoiseAutoencoder) -> str:
    """sha256 of the model's tensors (names, shapes, float32 values): tells which weights an export holds."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(f"{k}:{tuple(v.shape)};".encode())
        h.update(v.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _copy_model(model: DenoiseAutoencoder) -> DenoiseAutoencoder:
    """A fresh copy of ``model`` (so ``.half()`` does not touch the fp32 reference)."""
    twin = blank_model(model.config)
    twin.load_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()}, assign=True)
    return twin.eval()


def _metadata(name: str, model: DenoiseAutoencoder, fmt: Format, half: bool, card: dict[str, Any]) -> dict[str, str]:
    from . import __version__

    c = model.config.channels
    rule = StrengthRule.from_card(card)  # strength="auto" of cvdenoise.load(export)
    return {
        **({"auto_strength": json.dumps(asdict(rule))} if rule else {}),
        "cvdenoise_version": __version__,
        "weights": name,
        "weights_sha256": _weights_digest(model),
        "channels": str(c),
        "value_range": "0,1",
        "multiple": str(model.multiple),
        "layout": "BCHW",
        "color_order": "RGB" if c == 3 else "gray",
        "precision": "fp16" if half else "fp32",
        "io_dtype": "float32",
        "format": fmt,
        "config": json.dumps(model.config.to_dict()),
    }


def _photo(h: int, w: int, channels: int, index: int) -> tuple[np.ndarray, bool]:
    """A real photo crop (skimage astronaut) as float32 ``(C,h,w)`` in [0,1]; synthetic if skimage is missing."""
    try:
        from skimage import data

        img = data.astronaut().astype(np.float32) / 255.0
        real = True
    except ImportError:
        yy, xx = np.mgrid[0:512, 0:512].astype(np.float32) / 512.0
        img = np.stack([yy, xx, ((yy * 8).astype(int) + (xx * 8).astype(int)) % 2 * 0.6 + 0.2], -1)
        real = False
    y0, x0 = 64 + 37 * index, 128 + 53 * index
    need_h, need_w = y0 + h, x0 + w
    if need_h > img.shape[0] or need_w > img.shape[1]:  # large sizes: mirror the photo
        img = np.pad(img, ((0, max(0, need_h - img.shape[0])), (0, max(0, need_w - img.shape[1])), (0, 0)), mode="symmetric")
    crop = img[y0 : y0 + h, x0 : x0 + w]
    if channels == 1:
        from .degrade import LUMA  # (on use: cvdenoise.degrade imports albumentations)

        crop = crop @ LUMA
        crop = crop[..., None]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)), real


def _inputs(b: int, c: int, h: int, w: int, seed: int) -> tuple[list[tuple[str, torch.Tensor]], bool]:
    """A uniform random batch and a noisy-photo batch (σ = 25/255) of shape ``(b,c,h,w)``."""
    rng = np.random.default_rng(seed)
    rand = torch.from_numpy(rng.random((b, c, h, w), dtype=np.float32))
    photos, real = zip(*(_photo(h, w, c, i) for i in range(b)))
    noisy = np.clip(np.stack(photos) + rng.normal(0, 25 / 255, (b, c, h, w)).astype(np.float32), 0, 1)
    return [("random", rand), ("photo", torch.from_numpy(noisy.astype(np.float32)))], all(real)


def _check_sizes(batch: int | None, static: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    if static is not None:
        return [(batch or 1, *static)] + ([(2, *static)] if batch is None else [])
    return [(batch or b, h, w) for b, h, w in CHECK_SIZES]


def _parity(
    report: ExportReport,
    model: DenoiseAutoencoder,
    backend: Any,
    sizes: list[tuple[int, int, int]],
    tol: float,
) -> None:
    """Fill ``report.max_abs_error``; raise :class:`ExportError` (removing the file) past ``tol``."""
    c = model.config.channels
    real = True
    with torch.inference_mode():
        for i, (b, h, w) in enumerate(sizes):
            key = f"{b}x{c}x{h}x{w}"
            inputs, real_i = _inputs(b, c, h, w, seed=i)
            real = real and real_i
            worst = 0.0
            for label, x in inputs:
                ref = model(x)
                got = backend(x.to(backend.device)).float().cpu()
                if got.shape != ref.shape:
                    report.path.unlink(missing_ok=True)
                    raise ExportError(
                        f"{report.format} export of {report.weights}: output shape {tuple(got.shape)} "
                        f"for input {key} ({label}); expected {tuple(ref.shape)} (not written)"
                    )
                err = float((got - ref).abs().max())
                if not np.isfinite(err) or err > tol:
                    report.path.unlink(missing_ok=True)
                    raise ExportError(
                        f"{report.format} export of {report.weights} does not match PyTorch: max abs error "
                        f"{err:.3g} > {tol:g} at input {key} ({label} input, {report.runtime}); "
                        "not written (export with check=False to keep it for inspection)"
                    )
                worst = max(worst, err)
            report.max_abs_error[key] = worst
    report.tolerance, report.checked = tol, True
    if not real:
        report.notes.append("scikit-image not installed: a synthetic image replaced the photo in the parity check")


def _half_device(report: ExportReport) -> str:
    if torch.cuda.is_available():
        return "cuda"
    report.notes.append("fp16 export checked on CPU (no CUDA here); CUDA numbers may differ slightly")
    return "cpu"


def _check_suffix(path: Path, fmt: Format) -> None:
    """Refuse an output that is a folder, lies under a file, or has the *other* format's suffix
    (``cvdenoise.load`` picks the runtime by it) — before the export's work, not after."""
    if path.suffix.lower() in (".safetensors", ".json"):
        raise ExportArgumentError(f"{path}: exports are {'.onnx' if fmt == 'onnx' else '.pt'} files; a {path.suffix} name would take the place of weights or their card")
    if path.is_dir():
        raise ExportArgumentError(f"{path} is a folder; give the output file's name, e.g. {path / ('model' + (ONNX_SUFFIXES[0] if fmt == 'onnx' else '.pt'))}")
    if (problem := no_regular_file(path)) is not None:  # a device or pipe: written into, then deleted by the cleanup
        raise ExportArgumentError(f"{path} {problem}; give a file name")
    if (blocking := file_above(path)) is not None:
        raise ExportArgumentError(f"{path}: {blocking} is a file, so no folder can be made there")
    own, other = (ONNX_SUFFIXES, TORCHSCRIPT_SUFFIXES) if fmt == "onnx" else (TORCHSCRIPT_SUFFIXES, ONNX_SUFFIXES)
    if path.suffix.lower() not in own:  # (a y.txt was written, and load() of it read it as safetensors)
        kind, want = ("ONNX", own[0]) if fmt == "onnx" else ("TorchScript", "/".join(own))
        what = ("is the other format's suffix" if path.suffix.lower() in other
                else "is no suffix cvdenoise.load() reads as an export" if path.suffix
                else "has no suffix, and cvdenoise.load() reads an export by its suffix")
        raise ExportArgumentError(f"{path}: {repr(path.suffix) + ' ' if path.suffix else ''}{what}; {kind} files use {want}")


def _check_flags(**flags: object) -> None:
    """``ExportArgumentError`` unless each flag is a bool (``half="yes"`` would export fp16)."""
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ExportArgumentError(f"{name} must be True or False, got {value!r}")


def _validate_common(batch: int | None, static: tuple[int, int] | None, multiple: int) -> None:
    if batch is not None and (not is_integer(batch) or batch < 1):
        raise ExportArgumentError(f"batch must be a positive integer or None, got {batch!r}")
    if static is not None:
        if not isinstance(static, (tuple, list)) or len(static) != 2 or not all(is_integer(s) for s in static):
            raise ExportArgumentError(f"static must be a pair of integers (H, W), got {static!r}")
        if any(s < multiple for s in static):
            raise ExportArgumentError(f"static must be (H, W) with H, W >= {multiple} (the model's multiple), got {static!r}")
        if any(s > MAX_STATIC_SIDE for s in static):  # (100000² ended in a traceback: 240 GB for the example input)
            raise ExportArgumentError(f"static must be (H, W) with H, W <= {MAX_STATIC_SIDE}, got {static!r}: a fixed-size "
                                      "graph runs larger frames in tiles, so a few hundred to a few thousand pixels is enough")


@contextmanager
def _replace_on_success(path: Path, then: Callable[[], object] | None = None) -> Iterator[None]:
    """Move an existing ``path`` aside while the block writes and checks a new one; put it back
    if the block fails (a failed export never costs the user the file that was there), and remove
    the folders the block made for it. ``then()`` runs once the new file stands, with
    SIGINT/SIGTERM held back (it and the end of the export happen both or neither)."""
    backup: Path | None = None
    missing = missing_folders(path.parent)  # made by the block, if at all
    if path.is_file():
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".previous", dir=path.parent)
        os.close(fd)
        backup = Path(name)
        os.replace(path, backup)
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        if backup is not None:
            os.replace(backup, path)
        remove_empty(missing)
        raise
    with signals_held():
        if backup is not None:
            backup.unlink(missing_ok=True)
        if then is not None:
            then()


# ---------------------------------------------------------------------- ONNX
def _torch_release(version: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of ``torch.__version__`` (or ``version``): ``"2.14.1+cu130"`` → ``(2, 14)``,
    ``"2.4rc1"`` → ``(2, 4)`` (the minor part's leading digits only)."""
    found = re.match(r"(\d+)\.(\d+)", version or torch.__version__)
    if found is None:
        return (99, 0)  # an unparsable (source) build: assume new enough
    return int(found.group(1)), int(found.group(2))


def to_onnx(
    path: str | Path,
    weights: str | Path = "default",
    *,
    channels: int | None = None,
    opset: int = 18,
    half: bool = False,
    batch: int | None = None,
    static: tuple[int, int] | None = None,
    check: bool = True,
    on_start: Callable[[], object] | None = None,
    on_written: Callable[[], object] | None = None,
) -> ExportReport:
    """Export weights to ONNX with the dynamo exporter and verify it in onnxruntime.

    Args:
        path: output file (``.onnx``; parent folders are created). Weights are stored inside
            the file (no external-data side file). A file already there is replaced once the new
            one passes its checks, whoever wrote it (``cvdenoise export`` refuses a file it did
            not write unless ``--overwrite``).
        weights: ``"default"``/``"fast"`` (the family member for ``channels``), a shipped file
            name (``"gray-fast"``) or a ``.safetensors`` path.
        channels: 3 (RGB) or 1 (gray) to pick from a family (default 3); for a file ``None``
            means the file's own channel count, a different value is an error.
        opset: ONNX opset, at least :data:`MIN_OPSET` (18, the exporter's native opset; higher
            ones go through onnxscript's version converter).
        half: float16 network with float32 input/output.
        batch: fix the batch dimension to this size (default: dynamic).
        static: fix ``(H, W)`` (default: dynamic, any ``H, W >= multiple``).
        check: run ``onnx.checker`` and compare onnxruntime (CPU) with eager PyTorch; see the
            module docstring.
        on_start: called once the arguments and weights have passed their checks, before the
            export work (the command line announces the wait there, not before a usage error).
        on_written: called once the file has passed its checks and stands, with Ctrl-C held back
            until it returns (the command line records the file there).

    Returns:
        :class:`ExportReport`.

    Raises:
        ExportError: invalid arguments, the exporter failed, or parity is worse than
            :data:`TOLERANCE` (nothing is written: a file already at ``path`` is kept).
        cvdenoise.weights.WeightsError: unknown or invalid weights.
        ImportError: onnx / onnxruntime / onnxscript not installed (``pip install 'cvdenoise[onnx]'``).
    """
    if _torch_release() < (2, 5):
        raise ExportError(f"ONNX export needs torch>=2.5 (its dynamo exporter); this is torch {torch.__version__}: "
                          "upgrade torch, or export TorchScript (to_torchscript / --format torchscript)")
    try:
        import onnx  # (needed by the exporter and the checker)
        import onnx.defs
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ONNX export needs onnx and onnxscript: pip install 'cvdenoise[onnx]' ({e})") from e
    from torch.export import Dim

    if not is_integer(opset):
        raise ExportArgumentError(f"opset must be an integer (ONNX opset version >= {MIN_OPSET}), got {opset!r}")
    opset = int(opset)
    if opset < MIN_OPSET:
        raise ExportArgumentError(
            f"opset {opset!r} is not supported: the dynamo exporter emits opset {MIN_OPSET}+ and ONNX's version "
            f"converter has no down-conversion for Pad (the model's reflect pad); use opset >= {MIN_OPSET}"
        )
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ExportArgumentError(f"opset {opset} is newer than this onnx package knows ({newest}); use {MIN_OPSET}..{newest}")
    path, name, model, card = _prepare(path, "onnx", weights, channels, half=half, check=check)
    c, m = model.config.channels, model.multiple
    _validate_common(batch, static, m)
    batch = None if batch is None else int(batch)  # (numpy integers too)
    if static is not None:
        static = (int(static[0]), int(static[1]))
    meta = _metadata(name, model, "onnx", half, card)
    meta.update(opset=str(opset), batch=str(batch or ""), static=f"{static[0]},{static[1]}" if static else "")
    if on_start is not None:
        on_start()

    side = max(64, 4 * m)
    h, w = static or (side, side)
    # batch 2: a batch-1 example would specialise B; drawn from its own generator, not the caller's stream
    example = torch.rand(batch or 2, c, h, w, generator=_example_generator())
    dims: dict[int, Any] = {}
    if batch is None:
        dims[0] = Dim("batch", min=1)
    if static is None:
        dims[2], dims[3] = Dim("height", min=m), Dim("width", min=m)
    net: nn.Module = _HalfIO(_copy_model(model)) if half else model
    try:
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter chatter; failures raise
            program = torch.onnx.export(
                net.eval(), (example,), None, dynamo=True, dynamic_shapes=(dims,) if dims else None,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset, verbose=False,
            )
    except Exception as e:
        raise ExportError(f"ONNX export (torch.onnx.export, dynamo=True) of {name} failed: {e}") from e
    if program is None:  # pragma: no cover - only with dynamo=False
        raise ExportError("torch.onnx.export returned no program")
    got_opset = program.model.opset_imports.get("")
    if got_opset != opset:  # the exporter keeps its own opset when version conversion fails
        raise ExportError(f"the dynamo exporter could not produce opset {opset} (got {got_opset}); use opset >= {MIN_OPSET}")
    program.model.metadata_props.update(meta)
    program.model.doc_string = f"cvdenoise {name}: (B,{c},H,W) float32 in [0,1] → same"
    with _replace_on_success(path, on_written):  # an existing file is kept until the new one passes its checks
        path.parent.mkdir(parents=True, exist_ok=True)
        program.save(str(path), external_data=False)

        report = ExportReport(path=path, format="onnx", weights=name, channels=c, multiple=m, half=half,
                              file_size=path.stat().st_size, metadata=meta, notes=_rule_notes(meta))
        if static is not None and min(static) < 2 * 16 + m:  # (load()'s 16-px border and tile overlap do not fit)
            report.notes.append(f"a fixed side below {2 * 16 + m} px: cvdenoise.load() runs larger images in tiles with "
                                "little or no overlap, far from the usual result at every seam (it warns); keep H and W "
                                "at a few hundred pixels")
        if not check:
            report.notes.append("not verified (check=False)")
            return report

        import onnx

        try:
            onnx.checker.check_model(str(path))
        except Exception as e:
            path.unlink(missing_ok=True)
            raise ExportError(f"onnx.checker rejects the exported {path} (not written): {e}") from e
        return _verify(report, model, lambda device: OnnxBackend(path, device), _check_sizes(batch, static),
                       cannot_load="onnxruntime cannot load the exported model",
                       runtime=lambda be, device: "onnxruntime " + be.session.get_providers()[0])


def _prepare(path: str | Path, fmt: Literal["onnx", "torchscript"], weights: str | Path, channels: int | None, *, half: bool,
             check: bool) -> tuple[Path, str, DenoiseAutoencoder, dict[str, Any]]:
    """The checks both exports make before any work: the output's suffix and folder, the flags,
    the weights; returns ``(path, weights name, model, model card)``."""
    path = Path(path)
    _check_suffix(path, fmt)
    _check_writable(path)
    _check_flags(half=half, check=check)
    if (source := weights_file(weights)) is not None and path.exists() and path.samefile(source):
        raise ExportArgumentError(f"{path} is the weights file being exported; give the export another name")
    return (path, *_resolve(weights, channels))


def weights_file(weights: str | Path) -> Path | None:
    """The file that ``weights`` (a shipped name, a family or a path) reads, or ``None`` where it
    names none that exists (a family's file is its colour model)."""
    if not isinstance(weights, (str, os.PathLike)):
        return None
    name = FAMILIES[str(weights)][3] if str(weights) in FAMILIES and 3 in FAMILIES[str(weights)] else weights
    try:
        return resolve(name)
    except WeightsError:
        return None


def _verify(report: ExportReport, model: DenoiseAutoencoder, load: Callable[[str], Any],
            sizes: list[tuple[int, int, int]], *, cannot_load: str, runtime: Callable[[Any, str], str]) -> ExportReport:
    """Reload the written file with ``load(device)`` (CPU; for fp16 the device :func:`_half_device`
    picks) and check its parity with ``model`` on ``sizes``. A float32 file that does not reload
    is deleted (``ExportError``); for fp16 a device that cannot run it only skips the check (a note)."""
    device = _half_device(report) if report.half else "cpu"
    try:
        backend = load(device)
    except WeightsError as e:
        if report.half:  # e.g. no float16 kernels for some op on this device or provider
            report.notes.append(f"fp16 parity check skipped: {cannot_load} on {device} ({e})")
            return report
        report.path.unlink(missing_ok=True)
        raise ExportError(f"{cannot_load} (not written): {e}") from e
    report.runtime = runtime(backend, device)
    if not report.half:
        _parity(report, model, backend, sizes, TOLERANCE)
        return report
    try:
        _parity(report, model, backend, sizes, HALF_TOLERANCE)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001  # e.g. no fp16 kernels for an op at run time
        report.notes.append(f"fp16 parity check skipped: {report.runtime} cannot run the fp16 graph "
                            f"({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    return report


# ---------------------------------------------------------------------- TorchScript
def to_torchscript(
    path: str | Path,
    weights: str | Path = "default",
    *,
    channels: int | None = None,
    half: bool = False,
    check: bool = True,
    on_start: Callable[[], object] | None = None,
    on_written: Callable[[], object] | None = None,
) -> ExportReport:
    """Export weights to TorchScript (``torch.jit.trace``) and verify the reloaded archive.

    Kept for serving stacks that need TorchScript; prefer :func:`to_onnx` (``torch.jit`` is
    deprecated in torch 2.14, its deprecation warnings are silenced here). The trace records
    the pad-to-multiple amount from the input's runtime size (``aten::size`` → ``remainder``),
    so batch, height and width stay dynamic; the check runs odd sizes to prove it. Metadata is
    stored as the archive's extra file ``cvdenoise.json``; load it back with
    ``torch.jit.load(path, _extra_files={"cvdenoise.json": ""})`` or :func:`cvdenoise.load`.

    Args:
        path: output archive (``.pt``, ``.ts`` or ``.torchscript``); replaced like :func:`to_onnx`'s
            (a file already there, whoever wrote it, once the new one passes its checks).
        weights, channels, half, check, on_start, on_written: as in :func:`to_onnx` (the check reloads the archive
            with ``torch.jit.load`` on CPU, or on CUDA for ``half`` when available).

    Returns:
        :class:`ExportReport` (tracer warnings, if any, are listed in ``notes``).

    Raises:
        ExportError: tracing failed or parity is worse than :data:`TOLERANCE` (not written).
        cvdenoise.weights.WeightsError: unknown or invalid weights.
    """
    path, name, model, card = _prepare(path, "torchscript", weights, channels, half=half, check=check)
    c, m = model.config.channels, model.multiple
    meta = _metadata(name, model, "torchscript", half, card)
    if on_start is not None:
        on_start()
    net: nn.Module = _HalfIO(_copy_model(model)) if half else model
    trace_device = "cpu"
    example = torch.rand(2, c, max(64, 4 * m), max(64, 4 * m), generator=_example_generator())
    notes: list[str] = []
    try:
        with WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.no_grad():
                traced = torch.jit.trace(net.eval().to(trace_device), (example.to(trace_device),), check_trace=False)
    except Exception as e:
        raise ExportError(f"TorchScript trace of {name} failed: {e}") from e
    for wmsg in caught:
        text = str(wmsg.message)
        if issubclass(wmsg.category, FutureWarning) and "deprecated" in text:
            continue  # torch.jit deprecation notice (see the docstring)
        notes.append(f"trace warning ({wmsg.category.__name__}): {text.splitlines()[0]}")
    with _replace_on_success(path, on_written):  # an existing file is kept until the new one passes its checks
        path.parent.mkdir(parents=True, exist_ok=True)
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
            torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_META: json.dumps(meta)})

        report = ExportReport(path=path, format="torchscript", weights=name, channels=c, multiple=m, half=half,
                              file_size=path.stat().st_size, metadata=meta, notes=notes + _rule_notes(meta))
        if not check:
            report.notes.append("not verified (check=False)")
            return report
        return _verify(report, model, lambda device: TorchScriptBackend(path, device), _check_sizes(None, None),
                       cannot_load="the exported archive does not reload",
                       runtime=lambda be, device: f"torch.jit.load on {device}")

