"""Inference backends for exported models: onnxruntime (``.onnx``) and TorchScript (``.pt``).

:func:`cvdenoise.load` dispatches here by file suffix; the result is a normal
:class:`~cvdenoise.denoiser.Denoiser` whose backend is one of the classes below, so the call API,
tiling, borders, channel order and dtype rules are exactly those of the PyTorch backend.

A backend is a callable ``(B, C, H, W) float tensor on the Denoiser's device → (B, C, H, W)
float32 tensor on the same device`` (values in ``[0, 1]``, RGB order for ``C = 3``). Exported
graphs always take and return float32 — an fp16 export casts inside the graph — so the
precision of an exported model is fixed at export time (:mod:`cvdenoise.export`).

Files must carry the cvdenoise metadata written by :mod:`cvdenoise.export` (ONNX
``metadata_props`` or the TorchScript extra file ``cvdenoise.json``; keys in
:data:`METADATA_KEYS`); anything else is rejected with a :class:`~cvdenoise.weights.WeightsError`
naming the file and the problem.

``onnxruntime`` is imported only when an ONNX file is loaded, so ``import cvdenoise`` stays light.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from .model import pad_to
from .weights import WeightsError
from ._warn import WARNINGS_LOCK

__all__ = [
    "METADATA_KEYS",
    "ONNX_SUFFIXES",
    "TORCHSCRIPT_SUFFIXES",
    "EXPORTED_SUFFIXES",
    "OnnxBackend",
    "TorchScriptBackend",
    "ExportedBackend",
    "load_backend",
    "default_providers",
]

#: Metadata every cvdenoise export carries (ONNX ``metadata_props`` / TorchScript ``cvdenoise.json``).
METADATA_KEYS: tuple[str, ...] = (
    "cvdenoise_version", "weights", "channels", "value_range", "multiple", "layout", "color_order",
)
ONNX_SUFFIXES: tuple[str, ...] = (".onnx",)
TORCHSCRIPT_SUFFIXES: tuple[str, ...] = (".pt", ".ts", ".torchscript")
EXPORTED_SUFFIXES: tuple[str, ...] = ONNX_SUFFIXES + TORCHSCRIPT_SUFFIXES
#: Name of the TorchScript archive's metadata file.
TORCHSCRIPT_META = "cvdenoise.json"


#: the largest size multiple an export may declare (the bounded architectures stay far below it;
#: a larger one would make the load-time probe allocate gigabytes)
MAX_MULTIPLE = 1024


def _check_metadata(path: Path, meta: dict[str, Any], where: str) -> tuple[int, int]:
    """Validate cvdenoise metadata; returns ``(channels, multiple)``."""
    missing = [k for k in METADATA_KEYS if k not in meta]
    if len(missing) == len(METADATA_KEYS):
        raise WeightsError(
            f"{path} is not a cvdenoise export: its {where} carries no cvdenoise metadata "
            f"(expected keys {list(METADATA_KEYS)}; export models with `cvdenoise export`)"
        )
    if missing:
        raise WeightsError(f"{path}: incomplete cvdenoise metadata in its {where}, missing {missing}")
    try:
        channels, multiple = int(meta["channels"]), int(meta["multiple"])
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{path}: invalid channels/multiple in its cvdenoise metadata: {e}") from e
    if channels not in (1, 3) or not 1 <= multiple <= MAX_MULTIPLE:
        raise WeightsError(f"{path}: cvdenoise metadata has channels={channels}, multiple={multiple}; "
                           f"expected channels 1 or 3 and multiple in 1..{MAX_MULTIPLE}")
    if str(meta["layout"]).upper() != "BCHW":
        raise WeightsError(f"{path}: layout {meta['layout']!r} is not supported (expected 'BCHW')")
    return channels, multiple


def _pickled_state(backend: ExportedBackend) -> dict[str, Any]:
    """What a pickle or deep copy of ``backend`` carries: the arguments it was made with and the
    sha256 of the file it loaded, not the file itself (an export can be large)."""
    return {**backend._args, "sha256": backend.sha256}


def _unpickle(backend: ExportedBackend, state: dict[str, Any]) -> None:
    """Open the file again (``__init__`` with the pickled arguments) and check it is the same
    file: ``WeightsError`` when it was replaced or changed since the original was loaded, rather
    than a copy that silently runs another model."""
    args = dict(state)
    expected = args.pop("sha256", None)  # (None: pickled by a cvdenoise that did not record it)
    backend.__init__(**args)  # type: ignore[misc]  # opens (and checks) the file again
    if expected is not None:
        now, backend.sha256 = backend.sha256, expected
        _check_unchanged(backend, now, "a pickled or copied Denoiser of an exported file")


def _check_unchanged(backend: ExportedBackend, sha256: str, who: str) -> None:
    """``WeightsError`` unless ``sha256`` (of the file as ``who`` opens it again) is the one
    ``backend`` was loaded with."""
    if sha256 != backend.sha256:
        raise WeightsError(
            f"{backend.path} changed since the model was loaded from it (sha256 {backend.sha256[:12]}… then, "
            f"{sha256[:12]}… now): {who} opens that file again and needs it unchanged; load the new "
            "file with cvdenoise.load instead"
        )


def default_providers(device: torch.device) -> list[str]:
    """onnxruntime execution providers for ``device``, best first.

    CUDA devices get ``TensorrtExecutionProvider`` and ``CUDAExecutionProvider`` where this
    onnxruntime build has them (``pip install onnxruntime-gpu``), then CPU. Note that TensorRT
    builds an engine for every new input shape: keep tile sizes fixed (or export ``static``)
    when using it.
    """
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    out: list[str] = []
    if device.type == "cuda":
        out += [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]
    return out + ["CPUExecutionProvider"]


class OnnxBackend:
    """An onnxruntime ``InferenceSession`` behind the backend interface.

    Args:
        path: a ``.onnx`` file written by :func:`cvdenoise.export.to_onnx`.
        device: the Denoiser's device; CUDA selects the CUDA/TensorRT providers when this
            onnxruntime build has them (else CPU, with a warning).
        providers: explicit provider list (overrides :func:`default_providers`).
        threads: intra-op threads (default: ``torch.get_num_threads()``, so ORT and PyTorch
            use the same thread budget).

    Inputs are converted through numpy (``(B,C,H,W)`` float32, C-contiguous) and the output is
    returned on the input's device. Exports with a fixed batch run the input in chunks of that
    batch (the last one padded by repetition); exports with a fixed ``H×W`` accept inputs up to
    that size (reflect-padded as the model pads, then cropped back) and reject larger ones.

    Picklable and deep-copyable: the copy opens the file again by its path and checks it against
    the sha256 recorded at load (:attr:`sha256`), raising :class:`~cvdenoise.weights.WeightsError`
    if the file was replaced or changed meanwhile (the pickle carries the path, not the model
    bytes). Fork-aware: a forked child
    (a DataLoader worker) opens its own session on first use and never runs nor frees the one it
    inherited (onnxruntime's threads do not survive ``fork``; see :mod:`cvdenoise.ort_runtime`).

    Raises:
        WeightsError: not an ONNX file, no cvdenoise metadata, or not a ``(B,C,H,W)`` model.
    """

    def __init__(
        self,
        path: str | Path,
        device: str | torch.device = "cpu",
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the environment
            if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):  # Ctrl-C during the import
                raise KeyboardInterrupt from e
            raise ImportError(
                "loading .onnx models needs onnxruntime: pip install 'cvdenoise[onnx]'"
            ) from e
        from .ort_runtime import fork_aware

        self.path = Path(path).absolute()  # (an os.chdir later must not make a reload, a copy or a fork miss it)
        self.device = torch.device(device)
        self._args: dict[str, Any] = {"path": self.path, "device": device, "providers": providers, "threads": threads}
        if not self.path.is_file():
            raise WeightsError(f"model file not found: {self.path}")
        model_bytes = self.path.read_bytes()  # read once: the session is built from the bytes hashed
        #: sha256 of the file as loaded (a pickled copy, or a forked child reopening it, checks the file against it)
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self._session: Any = self._open(model_bytes)
        fork_aware(self)
        if self.device.type == "cuda" and self.session.get_providers() == ["CPUExecutionProvider"]:
            warnings.warn(
                f"{self.path.name}: this onnxruntime build has no CUDA provider; running on CPU "
                "(pip install onnxruntime-gpu)", RuntimeWarning, stacklevel=2,
            )
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.channels, self.multiple = _check_metadata(self.path, self.metadata, "ONNX metadata_props")
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if len(ins) != 1 or len(outs) != 1:
            raise WeightsError(f"{self.path}: expected one input and one output, got {len(ins)} and {len(outs)}")
        shape = list(ins[0].shape)
        if len(shape) != 4:
            raise WeightsError(f"{self.path}: input {ins[0].name!r} has rank {len(shape)} {shape}; expected (B,C,H,W)")
        if ins[0].type != "tensor(float)":
            raise WeightsError(f"{self.path}: input {ins[0].name!r} is {ins[0].type}; expected tensor(float) (float32)")
        if isinstance(shape[1], int) and shape[1] != self.channels:
            raise WeightsError(f"{self.path}: input has {shape[1]} channels but the metadata says {self.channels}")
        self.input_name, self.output_name = ins[0].name, outs[0].name
        #: fixed batch of the graph, or None when dynamic
        self.batch: int | None = shape[0] if isinstance(shape[0], int) else None
        #: fixed (H, W) of the graph, or None when dynamic
        self.size: tuple[int, int] | None = (
            (shape[2], shape[3]) if isinstance(shape[2], int) and isinstance(shape[3], int) else None
        )
        self.precision: str = self.metadata.get("precision", "fp32")

    def _open(self, model_bytes: bytes) -> Any:
        """An ``onnxruntime.InferenceSession`` of ``model_bytes`` (the file's content: an ONNX
        file with external data is not supported; cvdenoise's exports keep everything in one file)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        threads = self._args["threads"]
        opts.intra_op_num_threads = int(threads if threads is not None else torch.get_num_threads())
        opts.log_severity_level = 3  # errors only
        provs = self._args["providers"] or default_providers(self.device)
        try:
            return ort.InferenceSession(model_bytes, opts, providers=provs)
        except Exception as e:  # onnxruntime raises its own exception types (not RuntimeError)
            raise WeightsError(f"{self.path} is not a loadable ONNX model: {e}") from e

    @property
    def session(self) -> Any:
        """This process's ``onnxruntime.InferenceSession``. A forked child (its parent's session is
        set aside, see :mod:`cvdenoise.ort_runtime`) opens the file again on first use, and raises
        ``WeightsError`` if it changed since it was loaded, rather than running another model."""
        if self._session is None:
            model_bytes = self.path.read_bytes()
            _check_unchanged(self, hashlib.sha256(model_bytes).hexdigest(), "a forked process (e.g. a DataLoader worker)")
            self._session = self._open(model_bytes)
        return self._session

    def _set_aside_after_fork(self) -> list[Any]:
        session, self._session = self._session, None
        return [] if session is None else [session]

    def __getstate__(self) -> dict[str, Any]:
        return _pickled_state(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        _unpickle(self, state)

    def __repr__(self) -> str:
        return f"OnnxBackend({str(self.path)!r}, providers={self.session.get_providers()})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run([self.output_name], {self.input_name: x})[0]
        if getattr(y, "shape", None) != x.shape:  # (a graph that changes the shape: cropped or a reshape error later)
            raise WeightsError(f"{self.path}: the graph maps {x.shape} to {getattr(y, 'shape', type(y).__name__)}; "
                               "a cvdenoise export keeps the shape (not a cvdenoise model?)")
        return y

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(f"{self.path.name} takes {self.channels} channel(s), got {c}")
        xc = x.detach().to("cpu", torch.float32)
        if self.size is not None:
            fh, fw = self.size
            if h > fh or w > fw:
                raise ValueError(
                    f"{self.path.name} was exported for a fixed {fh}×{fw} input; got {h}×{w} "
                    "(cvdenoise.load caps the tile size for such models; or export without static)"
                )
            if (h, w) != (fh, fw):
                xc = pad_to(xc, fh, fw)  # reflect, as the model pads (the graph sees the reflection past its 16-px border: a few levels from a dynamic result near the bottom/right)
        arr = np.ascontiguousarray(xc.numpy())
        if self.batch is None:
            y = self._run(arr)
        else:
            n, parts = self.batch, []
            for i in range(0, b, n):
                chunk = arr[i : i + n]
                if len(chunk) < n:  # pad the last chunk to the fixed batch
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], n - len(chunk), 0)])
                parts.append(self._run(chunk)[: min(n, b - i)])
            y = np.concatenate(parts)
        out = torch.from_numpy(y)[..., :h, :w]
        return out.to(x.device)


def _is_torch_save_archive(data: bytes) -> bool:
    """A zip written by ``torch.save`` (pickled data, no TorchScript code or constants)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/data.pkl") for n in names) and not any(n.endswith("/constants.pkl") for n in names)


def _pickles_ultralytics(data: bytes) -> bool:
    """Whether a ``torch.save`` zip's pickle names Ultralytics classes (a YOLO ``.pt``); read as bytes, never
    unpickled."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pickles = [n for n in z.namelist() if n.endswith("/data.pkl")]
            return any(b"ultralytics.nn." in z.read(n) for n in pickles[:1])
    except (OSError, zipfile.BadZipFile, KeyError):
        return False


class TorchScriptBackend:
    """A TorchScript module (``torch.jit.load``) behind the backend interface.

    Args:
        path: a ``.pt`` / ``.ts`` / ``.torchscript`` archive written by
            :func:`cvdenoise.export.to_torchscript`.
        device: where the module runs (loaded with ``map_location=device``).

    The module is probed once on a ``(1, C, multiple, multiple)`` input at load time, so a file
    that cannot run here fails at load with a clear message, not on the first image.

    Picklable and deep-copyable: the copy loads the file again by its path and checks it against
    the sha256 recorded at load (:attr:`sha256`), raising :class:`~cvdenoise.weights.WeightsError`
    if the file was replaced or changed meanwhile (the pickle carries the path, not the model).

    Raises:
        WeightsError: not a TorchScript archive (a ``torch.save`` checkpoint is not one), no
            ``cvdenoise.json`` metadata, or the module does not map ``(B,C,H,W)`` to itself.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        self.path = Path(path).absolute()  # (as OnnxBackend)
        self.device = torch.device(device)
        self._args: dict[str, Any] = {"path": self.path, "device": device}
        if not self.path.is_file():
            raise WeightsError(f"model file not found: {self.path}")
        data = self.path.read_bytes()  # read once: the module is loaded from the bytes hashed
        #: sha256 of the file as loaded (a pickled copy checks the file against it)
        self.sha256 = hashlib.sha256(data).hexdigest()
        extra: dict[str, Any] = {TORCHSCRIPT_META: ""}
        try:
            with WARNINGS_LOCK, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
                self.module = torch.jit.load(io.BytesIO(data), map_location=self.device, _extra_files=extra)
        except Exception as e:  # RuntimeError from the zip reader / deserializer, and friends
            if _is_torch_save_archive(data) and _pickles_ultralytics(data):
                raise WeightsError(
                    f"{self.path} is an Ultralytics (YOLO) checkpoint, not denoiser weights: give the detector as "
                    "the YOLO model (YOLO(path), `detect --model`) and the denoiser's weights here "
                    "(attach(model, denoiser): the model first)") from None
            if _is_torch_save_archive(data):  # (torch's own message calls it "likely corrupted")
                raise WeightsError(
                    f"{self.path} is a torch.save checkpoint, not a TorchScript export: a `cvdenoise train` run's "
                    "last.pt continues with `cvdenoise train --resume`; the run's weights are the <name>.safetensors "
                    "beside it (written at each validation and when the run is interrupted)"
                ) from None
            raise WeightsError(
                f"{self.path} is not a loadable TorchScript archive ({e.__class__.__name__}: "
                f"{str(e).splitlines()[0] if str(e) else e!r}); torch.save checkpoints are not supported — "
                "use .safetensors weights or `cvdenoise export --format torchscript`"
            ) from e
        raw = extra[TORCHSCRIPT_META]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        try:
            meta = json.loads(text) if text.strip() else {}
        except (json.JSONDecodeError, RecursionError) as e:
            raise WeightsError(f"{self.path}: {TORCHSCRIPT_META} is not valid JSON: {e}") from e
        if not isinstance(meta, dict):
            raise WeightsError(f"{self.path}: {TORCHSCRIPT_META} must hold a JSON object")
        self.metadata: dict[str, Any] = meta
        self.channels, self.multiple = _check_metadata(self.path, meta, f"extra file {TORCHSCRIPT_META!r}")
        self.precision: str = str(meta.get("precision", "fp32"))
        self.batch: int | None = None
        self.size: tuple[int, int] | None = None
        self.module.eval()
        m = self.multiple
        probe = torch.zeros(1, self.channels, m, m, device=self.device)
        try:
            with torch.inference_mode():
                out = self.module(probe)
        except Exception as e:
            raise WeightsError(
                f"{self.path}: the TorchScript module fails on a (1,{self.channels},{m},{m}) float32 "
                f"input on {self.device}: {str(e).splitlines()[0] if str(e) else e!r}"
            ) from e
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(probe.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise WeightsError(f"{self.path}: module maps {tuple(probe.shape)} to {got}; expected the same shape")

    def __getstate__(self) -> dict[str, Any]:  # picklable and deep-copyable: the copy loads the file again
        return _pickled_state(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        _unpickle(self, state)

    def __repr__(self) -> str:
        return f"TorchScriptBackend({str(self.path)!r}, device={str(self.device)!r})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"{self.path.name} takes {self.channels} channel(s), got {x.shape[1]}")
        return self.module(x.to(self.device, torch.float32)).float()


ExportedBackend = Union[OnnxBackend, TorchScriptBackend]


def load_backend(path: str | Path, device: str | torch.device = "cpu") -> ExportedBackend:
    """Open an exported model by suffix: ``.onnx`` → :class:`OnnxBackend`, ``.pt``/``.ts``/
    ``.torchscript`` → :class:`TorchScriptBackend`.

    Raises:
        WeightsError: unknown suffix, missing or invalid file (see the classes).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return OnnxBackend(p, device)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return TorchScriptBackend(p, device)
    raise WeightsError(f"{p}: unknown exported-model suffix {suffix!r}; expected one of {list(EXPORTED_SUFFIXES)}")
