"""Run a :class:`~cvdenoise.model.DenoiseAutoencoder` in onnxruntime on the CPU, built in memory.

``cvdenoise.load(..., runtime="onnxruntime")`` (``--runtime onnxruntime``; needs ``pip install
'cvdenoise[onnx]'``) runs float32 CPU inference here instead of in PyTorch. onnxruntime fuses
each convolution with its ReLU and residual add; on an AVX2-only CPU (no bfloat16 units) it ran
the network alone 0.8–1.3× as fast as the channels-last PyTorch pass ``runtime="torch"`` uses
(``python benchmarks/export.py``: faster for ``fast`` at 640² and ``default`` at 1080p, slower
for the other two in one run), and 0.7–1.2× on an AVX-512 Intel CPU without AMX (faster only
for ``default`` at 1080p), so it is an option, not the default. Where bfloat16 is fast (AMX,
AMD's AVX512-BF16), PyTorch's bfloat16 pass (``half="auto"``) is faster than either.

Nothing is exported with ``torch.onnx``: :func:`onnx_graph` writes the (small, fixed) graph of
the architecture directly from the model's tensors — Conv, Relu, Add, ConvTranspose and the
pixel (un)shuffles as SpaceToDepth/DepthToSpace — so building a session takes well under a
second. The graph takes ``(B, C, H, W)`` float32 with ``H`` and ``W`` multiples of the model's
``multiple``; :class:`OrtModel` pads (reflect, bottom/right, as the model does) and crops, so
it is a drop-in for the module (outputs agree with PyTorch to about 1e-6 for the shipped
weights; a level of an 8-bit image is 4e-3). The weights are copied into the graph when the
session is built: later changes to the module's parameters are not seen.

:class:`OrtModel` is safe to share between threads, picklable (the session is rebuilt where it
is unpickled) and fork-aware: a forked child (e.g. a DataLoader worker) builds its own session,
and the parent's sessions it inherited are set aside, never run nor freed there —
onnxruntime's intra-op threads do not survive ``fork``, and running or freeing such a session
in the child hangs. (multiprocessing and DataLoader workers leave through ``os._exit``; a child
forked by hand that ends through interpreter shutdown, ``sys.exit``, can still abort in
onnxruntime's own teardown there: use ``runtime="torch"`` in such a process.) Sessions do not busy-wait after a run (spinning threads took the cores
from the PyTorch work around them) and give the memory of a run back (the arena shrinks), as
PyTorch does.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref
from typing import Any

import numpy as np
import torch

from .model import DenoiseAutoencoder, ResBlock

__all__ = ["require", "unavailable_reason", "onnx_graph", "OrtModel", "OPSET"]

#: ONNX opset of the graph (DepthToSpace ``CRD`` mode and Clip with tensor bounds need >= 11).
OPSET = 17

#: every live holder of onnxruntime sessions (an OrtModel, a backends.OnnxBackend), so a forked
#: child can take their sessions away (see _after_fork_in_child)
_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


def fork_aware(owner: Any) -> None:
    """Register ``owner``: in a forked child its ``_set_aside_after_fork()`` is called, which
    drops the sessions it holds (so it builds its own on next use) and returns them."""
    _LIVE.add(owner)


def _after_fork_in_child() -> None:
    """Set the sessions a forked child inherited aside for good: never run there (their
    intra-op threads exist only in the parent) and never freed, not even at interpreter exit
    (freeing one joins those threads: it hangs) — hence one extra reference that is never dropped."""
    for owner in list(_LIVE):
        for session in owner._set_aside_after_fork():
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(session))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """``None`` when ``onnxruntime`` and ``onnx`` (the ``onnx`` extra) import, else why not —
    including a broken install (e.g. a protobuf version clash), not only a missing one."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means: not usable here
        if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):  # Ctrl-C during the import: not cached
            raise KeyboardInterrupt from e
        return f"{type(e).__name__}: {e}"
    return None


def require() -> None:
    """Raise ``ImportError`` naming the cause unless onnxruntime and onnx import."""
    why = unavailable_reason()
    if why is not None:
        raise ImportError(f"runtime='onnxruntime' needs onnxruntime and onnx (pip install 'cvdenoise[onnx]'): {why}")


class _Graph:
    """Accumulates ONNX nodes and float32 initializers with unique names."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def op(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        out = self.name(stem)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, conv: torch.nn.Module, stem: str, weight: np.ndarray | None = None) -> str:
        assert isinstance(conv, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)), type(conv)
        if conv.padding_mode != "zeros" or conv.dilation != (1, 1) or conv.groups != 1 or (
            isinstance(conv, torch.nn.ConvTranspose2d) and conv.output_padding != (0, 0)
        ):
            raise ValueError(f"{stem}: only plain convolutions are written to the graph, got {conv}")
        w = conv.weight.detach().float().cpu().numpy() if weight is None else weight
        ins = [x, self.const(stem + ".w", w)]
        if conv.bias is not None:
            ins.append(self.const(stem + ".b", conv.bias.detach().float().cpu().numpy()))
        k, s, p = conv.kernel_size, conv.stride, conv.padding
        assert isinstance(p, tuple)
        op = "ConvTranspose" if isinstance(conv, torch.nn.ConvTranspose2d) else "Conv"
        return self.op(op, ins, stem, kernel_shape=list(k), strides=list(s), pads=[p[0], p[1], p[0], p[1]])

    def block(self, x: str, blk: torch.nn.Module, stem: str) -> str:
        assert isinstance(blk, ResBlock), type(blk)
        h = self.op("Relu", [self.conv(x, blk.conv1, stem + ".conv1")], stem + ".relu")
        return self.op("Add", [self.conv(h, blk.conv2, stem + ".conv2"), x], stem + ".add")


def onnx_graph(model: DenoiseAutoencoder) -> bytes:
    """The serialized ONNX model of ``model``'s forward pass on a padded input.

    Input ``x``: ``(B, C, H, W)`` float32 in ``[0, 1]``, ``H`` and ``W`` multiples of
    ``model.multiple``; output ``y``: same shape, ``clamp(x + residual, 0, 1)`` — exactly
    ``model(x)`` for such inputs.

    Raises:
        ImportError: ``onnx`` is not installed.
    """
    g = _Graph()
    onnx = g.onnx
    cfg = model.config
    c, f = cfg.channels, cfg.unshuffle
    x = "x"
    head_w = model.head.weight.detach().float().cpu().numpy()
    if f > 1:
        # SpaceToDepth puts input channel ci of block offset k at k*C + ci; pixel_unshuffle at
        # ci*f² + k: permute the head's input channels instead of the image.
        o = head_w.shape[0]
        head_w = head_w.reshape(o, c, f * f, 3, 3).transpose(0, 2, 1, 3, 4).reshape(o, c * f * f, 3, 3)
        x = g.op("SpaceToDepth", [x], "unshuffle", blocksize=f)
    h = g.conv(x, model.head, "head", weight=head_w)
    feats = []
    for i, enc in enumerate(model.encoders):
        if i > 0:
            h = g.op("Relu", [g.conv(h, model.downs[i - 1], f"down{i}")], f"down{i}.relu")
        for j, blk in enumerate(enc.children()):
            h = g.block(h, blk, f"enc{i}.{j}")
        feats.append(h)
    for i in range(len(model.decoders) - 1, -1, -1):
        u = g.op("Relu", [g.conv(h, model.ups[i], f"up{i}")], f"up{i}.relu")
        h = g.op("Add", [u, feats[i]], f"skip{i}")
        for j, blk in enumerate(model.decoders[i].children()):
            h = g.block(h, blk, f"dec{i}.{j}")
    r = g.conv(h, model.tail, "tail")
    if f > 1:
        r = g.op("DepthToSpace", [r], "shuffle", blocksize=f, mode="CRD")  # CRD is pixel_shuffle's order
    out = g.op("Add", ["x", r], "residual")
    g.nodes.append(onnx.helper.make_node(
        "Clip", [out, g.const("zero", np.zeros((), np.float32)), g.const("one", np.ones((), np.float32))], ["y"],
        name="clamp",
    ))
    dims = ["batch", c, "height", "width"]
    graph = onnx.helper.make_graph(
        g.nodes, "cvdenoise",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, dims)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, dims)],
        g.inits,
    )
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = min(proto.ir_version, 8)  # readable by every onnxruntime >= 1.18
    return bytes(proto.SerializeToString())


class OrtModel:
    """A CPU onnxruntime session with the interface of the module it was built from.

    Args:
        model: a plain :class:`~cvdenoise.model.DenoiseAutoencoder` (its tensors are copied
            into the graph when a session is built; the module is kept for padding and pickling).
        threads: intra-op threads (default: follow ``torch.get_num_threads()``, so onnxruntime
            and PyTorch use the same thread budget; one session per thread count is kept, so
            a budget that changes — Ultralytics and DataLoader workers change it — costs one
            build per count, not one per call).

    ``__call__``: ``(B, C, H, W)`` float tensor (any H×W of at least ``model.multiple``) →
    float32 ``(B, C, H, W)`` in ``[0, 1]`` on the input's device, like ``model(x)``.

    Raises:
        ImportError: ``onnxruntime`` or ``onnx`` is not installed or does not import.
        ValueError: ``model`` is not a plain ``DenoiseAutoencoder`` (a subclass, or one with
            forward hooks), whose forward the graph would not reproduce.
    """

    def __init__(self, model: DenoiseAutoencoder, threads: int | None = None) -> None:
        require()
        if type(model) is not DenoiseAutoencoder or any(
            m._forward_hooks or m._forward_pre_hooks for m in model.modules()
        ):
            raise ValueError(
                f"runtime='onnxruntime' writes a plain DenoiseAutoencoder into a graph; got {type(model).__name__}"
                " (a subclass or a module with forward hooks): use runtime='torch'"
            )
        self.model = model.eval()
        self.config = model.config
        self.multiple = model.multiple
        self.threads = threads
        self._lock = threading.Lock()
        self._sessions: dict[int, Any] = {}  # intra-op thread count → session
        self._run_options: Any = None
        fork_aware(self)
        self._get_session()  # build now: a graph or onnxruntime error surfaces where the model is placed

    def __repr__(self) -> str:
        return f"OrtModel({self.config}, threads={self.threads})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sessions"], state["_run_options"] = {}, None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        fork_aware(self)

    def _set_aside_after_fork(self) -> list[Any]:
        sessions = list(self._sessions.values())
        self._sessions = {}
        self._lock = threading.Lock()
        return sessions

    def _get_session(self) -> Any:
        """This process's session for the current thread budget (built on first use; a forked
        child's inherited sessions are set aside at fork)."""
        threads = int(self.threads or torch.get_num_threads())
        session = self._sessions.get(threads)
        if session is None:
            with self._lock:
                session = self._sessions.get(threads)
                if session is None:
                    import onnxruntime as ort

                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = threads
                    opts.inter_op_num_threads = 1
                    opts.log_severity_level = 3
                    # no busy-waiting after a run: spinning intra-op threads take the cores from the
                    # PyTorch work around it (the Denoiser's own, a YOLO model next in the loop)
                    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    session = ort.InferenceSession(onnx_graph(self.model), opts, providers=["CPUExecutionProvider"])
                    if self._run_options is None:
                        run = ort.RunOptions()
                        # give a run's memory back, as PyTorch does: the arena would otherwise keep
                        # the peak of the largest image for the session's lifetime
                        run.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
                        self._run_options = run
                    self._sessions = {**self._sessions, threads: session}  # readers see old or new dict
        return session

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.channels:
            raise ValueError(f"expected (B,{self.config.channels},H,W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        xp = x.detach().to("cpu", torch.float32)
        if h % self.multiple or w % self.multiple:  # (F.pad copies even when there is nothing to add)
            xp = self.model._pad(xp)
        arr = np.ascontiguousarray(xp.numpy())
        session = self._get_session()
        y = session.run(["y"], {"x": arr}, self._run_options)[0]
        return torch.from_numpy(y)[..., :h, :w].to(x.device)
