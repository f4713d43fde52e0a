"""Training loop: clean images → random crops → on-the-fly degradation → residual autoencoder.

Recipe: Charbonnier (smooth L1) loss, AdamW, linear warm-up then cosine decay, gradient clipping, an exponential moving
average (EMA) of the weights that is validated and exported, bfloat16 mixed precision on CUDA and
on CPUs where it is faster than float32 (AMX; AMD's AVX512-BF16; ``--no-amp`` for float32), fixed
seeds, checkpoints every few minutes and ``--resume``.

Run ``cvdenoise train --help`` (or ``python -m cvdenoise.train``) for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import glob
import io
import json
import math
import operator
import os
import pickle
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ._fs import atomic_path, creation_problem, file_above, signals_held
from ._progress import progress_bar
from ._argtypes import path_argument
from ._checks import is_integer, is_real
from .data import IMAGE_SUFFIXES, PairBatches, PairSampler, list_images, load_clean_images
from .degrade import PRESETS
from .degrade_torch import TorchDegrader
from ._device import cpu_has_fast_bf16, resolve_device
from .model import CONFIGS, DenoiseAutoencoder, ModelConfig
from .weights import FAMILIES, SafetensorError, WeightsError, color_to_gray, grow, load_model, read_card, save_weights

__all__ = ["TrainConfig", "TrainSetupError", "train", "psnr", "add_arguments", "main"]


#: the most validation pairs a run holds (``--val-size``): each is made before step 1 and held in memory
MAX_VAL_SIZE = 4096

#: an interrupted run's unvalidated weights go to ``<name>-interrupted.safetensors`` when
#: ``<name>.safetensors`` must be kept (``_Run._keep_main_export``); the next validation removes them
INTERRUPTED_TAG = "-interrupted"


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in checkpoints and model cards)."""

    out: str = "runs/default"
    name: str | None = None  # None: <gray|color>-<size>, as `cvdenoise train` names a run without --name
    size: str = "default"
    channels: int = 3
    # architecture overrides of the named size, or of the --init model (grown: weights.grow)
    widths: tuple[int, ...] | None = None
    enc_blocks: tuple[int, ...] | None = None
    dec_blocks: tuple[int, ...] | None = None
    unshuffle: int | None = None
    folders: list[str] = field(default_factory=list)
    downscale: float = 0.5
    p_dead_leaves: float = 0.3
    p_colour_gain: float = 0.0  # share of RGB crops darkened per channel (dark saturated colours)
    p_drawing: float = 0.0  # share of procedural drawings (text, lines, shapes: documents, screens)
    p_lights: float = 0.0  # share of crops made night scenes with full-white lights (data.add_lights)
    lights_glow: float = 0.33  # share of those lights drawn with a faint glow (data.add_lights' p_glow)
    lights_max_gain: float = 0.5  # the brightest those scenes are kept (data.add_lights' max_gain)
    lights_aa: float = 0.7  # share of those lights drawn anti-aliased (data.add_lights' p_aa)
    degradation: str = "mixed"
    crop: int = 64
    batch: int = 16
    steps: int = 20000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 300
    ema: float = 0.999
    val_every: int = 500
    val_size: int = 32
    ckpt_minutes: float = 3.0
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    init: str | None = None  # weights to start from (a .safetensors path or shipped name)
    loss: str = "charbonnier"
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with AMX / AMD AVX512-BF16 (~2-3× faster there)
    workers: int = 0  # data-loader processes making pairs (0: in the training process)
    minutes: float = 0.0  # wall-clock budget: the schedule runs on max(step/steps, time/budget)
    device_degrade: float = 0.0  # share of each batch degraded on the training device (TorchDegrader)
    keep_exports: bool = False  # also keep each validation's weights as <name>-step<N>.safetensors


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error of ``(B,C,H,W)`` tensors, in float32; returns ``(B,)``."""
    return ((a.float() - b.float()) ** 2).flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B,C,H,W)`` tensors in ``[0,1]``; returns ``(B,)``."""
    return -10.0 * torch.log10(_mse(a, b).clamp_min(1e-10))


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
    """The training loss of a batch ``(B,C,H,W)``, a scalar.

    ``charbonnier`` (smooth L1); ``log-charbonnier`` averages its per-image logarithm (every
    image counts alike, however degraded); ``psnr`` averages the per-image logarithm of the
    mean squared error, i.e. it maximises the mean per-image PSNR (a final fine-tune for PSNR).
    """
    if kind == "psnr":
        return 10.0 * torch.log10(_mse(pred, target) + 1e-6).mean()  # −mean PSNR, capped at 60 dB
    charb = torch.sqrt((pred.float() - target.float()) ** 2 + 1e-6).flatten(1).mean(1)
    if kind == "log-charbonnier":
        return torch.log(charb + 2e-3).mean()
    if kind != "charbonnier":
        raise ValueError(f"unknown loss {kind!r}")
    return charb.mean()


#: warm-up takes at most this share of the run (of ``steps``, or of the ``minutes`` budget)
WARMUP_SHARE = 0.25


def _warmup_steps(cfg: TrainConfig) -> int:
    """``cfg.warmup``, shortened to :data:`WARMUP_SHARE` of a short run (at least 1)."""
    return max(1, min(cfg.warmup, int(cfg.steps * WARMUP_SHARE)))


def _lr_at(step: int, cfg: TrainConfig, progress: float | None = None, time_used: float = 0.0) -> float:
    """Linear warm-up then cosine decay to 1 % of ``cfg.lr``.

    Warm-up lasts :func:`_warmup_steps` steps, or until ``time_used`` (share of a time budget
    spent) reaches :data:`WARMUP_SHARE`, whichever comes first; ``progress`` in ``[0,1]``
    overrides the step-based position after it (time-budgeted runs)."""
    warm = _warmup_steps(cfg)
    ramp = max((step + 1) / warm, time_used / WARMUP_SHARE)
    if ramp < 1.0:
        return cfg.lr * ramp
    t = (step - warm) / max(1, cfg.steps - warm) if progress is None else progress
    return 1e-2 * cfg.lr + 0.5 * (cfg.lr - 1e-2 * cfg.lr) * (1 + math.cos(math.pi * min(1.0, max(0.0, t))))


_ARCH_FIELDS = ("widths", "enc_blocks", "dec_blocks", "unshuffle")


def _arch_overrides(cfg: TrainConfig) -> dict[str, Any]:
    """The architecture fields ``cfg`` sets; one level (``widths`` of one entry) has no decoder
    level, so its ``dec_blocks`` may be left out."""
    overrides = {k: getattr(cfg, k) for k in _ARCH_FIELDS if getattr(cfg, k) is not None}
    if cfg.widths is not None and len(cfg.widths) == 1 and cfg.dec_blocks is None:
        overrides["dec_blocks"] = ()
    return overrides


def _init_weights(cfg: TrainConfig) -> str:
    """The weights ``--init`` names: a family name ("default", "fast") is its member with the run's
    channel count."""
    assert cfg.init
    return FAMILIES[cfg.init][cfg.channels] if cfg.init in FAMILIES else cfg.init


def _init_training(cfg: TrainConfig) -> dict[str, Any] | None:
    """The ``training`` section of the ``--init`` weights' card (without its own earlier stage),
    or None (no ``--init``, no card, or a card without one)."""
    if not cfg.init:
        return None
    try:
        training = read_card(_init_weights(cfg)).get("training")
    except (WeightsError, OSError, ValueError):
        return None
    if not isinstance(training, dict):
        return None
    return {"init": str(cfg.init), **{k: v for k, v in training.items() if k != "previous_stage"}}


def _build_model(cfg: TrainConfig, state: dict[str, Any] | None = None) -> DenoiseAutoencoder:
    """The network to train: the ``--init`` weights' (made gray, grown by the architecture
    options), else ``cfg.size``'s with those options. A resumed fine-tune (``state``: its
    checkpoint, which records the network) builds the checkpoint's network instead: the
    ``--init`` file is not read again (it may be gone, or changed, since the run started)."""
    overrides = _arch_overrides(cfg)
    if cfg.init and state is not None and isinstance(state.get("model_config"), dict):
        config = ModelConfig.from_dict(state["model_config"])
        asked = {**overrides, "channels": cfg.channels}
        if any((tuple(v) if isinstance(v, list) else v) != getattr(config, k) for k, v in asked.items()):
            raise _architecture_mismatch(state, cfg, config)
        return DenoiseAutoencoder(config).train()
    if cfg.init:
        m = load_model(_init_weights(cfg))
        if m.config.channels == 3 and cfg.channels == 1:
            m = color_to_gray(m)
        if m.config.channels != cfg.channels:
            raise ValueError(f"--init has {m.config.channels} channels, training wants {cfg.channels}"
                             + (" (a gray model trains with --channels 1)" if m.config.channels == 1 else ""))
        if overrides:  # more capacity, same function: weights.grow
            m = grow(m, ModelConfig(**{**m.config.__dict__, **overrides}), seed=cfg.seed)
        return m.train()
    if cfg.size not in CONFIGS:
        raise ValueError(f"unknown size {cfg.size!r}; choose from {sorted(CONFIGS)}")
    base = CONFIGS[cfg.size]
    return DenoiseAutoencoder(ModelConfig(**{**base.__dict__, **overrides, "channels": cfg.channels}))


def _named(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its default name filled in: ``<gray|color>-<size>``, as ``cvdenoise train`` names a run."""
    if cfg.name is not None:
        return cfg
    return replace(cfg, name=f"{'gray' if cfg.channels == 1 else 'color'}-{cfg.size}")


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN/inf (a learning rate too high): nothing more is exported."""


class RunWriteError(RuntimeError):
    """A run's checkpoint or weights could not be written (a full disk, …): the earlier ones are kept."""


class TrainSetupError(ValueError):
    """A run that cannot start: a bad option, no usable images, a missing or unfitting checkpoint.

    Raised by :func:`train` before anything is written (``cvdenoise train``: one error line, exit 2).
    """


#: the training losses (:func:`_loss`)
LOSSES = ("charbonnier", "log-charbonnier", "psnr")


def _int(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: is_integer(v) and test(v)


def _real(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: is_real(v) and test(float(v))


# option (a TrainConfig field, --field-name on the command line) → test, what the value must be
_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("steps", _int(lambda v: v >= 1), "an integer >= 1"),
    ("batch", _int(lambda v: v >= 1), "an integer >= 1"),
    ("crop", _int(lambda v: v >= 1), "an integer >= 1"),
    ("val_every", _int(lambda v: v >= 1), "an integer >= 1"),
    ("val_size", _int(lambda v: 1 <= v <= MAX_VAL_SIZE),
     f"an integer from 1 to {MAX_VAL_SIZE} (the pairs are held in memory and scored at every validation)"),
    ("warmup", _int(lambda v: v >= 0), "an integer >= 0"),
    ("lr", _real(lambda v: 0 < v < math.inf), "a number > 0"),
    ("weight_decay", _real(lambda v: 0 <= v < math.inf), "a number >= 0"),
    ("ema", _real(lambda v: 0 <= v < 1), "a decay in [0, 1)"),
    ("downscale", _real(lambda v: 0 < v <= 1), "in (0, 1] (1: photos as they are)"),
    ("p_dead_leaves", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("p_colour_gain", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("p_drawing", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("p_lights", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("lights_glow", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("lights_max_gain", _real(lambda v: 0.04 <= v <= 1), "a gain in [0.04, 1]"),
    ("lights_aa", _real(lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    ("device_degrade", _real(lambda v: 0 <= v <= 1), "a share of the batch in [0, 1]"),
    ("minutes", _real(lambda v: 0 <= v < math.inf), ">= 0 (0: no time budget)"),
    ("ckpt_minutes", _real(lambda v: 0 <= v < math.inf), ">= 0"),
    ("threads", _int(lambda v: v >= 0), "an integer >= 0 (0: torch default)"),
    ("workers", _int(lambda v: v >= 0), "an integer >= 0"),
    ("seed", _int(lambda v: v >= 0), "an integer >= 0"),
    ("loss", lambda v: v in LOSSES, f"one of {', '.join(LOSSES)}"),
    ("degradation", lambda v: isinstance(v, str) and v in PRESETS, f"a preset: {', '.join(sorted(PRESETS))}"),
    ("folders", lambda v: isinstance(v, (list, tuple)), "a list of folders (folders=['photos'], not a single name)"),
    ("name", lambda v: isinstance(v, str) and bool(v) and v not in (".", "..") and not {"/", "\\"} & set(v)
     and not v.lower().endswith((".safetensors", ".json")) and len(f"{v}-step{10**9}.safetensors".encode()) <= 255,
     "a file name without folders (the run's files go in --out) or suffix (x.safetensors wrote "
     "x.safetensors.safetensors), of at most about 220 bytes"),
)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_config(cfg: TrainConfig) -> None:
    """Raise :class:`TrainSetupError` naming the first option out of its domain."""
    for name, ok, what in _CHECKS:
        v = getattr(cfg, name)
        if not ok(v):  # NaN fails every test
            raise TrainSetupError(f"{_option(name)} must be {what}, got {v!r}")


@contextlib.contextmanager
def _bad_input(prefix: str = "") -> Iterator[None]:
    """Errors while setting up (bad device, weights, architecture, folder) → TrainSetupError."""
    try:
        yield
    except TrainSetupError:
        raise
    except (ValueError, FileNotFoundError) as e:
        raise TrainSetupError(("--init: " if isinstance(e, WeightsError) else prefix) + str(e)) from e


def _warn(msg: str) -> None:
    warnings.warn(msg, UserWarning, stacklevel=3)  # `cvdenoise train` prints it as one line


def _arch_desc(c: dict[str, Any]) -> str:
    """The options that fix a run's architecture, as on the command line."""
    fmt = lambda v: " ".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)  # noqa: E731
    return " ".join(f"{_option(k)} {fmt(c[k])}" for k in ("size", "channels", *_ARCH_FIELDS, "init")
                    if c.get(k) is not None)


def _unreadable(ckpt: Path, e: Exception) -> str:
    """Why ``torch.load`` could not read ``ckpt``, in a few words (its own message may be empty,
    a bare number, or many lines)."""
    try:
        if ckpt.stat().st_size == 0:
            return "the file is empty (0 bytes: a copy or a save cut short)"
    except OSError as err:
        return err.strerror or str(err)
    if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
        return ("no usable torch checkpoint: it holds pickled objects other than tensors and plain data (not loaded: "
                "no code from a checkpoint runs), or is another kind of file")
    said = (str(e).strip().splitlines() or [""])[0].split(". ")[0][:160]  # (torch's messages go on for lines)
    return f"no usable torch checkpoint: truncated, damaged or another kind of file ({type(e).__name__}{': ' + said if said else ''})"


def _read_checkpoint(ckpt: Path, device: torch.device) -> dict[str, Any]:
    """Read ``last.pt`` (fails with one line if it is missing, unreadable or no training checkpoint)."""
    if not ckpt.is_file():
        raise TrainSetupError(f"--resume: no checkpoint {ckpt} to resume from (drop --resume to start a new run)")
    try:
        state = torch.load(ckpt, map_location=device, weights_only=True)  # tensors and plain data: no pickled code runs
    except Exception as e:  # truncated, not a torch file, … (unpickling raises many kinds)
        raise TrainSetupError(f"--resume: cannot read {ckpt}: {_unreadable(ckpt, e)}") from e
    missing = {"model", "ema", "opt", "step", "best", "rng", "torch_rng"} - (state.keys() if isinstance(state, dict) else set())
    if missing:
        raise TrainSetupError(f"--resume: {ckpt} is not a cvdenoise training checkpoint (missing {sorted(missing)})")
    return state


def _architecture_mismatch(state: dict[str, Any], cfg: TrainConfig, config: ModelConfig) -> TrainSetupError:
    """The error of a resume whose options ask for another network than the checkpoint holds (``config``: the asked one)."""
    saved, wanted = _arch_desc(state.get("config") or {}), _arch_desc(asdict(cfg))
    return TrainSetupError(
        f"--resume: {Path(cfg.out) / 'last.pt'} holds a model trained with {saved or 'another architecture'}; this run asks for "
        f"{wanted if wanted != saved else config} (use the checkpoint's options or another --out)"
    )


def _load_checkpoint(state: dict[str, Any], model: DenoiseAutoencoder, cfg: TrainConfig) -> None:
    """Load the weights of a checkpoint :func:`_read_checkpoint` read into ``model`` (fails with
    one line if they do not fit, or if it has no steps left to train)."""
    ckpt = Path(cfg.out) / "last.pt"
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise _architecture_mismatch(state, cfg, model.config) from None
    if state["step"] >= cfg.steps or 0 < cfg.minutes * 60 <= state.get("elapsed", 0.0):
        more = "--steps" + (" or --minutes" if cfg.minutes else "")
        raise TrainSetupError(f"--resume: {ckpt} is at step {state['step']} of --steps {cfg.steps}"
                              f"{f' after its --minutes {cfg.minutes} budget' if cfg.minutes else ''}: nothing to "
                              f"train (raise {more} to continue)")


def _worker_killed(e: BaseException) -> bool:
    """``e`` is PyTorch's error for a DataLoader worker that died (killed by a signal, or gone)."""
    return isinstance(e, RuntimeError) and "DataLoader worker" in str(e) and (
        "killed by signal" in str(e) or "exited unexpectedly" in str(e))


def _with_signals_held(work: Callable[[], None]) -> BaseException | None:
    """Run ``work`` with SIGINT, SIGTERM and SIGCHLD held back (a dying worker or a second signal
    cannot cut a checkpoint short); returns the interrupt one of them raised once let through."""
    try:
        with signals_held("SIGINT", "SIGTERM", "SIGCHLD"):
            work()
    except KeyboardInterrupt as e:
        return e
    except RuntimeError as e:
        if not _worker_killed(e):
            raise
    return None


#: recipe fields a resumed run may change without a warning (how it runs, not what it learns)
_RUN_FIELDS = ("out", "steps", "minutes", "val_every", "ckpt_minutes", "threads", "device", "workers",
               "keep_exports", "amp")


def _recipe_changes(saved: dict[str, Any], cfg: TrainConfig) -> dict[str, list[Any]]:
    """``{field: [checkpoint's value, this run's]}`` for the recipe fields a resume changes
    (other than :data:`_RUN_FIELDS`); tuples and lists compare alike. A field the checkpoint
    predates (e.g. ``p_drawing``) counts as its :class:`TrainConfig` default, the value the
    earlier run behaved as."""
    now, default = asdict(cfg), asdict(TrainConfig())
    then = {k: saved.get(k, default[k]) for k in now}
    norm = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731
    same = {"folders": lambda a, b: [os.path.realpath(f) for f in a] == [os.path.realpath(f) for f in b]}
    return {k: [norm(then[k]), norm(now[k])] for k in now
            if k not in _RUN_FIELDS and not same.get(k, operator.eq)(norm(then[k]), norm(now[k]))}


def _load_images(cfg: TrainConfig) -> list[Any]:
    """The usable photos of ``cfg.folders``; fails if there are none, warns about skipped files."""
    if not cfg.folders:
        if cfg.p_dead_leaves not in (TrainConfig.p_dead_leaves, 1.0):  # (it was ignored without a word; 1: what runs)
            _warn(f"no photo folders: every crop is procedural (dead leaves, and drawings by --p-drawing), "
                  f"so --p-dead-leaves {cfg.p_dead_leaves:g} has no effect")
        return []
    files, seen, twice = [], set(), 0
    for p in (p for folder in cfg.folders for p in list_images(folder)):
        real = os.path.realpath(p)
        if real in seen:  # a folder named twice, nested, or reached through a link: once, or the
            twice += 1    # hold-out would validate on photos it also trains on
            continue
        seen.add(real)
        files.append(p)
    if twice:
        _warn(f"{twice} image file(s) reached twice (a folder given twice, inside another, or through a link) "
              "are used once")
    where = ", ".join(map(str, cfg.folders))
    if not files:
        raise TrainSetupError(f"no image files ({' '.join(IMAGE_SUFFIXES)}) in {where}")
    skipped: list[tuple[Path, str]] = []
    images = load_clean_images(files, min_size=cfg.crop, downscale=cfg.downscale, skipped=skipped)
    need = math.ceil(cfg.crop / cfg.downscale - 1e-9)  # short side before --downscale
    limit = f"a short side of at least {need} px (--crop {cfg.crop} at --downscale {cfg.downscale})"
    shown = "; ".join(f"{p}: {why}" for p, why in skipped[:5]) + ("; …" if len(skipped) > 5 else "")
    if any(why.endswith("is too small") for _, why in skipped):  # what takes smaller photos
        shown += f" (smaller photos take a smaller --crop{' or --downscale 1' if cfg.downscale < 1 else ''})"
    if not images:
        raise TrainSetupError(f"none of the {len(files)} image files in {where} is usable (readable, float data "
                              f"in [0, 1], {limit}): {shown}")
    if skipped:
        _warn(f"skipped {len(skipped)} of {len(files)} image files (each needs to be readable, float data in "
              f"[0, 1] and {limit}): {shown}")
    return images


@contextlib.contextmanager
def _callers_settings_kept() -> Iterator[None]:
    """Give the caller back, however the block ends, the process-wide settings a run changes:
    torch's intra-op thread count (``threads``), ``cudnn.benchmark`` and the global random
    streams (torch's CPU generator, the CUDA ones where CUDA was initialised before the run, and
    numpy's and Python's global ones). The run seeds its own stream inside, so it stays
    reproducible; the caller's continues as if the run had drawn nothing."""
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    np_state, py_state = np.random.get_state(), random.getstate()
    # CUDA's generators only where CUDA is in use already: reading them would initialise CUDA
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = benchmark
        np.random.set_state(np_state)
        random.setstate(py_state)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) and return the path of the exported EMA ``.safetensors``. ``progress``:
    a tqdm bar on stderr (the validation lines are printed either way).

    The caller's torch thread count, ``cudnn.benchmark`` and global random streams are as they
    were when it returns or raises (the run seeds and sets its own inside): torch's CPU
    generator, the CUDA ones where CUDA was initialised before the run, and numpy's and
    Python's global streams. Not undone: the run's ``torch.manual_seed`` also seeds CUDA, and
    where CUDA is not initialised yet that seed is queued, so the caller's first later CUDA use
    starts its CUDA stream from ``cfg.seed``; MPS generators are not restored either.

    Raises:
        TrainSetupError: an option out of its domain, an unavailable device, bad ``init``
            weights or architecture, no usable images, or (``resume``) a missing or unfitting
            checkpoint; raised before anything is written.
    """
    with _callers_settings_kept(), contextlib.ExitStack() as closing:
        return _train(_named(cfg), resume, closing, progress)


def _check_out(out: Path) -> None:
    """Refuse, before any work, an ``out`` where the run's files cannot be written: a file, a
    path under a file, or a folder (or the nearest existing one above it) that takes no new file."""
    if (above := file_above(out)) is not None:
        raise TrainSetupError(f"--out {out}: cannot create the run folder: {above} is a file, not a folder")
    if out.exists() and not out.is_dir():
        raise TrainSetupError(f"--out {out}: cannot create the run folder: it exists and is not a folder")
    if (problem := creation_problem(out / LOCK_FILE)) is not None:
        what = "cannot write in the run folder" if out.is_dir() else "cannot create the run folder"
        raise TrainSetupError(f"--out {out}: {what}: {problem}")


#: the file in ``--out`` that a run holds locked (``flock``) while it runs; the lock goes with
#: the process however it ends (a crash leaves the file, not the lock)
LOCK_FILE = ".cvdenoise-train.lock"


def _lock_out(out: Path, closing: contextlib.ExitStack | None) -> None:
    """Refuse an ``out`` that another run is using. With ``closing``, lock it for this run until
    ``closing`` closes (the lock file is made if needed); without, only test an existing lock
    (nothing is written)."""
    if sys.platform == "win32":  # (no flock there: concurrent runs are not detected)
        return
    import fcntl

    path = out / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT if closing is not None else os.O_RDONLY, 0o666)
    except OSError as e:
        if closing is None:  # (no lock file yet: no run has used this --out)
            return
        raise TrainSetupError(f"--out {out}: cannot make the lock file {LOCK_FILE}: {e.strerror or e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise TrainSetupError(f"--out {out} is in use by another run (pid {holder}): wait for it to end, "
                                  "or give another --out") from None
        if closing is not None:  # a file system without locks (some network ones): run unguarded
            _warn(f"--out {out}: cannot lock {LOCK_FILE} ({e.strerror or e}): a second run into it would not "
                  "be noticed")
        return
    if closing is None:
        os.close(fd)
        return
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # (who holds it, for the message above)
    closing.callback(os.close, fd)


def _write_reason(e: BaseException) -> str:
    """Why a file could not be written, in a few words (``No space left on device``)."""
    return (e.strerror or str(e)) if isinstance(e, OSError) else str(e)


def _write_run_file(path: Path, what: str, write: Callable[[str], object]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, renamed onto it when whole; a failure
    (a full disk) removes the temporary file, keeps the earlier ``path`` and raises :class:`RunWriteError`."""
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as e:
        raise RunWriteError(f"cannot write {what} {path}: {_write_reason(e)}") from e


def _refuse_earlier_run(cfg: TrainConfig, out: Path, ckpt: Path) -> None:
    """A new run never writes over an earlier one's checkpoint or weights."""
    earlier = [p.name for p in (ckpt, out / f"{cfg.name}.safetensors", out / f"{cfg.name}.json",
                                out / f"{cfg.name}{INTERRUPTED_TAG}.safetensors",
                                *sorted(out.glob(f"{glob.escape(str(cfg.name))}-step*.safetensors"))) if p.exists()]
    if earlier and not ckpt.exists():  # weights of a run that ended before its first checkpoint
        raise TrainSetupError(
            f"--out {out} already holds weights {earlier[0]} but no checkpoint (last.pt) to resume: "
            "give another --out (or move that file away to start over there)"
        )
    if earlier:
        raise TrainSetupError(
            f"--out {out} already holds a run ({', '.join(earlier)}): add --resume to continue it, "
            "or give another --out"
        )


def _check_resumed(state: dict[str, Any], cfg: TrainConfig, out: Path) -> None:
    """Refuse a resumed run renamed onto weights it did not write; warn about a changed recipe."""
    if (state.get("config") or {}).get("name", cfg.name) != cfg.name:
        taken = [p.name for p in (out / f"{cfg.name}.safetensors", out / f"{cfg.name}.json",
                                  out / f"{cfg.name}{INTERRUPTED_TAG}.safetensors") if p.exists()]
        if taken:
            raise TrainSetupError(f"--resume --name {cfg.name}: {out} already holds {', '.join(taken)}, which "
                                  f"this run did not write (it was named {state['config']['name']}); "
                                  "choose another --name")
    if changes := _recipe_changes(_saved_recipe(state), cfg):
        _warn("--resume with another recipe than the checkpoint's (logged in log.jsonl; the card records "
              "this run's): " + ", ".join(f"{_option(k)} {a} → {b}" for k, (a, b) in changes.items()))


def _split_images(images: list[np.ndarray], val_side: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(validation, training)`` images: every 10th of those at least ``val_side`` pixels on both
    sides (the validation crop) held out — a smaller one would serve neither — and a lone image
    serves as both."""
    if len(images) == 1:  # holding it out would leave nothing but dead leaves to train on
        _warn("only one usable image: it is used for training and for validation (the validation PSNR is "
              "optimistic); add more images for an honest hold-out")
        return images, images
    held = set([i for i, im in enumerate(images) if min(im.shape[:2]) >= val_side][::10])
    if images and not held:
        _warn(f"no image is {val_side} px on both sides (the validation crop) after --downscale: all of them train, "
              "and validation runs on dead leaves")
    return [images[i] for i in sorted(held)], [im for i, im in enumerate(images) if i not in held]


def _val_crop(cfg: TrainConfig) -> int:
    """The side of the validation crops: the training crop, at least 96 px."""
    return max(cfg.crop, 96)


def _validation_seed(seed: int) -> np.random.SeedSequence:
    """The validation sampler's seed: its own spawn key keeps it apart from every training stream
    (``seed``, and the workers' ``SeedSequence((seed + step, worker))``: worker 0's stream of a run
    resumed at step 10000 was the validation stream of ``10_000 + seed``)."""
    return np.random.SeedSequence(10_000 + seed, spawn_key=(1,))


def _validation_pairs(cfg: TrainConfig, val_imgs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``cfg.val_size`` fixed ``(noisy, clean)`` validation pairs ``(N,C,h,w)`` float32 in [0,1]
    (pairs the preset left clean dropped: they would score 100 dB for doing nothing)."""
    val_sampler = PairSampler(
        val_imgs, crop=_val_crop(cfg), channels=cfg.channels, degradation=cfg.degradation,
        p_dead_leaves=0.0 if val_imgs else 1.0, seed=_validation_seed(cfg.seed), leaves_pool=8,
    )
    if val_imgs and not val_sampler.images:
        _warn(f"the validation images are under {val_sampler.crop} px after --downscale {cfg.downscale}: "
              "validating on dead leaves instead")
    noisy, clean = val_sampler.batch(cfg.val_size)
    changed = _mse(noisy, clean) > 0
    for _ in range(16):  # every pair left clean (a small --val-size of a mix with clean pairs): draw again
        if bool(changed.any()):
            break
        noisy, clean = val_sampler.batch(cfg.val_size)
        changed = _mse(noisy, clean) > 0
    if bool(changed.any()):
        noisy, clean = noisy[changed], clean[changed]
    return noisy, clean


def _batches(cfg: TrainConfig, train_imgs: list[Any], sampler: PairSampler, pair_kwargs: dict[str, Any], n_cpu: int,
             step: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless ``(noisy, clean)`` training batches; the first ``n_cpu`` crops degraded by the
    albumentations chain, the rest left clean for the device's chain."""
    if cfg.workers > 0:
        # pairs are made in worker processes (the CPU side is the bottleneck on a GPU); resuming
        # restores the weights, optimiser and step but not the workers' random streams
        loader = torch.utils.data.DataLoader(
            PairBatches(train_imgs, cfg.batch, seed=cfg.seed + step, degraded=n_cpu, **pair_kwargs), batch_size=None,
            num_workers=cfg.workers, pin_memory=device.type == "cuda", prefetch_factor=4,
            persistent_workers=True,
        )
        return iter(loader)
    return iter(lambda: sampler.batch(cfg.batch, n_cpu), None)


class _Run:
    """One training run's state after set-up: the model, its EMA and optimiser, the step, the
    clock, and what validates and saves them (:func:`_train` drives it)."""

    start: float  # when the training steps began, less the time trained before a resume (set by _train)

    def __init__(self, cfg: TrainConfig, model: DenoiseAutoencoder, device: torch.device, out: Path,
                 state: dict[str, Any] | None, sampler: PairSampler, val: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.cfg, self.device, self.out, self.ckpt, self.sampler = cfg, device, out, out / "last.pt", sampler
        self.val_noisy, self.val_clean = val
        self.val_input_psnr = float(psnr(self.val_noisy, self.val_clean).mean())
        tqdm.write(f"validation: {len(self.val_noisy)} degraded pairs, input PSNR {self.val_input_psnr:.2f} dB")
        # oneDNN (CPU, bf16 AMX/AVX512-BF16 kernels) and cuDNN (tensor cores) are fastest in channels-last
        self.fmt = torch.channels_last
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.model = model.to(device).to(memory_format=self.fmt)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self._ema_params: list[torch.Tensor] = list(self.ema.parameters())
        self._model_params: list[torch.Tensor] = list(self.model.parameters())
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.use_amp = cfg.amp and (device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16()))
        self.start_step, self.step, self.best, elapsed_before = 0, 0, -1.0, 0.0
        if state is not None:  # the model's weights are loaded already (_load_checkpoint)
            self.ema.load_state_dict(state["ema"])
            self.opt.load_state_dict(state["opt"])
            self.step, self.best, elapsed_before = state["step"], state["best"], state.get("elapsed", 0.0)
            self.start_step = self.step
            sampler.rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"].cpu())  # (a checkpoint loaded onto a GPU put it there)
            print(f"resumed {self.ckpt} at step {self.step}")
        self.elapsed_before = elapsed_before
        # the --init weights' own training, as recorded when the run started (the file may be gone or changed since)
        self.previous: dict[str, Any] | None = (state["previous_stage"] if state is not None and "previous_stage" in state
                                                else _init_training(cfg))
        self.init_psnr: float | None = state.get("init_val_psnr") if state is not None else None
        self.budget_s = cfg.minutes * 60
        self.validated = False  # whether the weights of the current step were exported by a validation
        self.interrupt_export: Path | None = None  # where an interrupt left the weights (on_interrupt)

    def export(self, tag: str, val_psnr: float | None) -> Path:
        """The EMA weights as ``<name><tag>.safetensors`` with their card (``val_psnr`` None: an
        interrupted run's weights, exported unvalidated)."""
        self.check_finite()
        training: dict[str, Any] = {"recipe": asdict(self.cfg), "steps_done": self.step,
                                    "val_psnr_db": None if val_psnr is None else round(val_psnr, 3),
                                    "val_input_psnr_db": round(self.val_input_psnr, 3),
                                    # what ran (the recipe's amp is what was asked: off where bf16 is slow)
                                    "autocast": "bfloat16" if self.use_amp else None}
        if val_psnr is None:
            training["interrupted"] = True
        if self.init_psnr is not None:  # the --init weights on the same validation pairs: the fine-tune's gain
            training["init_val_psnr_db"] = round(self.init_psnr, 3)
        if self.previous is not None:  # the --init weights' own training, one level deep
            training["previous_stage"] = self.previous
        path = self.out / f"{self.cfg.name}{tag}.safetensors"
        try:
            return save_weights(self.ema, path, {"training": training})  # (the weights, then the card: each atomic)
        except (OSError, SafetensorError) as e:
            raise RunWriteError(f"cannot write weights {path}: {_write_reason(e)}") from e

    def _keep_main_export(self) -> bool:
        """Whether ``<name>.safetensors`` must be kept: it exists, and its card does not say that it
        is an interrupted run's unvalidated export (a card lost to a save cut short, or unreadable,
        keeps it too: weights that cannot be vouched for are not written over)."""
        main = self.out / f"{self.cfg.name}.safetensors"
        if not main.is_file():
            return False
        try:
            return json.loads(main.with_suffix(".json").read_text())["training"]["val_psnr_db"] is not None
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return True

    def drop_interrupted_export(self) -> None:
        """Remove an earlier interruption's ``<name>-interrupted`` export: a validation has passed it."""
        for suffix in (".safetensors", ".json"):
            with contextlib.suppress(OSError):
                (self.out / f"{self.cfg.name}{INTERRUPTED_TAG}{suffix}").unlink(missing_ok=True)

    def check_finite(self, loss: float = 0.0) -> None:
        """``TrainingDiverged`` when ``loss`` or an EMA weight is NaN/inf: such weights would be
        exported (and refused by ``cvdenoise.load`` as damaged) and the run would go on to its end."""
        if not math.isfinite(loss) or not all(bool(torch.isfinite(p).all()) for p in self._ema_params):
            raise TrainingDiverged(f"training diverged by step {self.step} (loss {loss:g}, or weights NaN/inf): "
                                   f"nothing more is exported; lower --lr (was {self.cfg.lr:g}) and start again"
                                   f"{' or --resume from an earlier checkpoint' if self.step else ''}")

    def validate(self) -> float:
        """Mean PSNR (dB) of the EMA model on the validation pairs."""
        self.ema.eval()
        with torch.inference_mode():
            outs = torch.cat([self.ema(self.val_noisy[i : i + 8].to(self.device))
                              for i in range(0, len(self.val_noisy), 8)])
        return float(psnr(outs.cpu(), self.val_clean).mean())

    def time_used(self) -> float:
        """Share of the time budget spent (0 without one)."""
        return (time.time() - self.start) / self.budget_s if self.budget_s > 0 else 0.0

    def progress(self) -> float | None:
        """Schedule position after warm-up when a time budget is set (else step-based)."""
        if self.budget_s <= 0:
            return None
        warm = _warmup_steps(self.cfg)
        by_steps = (self.step - warm) / max(1, self.cfg.steps - warm)
        return min(1.0, max(by_steps, self.time_used()))

    def finished(self) -> bool:
        p = self.progress()
        return self.step >= self.cfg.steps or (p is not None and p >= 1.0)

    def progress_bar(self, disable: bool = False) -> Any:
        """With a time budget the bar runs on the clock (seconds against the budget), else on steps."""
        cfg, budget = self.cfg, round(self.budget_s)
        if self.budget_s > 0:
            return progress_bar(total=budget, initial=min(round(self.elapsed_before), budget), desc=cfg.name,
                                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]",
                                dynamic_ncols=True, mininterval=5, disable=disable)
        return progress_bar(total=cfg.steps, initial=self.step, desc=cfg.name, dynamic_ncols=True, mininterval=5,
                            disable=disable)

    def save_checkpoint(self) -> None:
        """Write ``last.pt`` (atomically: a failed write keeps the earlier one and leaves no temporary file)."""
        self.check_finite()  # (no NaN weights in last.pt either: a resume would go on from them)
        state = {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
            "step": self.step, "best": self.best, "rng": self.sampler.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "config": asdict(self.cfg),
            "cwd": os.getcwd(),  # (the folders are as typed: a resume from elsewhere finds them from here)
            "elapsed": time.time() - self.start, "init_val_psnr": self.init_psnr,
            # what a resumed fine-tune needs instead of its --init file: the network, and that file's own training
            "model_config": self.model.config.to_dict(), "previous_stage": self.previous,
        }

        def write(tmp: str) -> None:
            buf = io.BytesIO()  # (torch's own file writer turns a full disk into "unexpected pos …")
            torch.save(state, buf)
            with open(tmp, "wb") as fh:
                fh.write(buf.getbuffer())

        _write_run_file(self.ckpt, "checkpoint", write)

    def train_step(self, noisy: torch.Tensor, clean: torch.Tensor, device_degrader: TorchDegrader | None,
                   n_cpu: int) -> torch.Tensor:
        """One optimiser step and EMA update on a batch; returns the loss."""
        noisy = noisy.to(self.device, non_blocking=True)
        clean = clean.to(self.device, non_blocking=True)
        if device_degrader is not None:
            noisy = torch.cat([noisy, device_degrader(clean[n_cpu:])])
        noisy = noisy.contiguous(memory_format=self.fmt)
        clean = clean.contiguous(memory_format=self.fmt)
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(self.step, self.cfg, self.progress(), self.time_used())
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            pred = self.model(noisy)
        loss = _loss(pred, clean, self.cfg.loss)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            d = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
            torch._foreach_lerp_(self._ema_params, self._model_params, 1 - d)
        self.step += 1
        self.validated = False  # (the EMA moved: these weights are not exported yet)
        return loss

    def on_interrupt(self, e: BaseException, batches: Iterator[Any]) -> BaseException | None:
        """After Ctrl-C, SIGTERM or a killed data-loader worker: keep what was trained (checkpoint,
        and the weights unless this step's are exported) and stop the workers; returns an
        interrupt that arrived meanwhile."""
        deferred = None
        if self.step > self.start_step:
            deferred = _with_signals_held(self.save_checkpoint)
            main = self.out / f"{self.cfg.name}.safetensors"
            self.interrupt_export = main
            if not self.validated:  # the weights so far, usable at once (last.pt is for --resume only)
                def export_unvalidated() -> None:
                    # beside a validation's export, never over it: that file stays the last validated weights
                    tag = INTERRUPTED_TAG if self._keep_main_export() else ""
                    self.interrupt_export = self.export(tag, None)

                deferred = _with_signals_held(export_unvalidated) or deferred
            weights = str(self.interrupt_export)
            if self.interrupt_export != main:
                weights += f" (not validated); the last validated ones stay in {main}"
            elif not self.validated:
                weights += " (not validated)"
            why = "interrupted" if isinstance(e, KeyboardInterrupt) or deferred is not None else "a data-loader worker died"
            tqdm.write(f"{why} at step {self.step}: checkpoint saved and weights {weights}; continue with --resume")
        shutdown = getattr(batches, "_shutdown_workers", None)  # (a DataLoader's; else its __del__
        if shutdown is not None:                                # prints the dead worker's error at exit)
            deferred = _with_signals_held(shutdown) or deferred
        return deferred


def _train(cfg: TrainConfig, resume: bool, closing: contextlib.ExitStack, progress: bool = True) -> Path:
    """:func:`train` itself (its settings changes undone by the caller; the log file and the
    progress bar are closed by ``closing`` however it ends)."""
    _check_config(cfg)
    out = Path(cfg.out)
    ckpt = out / "last.pt"
    _check_out(out)
    _lock_out(out, None)  # (only a test here: the lock file is made once the run folder is)
    if not resume:
        _refuse_earlier_run(cfg, out, ckpt)
    torch.manual_seed(cfg.seed)  # before the model's random initialisation: a seeded run repeats exactly
    with _bad_input("--device: "):
        device = resolve_device(cfg.device)
    with _bad_input():
        state = _read_checkpoint(ckpt, device) if resume else None
        model = _build_model(cfg, state)  # before the (slow) photo loading: a bad architecture fails at once
        if cfg.crop < model.multiple:
            raise TrainSetupError(f"--crop must be at least {model.multiple} for this architecture, got {cfg.crop}")
        if state is not None:
            _load_checkpoint(state, model, cfg)
            _check_resumed(state, cfg, out)
        images = _load_images(cfg)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainSetupError(f"--out {out}: cannot create the run folder: {e}") from e
    _lock_out(out, closing)  # held until the run ends: a second run into this --out is refused
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)

    val_imgs, train_imgs = _split_images(images, _val_crop(cfg))
    pair_kwargs: dict[str, Any] = dict(
        crop=cfg.crop, channels=cfg.channels, degradation=cfg.degradation,
        p_dead_leaves=cfg.p_dead_leaves if train_imgs else 1.0, p_colour_gain=cfg.p_colour_gain,
        p_drawing=cfg.p_drawing, p_lights=cfg.p_lights, lights_glow=cfg.lights_glow,
        lights_max_gain=cfg.lights_max_gain, lights_aa=cfg.lights_aa,
    )
    sampler = PairSampler(train_imgs, seed=cfg.seed, **pair_kwargs)
    run = _Run(cfg, model, device, out, state, sampler, _validation_pairs(cfg, val_imgs))
    try:
        log = closing.enter_context((out / "log.jsonl").open("a", encoding="utf-8"))
    except OSError as e:
        raise TrainSetupError(f"--out {out}: cannot write {out / 'log.jsonl'}: {e.strerror or e}") from e
    if state is not None:  # validations after this line repeat steps the earlier process logged
        log.write(json.dumps({"resumed_at_step": run.step, "time": time.time(), "recipe": asdict(cfg),
                              "changed": _recipe_changes(_saved_recipe(state), cfg)}) + "\n")
    else:
        log.write(json.dumps({"recipe": asdict(cfg), "time": time.time()}) + "\n")
    log.write(json.dumps({"val_pairs": len(run.val_noisy), "val_input_psnr": run.val_input_psnr}) + "\n")
    log.flush()  # (the recipe is on disk before the first validation: a run killed before it left an empty log)
    if cfg.init and state is None:  # where a fine-tune starts: the --init weights on the validation pairs
        run.init_psnr = init_psnr = run.validate()
        log.write(json.dumps({"step": 0, "val_psnr": init_psnr, "init": cfg.init, "time": time.time()}) + "\n")
        tqdm.write(f"step 0 (the --init weights): val PSNR {init_psnr:.2f} dB "
                   f"({init_psnr - run.val_input_psnr:+.2f} dB vs the input)")

    # the first n_cpu crops of a batch are degraded by the albumentations chain (data workers),
    # the rest by the batched torch chain on the training device (a GPU outruns the workers)
    n_cpu = cfg.batch - round(cfg.batch * cfg.device_degrade)
    device_degrader = TorchDegrader(cfg.degradation, seed=cfg.seed + 7 + run.step) if n_cpu < cfg.batch else None
    batches = _batches(cfg, train_imgs, sampler, pair_kwargs, n_cpu, run.step, device)
    run.start = time.time() - run.elapsed_before  # the budget counts training only (not the set-up, the --init validation)
    last_ckpt = time.time()
    bar = run.progress_bar(disable=not progress)
    closing.callback(bar.close)
    timed = run.budget_s > 0
    run.model.train()
    try:
        while not run.finished():
            noisy, clean = next(batches)
            loss = run.train_step(noisy, clean, device_degrader, n_cpu)
            step = run.step
            bar.update(min(bar.total, round(time.time() - run.start)) - bar.n if timed else 1)
            if step % 50 == 0 or step == run.start_step + 1:  # (and at a run's first step: a short run shows one too)
                run.check_finite(loss.item())  # (.item() syncs here anyway)
                post = {"loss": f"{loss.item():.3f}", "lr": f"{run.opt.param_groups[0]['lr']:.1e}"}
                if timed:
                    post["step"] = str(step)
                bar.set_postfix(post)
            done = run.finished()
            if step % cfg.val_every == 0 or done:
                if done:  # (tqdm.write would draw the finished bar again, and close() once more)
                    bar.close()
                v = run.validate()
                log.write(json.dumps({"step": step, "loss": loss.item(), "val_psnr": v, "time": time.time()}) + "\n")
                log.flush()
                tqdm.write(f"step {step}: val PSNR {v:.2f} dB ({v - run.val_input_psnr:+.2f} dB vs the input)")
                run.export("", v)
                run.validated = True  # (at once: an interrupt during the copy below must not replace this card)
                run.drop_interrupted_export()
                if cfg.keep_exports:
                    run.export(f"-step{step}", v)
                run.best = max(run.best, v)
            # a checkpoint with every export, so exported weights can always be resumed
            if time.time() - last_ckpt > cfg.ckpt_minutes * 60 or done or run.validated:
                run.save_checkpoint()
                last_ckpt = time.time()
    except (KeyboardInterrupt, RuntimeError) as e:
        # Ctrl-C or SIGTERM (the CLI turns it into KeyboardInterrupt), or a data-loader worker killed
        # by one (a SIGTERM to the whole process group, as job schedulers send): keep what was trained
        if isinstance(e, RuntimeError) and not _worker_killed(e):
            raise
        deferred = run.on_interrupt(e, batches)
        with contextlib.suppress(OSError, ValueError):  # (the log's record of it: a full disk loses only that line)
            log.write(json.dumps({"interrupted_at_step": run.step, "checkpoint": run.step > run.start_step,
                                  "weights": None if run.interrupt_export is None else str(run.interrupt_export),
                                  "why": type(e).__name__, "time": time.time()}) + "\n")
            log.flush()
        if deferred is not None:  # the signal itself arrived while the checkpoint was written
            raise deferred from e
        raise
    bar.close()
    return out / f"{cfg.name}.safetensors"


#: --lr of an --init run that gives none: a fine-tune's (the from-scratch 1e-3 took a shipped
#: model from 33.0 to 30.1 dB in 20 steps; the recipe's fine-tunes use 5e-5 to 1e-4)
INIT_LR = 1e-4


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``cvdenoise train`` (shared with ``python -m cvdenoise.train``)."""
    d = TrainConfig()
    p.add_argument("folders", nargs="*", type=path_argument, help="folders of clean images (none: dead leaves only)")
    p.add_argument("--out", default=d.out, type=path_argument, help=f"run folder for checkpoints, logs and weights (default {d.out})")
    p.add_argument("--name", default=None, help="weights name (default: <gray|color>-<size>; with --init: a shipped name as it is, "
                        "a file by its network's size)")
    p.add_argument("--size", default=None, choices=sorted(CONFIGS),
                   help=f"architecture (default {d.size}; with --init: the starting network's)")
    p.add_argument("--channels", type=int, default=d.channels, choices=(1, 3),
                   help=f"3: colour, 1: gray (default {d.channels}; with --init of a gray model: 1)")
    arch = "overrides --size's architecture, or grows the --init model to it (same output at the start)"
    p.add_argument("--widths", type=int, nargs="+", default=None, metavar="W", help=f"feature channels per level, {arch}")
    p.add_argument("--enc-blocks", type=int, nargs="+", default=None, metavar="N", help=f"residual blocks per encoder level, {arch}")
    p.add_argument("--dec-blocks", type=int, nargs="*", default=None, metavar="N",
                   help=f"residual blocks per decoder level (none for one level), {arch}")
    p.add_argument("--unshuffle", type=int, default=None, help=f"pixel-unshuffle factor, {arch}")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"crops per step (default {d.batch})")
    p.add_argument("--crop", type=int, default=d.crop, help=f"crop side in pixels (default {d.crop})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak AdamW learning rate (default {d.lr}; with --init {INIT_LR})")
    p.add_argument("--warmup", type=int, default=d.warmup, help=f"linear warm-up steps (default {d.warmup})")
    p.add_argument("--downscale", type=float, default=d.downscale, help=f"shrink photos first (cleaner targets; default {d.downscale})")
    p.add_argument("--p-dead-leaves", type=float, default=d.p_dead_leaves, help=f"share of procedural dead-leaves crops (default {d.p_dead_leaves})")
    p.add_argument("--p-colour-gain", type=float, default=d.p_colour_gain,
                   help="share of RGB crops whose channels get random gains in [0, 1], making dark saturated "
                        f"colours common (default {d.p_colour_gain})")
    p.add_argument("--p-drawing", type=float, default=d.p_drawing,
                   help="share of procedural drawing crops — text, lines, shapes on flat backgrounds, as in "
                        f"documents and screen captures (default {d.p_drawing})")
    p.add_argument("--p-lights", type=float, default=d.p_lights,
                   help="share of photo (and dead-leaves) crops made night scenes with full-white or saturated lights (lamps, "
                        f"headlights, stars, overlays) on them (default {d.p_lights})")
    p.add_argument("--lights-glow", type=float, default=d.lights_glow,
                   help="share of those lights drawn with a faint glow around them, part of the clean scene "
                        f"(default {d.lights_glow}; 0 for images where a bright edge has no halo, e.g. CT bone)")
    p.add_argument("--lights-max-gain", type=float, default=d.lights_max_gain,
                   help="those scenes are the photo crop times a gain log-uniform in 0.04 to this (default "
                        f"{d.lights_max_gain}: night scenes; 1 keeps some at day brightness, e.g. windowed CT bone beside tissue)")
    p.add_argument("--lights-aa", type=float, default=d.lights_aa,
                   help=f"share of those lights drawn anti-aliased (default {d.lights_aa}; 0: hard edges, whose clean "
                        "target has no brighter rim beside the light)")
    p.add_argument("--degradation", default=d.degradation, choices=sorted(PRESETS), metavar="PRESET",
                   help=f"degradation preset for the noisy inputs: {', '.join(sorted(PRESETS))} (default: {d.degradation})")
    p.add_argument("--val-every", type=int, default=d.val_every, help=f"validate and export every N steps (default {d.val_every})")
    p.add_argument("--val-size", type=int, default=d.val_size, help=f"validation pairs (default {d.val_size})")
    p.add_argument("--ckpt-minutes", type=float, default=d.ckpt_minutes,
                   help=f"checkpoint for --resume every N minutes (default {d.ckpt_minutes}; 0: after every step, "
                        "slow for the default size: a 140 MB file each time); also at each validation and at the end")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--threads", type=int, default=d.threads, help=f"torch CPU threads (0: torch default; default {d.threads})")
    p.add_argument("--device", default=d.device, help=f"training device: cpu, cuda, cuda:N, mps or auto (default {d.device})")
    p.add_argument("--init", default=None,
                   help="start from these weights: a file, a shipped name or default/fast (colour → gray converted)")
    p.add_argument("--loss", default=d.loss, choices=LOSSES,
                   help=f"charbonnier (smooth L1), log-charbonnier (its per-image log), psnr (per-image log MSE) (default {d.loss})")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="train in float32 (default: bfloat16 autocast on CUDA, and on CPUs with AMX or AMD's AVX512-BF16)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help=f"data-loader processes that make the pairs (use most CPU cores when training on a GPU; default {d.workers})")
    p.add_argument("--minutes", type=float, default=d.minutes,
                   help="wall-clock budget; the cosine schedule then ends when the budget or --steps runs out "
                        f"(default {d.minutes}: no budget)")
    p.add_argument("--device-degrade", type=float, default=d.device_degrade,
                   help="share of each batch degraded on the training device by the batched torch chain "
                        "(cvdenoise.degrade_torch; 0.9 kept an H200 busy), the rest by the albumentations chain "
                        f"(default {d.device_degrade})")
    p.add_argument("--keep-exports", action="store_true",
                   help="also keep the weights of every validation as <out>/<name>-step<N>.safetensors "
                        "(by default each validation overwrites <out>/<name>.safetensors)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the validation lines are printed)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/last.pt with its recipe (options typed again are this run's, with a "
                        "warning where they change it; an error if there is none or it holds another architecture)")


def _tuple(v: list[int] | None) -> tuple[int, ...] | None:
    return None if v is None else tuple(v)


#: the recorded ``size`` of a run whose ``--init`` network is none of the named sizes
CUSTOM_SIZE = "custom"


def _init_network(init: str) -> tuple[str, str | None, int | None]:
    """``(kind, size, channels)`` of an ``--init`` run: ``kind`` names its weights (``color-<kind>``:
    a family name, a shipped name's part after ``color-``, else the size of the file's network,
    else the file's own name); ``size`` is the named size of the network in the weights, checked
    from its config (:data:`CUSTOM_SIZE`: none of them; ``None``: the weights cannot be read, which
    :func:`train` reports, or a resume whose --init file is gone, whose checkpoint holds the
    network); ``channels`` the network's (``None`` for a family name, whose member the run's
    ``--channels`` picks, and for weights that cannot be read)."""
    if init in FAMILIES:  # --init fast trains the fast network
        return init, init, None
    try:
        config: ModelConfig | None = load_model(init).config
    except WeightsError:
        config = None
    sizes = [k for k, c in CONFIGS.items() if config is not None and replace(config, channels=c.channels) == c]
    size = sizes[0] if sizes else None if config is None else CUSTOM_SIZE
    channels = None if config is None else config.channels
    if init.startswith(("color-", "gray-")) and "/" not in init and not init.endswith(".safetensors"):
        return init.split("-", 1)[1], size, channels  # a shipped name: color-default-awgn → default-awgn
    return (sizes[0] if sizes else Path(init).stem.split("-", 1)[-1]), size, channels


def _recorded_recipe(ckpt: Path) -> dict[str, Any]:
    """The recipe (:class:`TrainConfig` fields) a checkpoint records, or ``{}`` when it cannot be
    read (``--resume`` says why)."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (missing, truncated, not a checkpoint: reported by train())
        return {}
    return _saved_recipe(state) if isinstance(state, dict) else {}


def _saved_recipe(state: dict[str, Any]) -> dict[str, Any]:
    """The recipe a checkpoint's ``state`` records, its photo folders found from the folder that
    run was started in (they are recorded as typed: ``photos`` is ``CWD/photos`` from anywhere)."""
    config = state.get("config")
    if not isinstance(config, dict):
        return {}
    cwd = state.get("cwd")
    if isinstance(cwd, str) and isinstance(config.get("folders"), (list, tuple)):
        config = {**config, "folders": [os.path.join(cwd, f) for f in config["folders"]]}  # (an absolute f stays)
    return config


#: options a resume never takes from the checkpoint's recipe: how and where this process runs
#: (this machine's), and --init (last.pt holds the network and the --init file's record)
_NOT_RECORDED = frozenset({"out", "resume", "func", "command", "device", "threads", "workers", "init"})


def _option_parser(typed_only: bool = False) -> argparse.ArgumentParser:
    """The ``cvdenoise train`` options alone; ``typed_only``: without defaults (a parse holds
    only what was typed)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    if typed_only:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
    return parser


def typed_options(argv: Sequence[str]) -> frozenset[str]:
    """The ``cvdenoise train`` options (their ``dest`` names) that ``argv`` — the words after
    ``train`` — gives, whatever their values (the folders too, as ``"folders"``)."""
    return frozenset(vars(_option_parser(typed_only=True).parse_known_args(list(argv))[0]))


def _given(args: argparse.Namespace) -> frozenset[str]:
    """The options this run gives: ``args.typed`` (:func:`typed_options`, set by the command
    line), else those whose value is not the default (a Namespace made by hand)."""
    typed: frozenset[str] | None = getattr(args, "typed", None)
    if typed is not None:
        return typed
    defaults = vars(_option_parser().parse_args([]))
    return frozenset(k for k, v in defaults.items() if getattr(args, k, v) != v)


def _recorded_defaults(args: argparse.Namespace, recorded: dict[str, Any], given: frozenset[str]) -> argparse.Namespace:
    """``args`` with every option not ``given`` replaced by the value the checkpoint's recipe
    holds: ``--resume --out RUN`` goes on with the run's folders, crop, batch, size, … (it
    trained a photo run on dead leaves alone, at other crops, unless every option was typed
    again); a given option is this run's (:func:`train` warns where it changes the recipe)."""
    out = argparse.Namespace(**vars(args))
    for key, value in recorded.items():
        if key in _NOT_RECORDED or key in given or not hasattr(args, key):
            continue
        if key == "size" and value not in CONFIGS:  # (a custom --init network: last.pt holds it)
            continue
        setattr(out, key, list(value) if isinstance(value, tuple) else value)
    return out


def main(args: argparse.Namespace) -> int:
    recorded = _recorded_recipe(Path(args.out) / "last.pt") if args.resume else {}
    given = _given(args)
    if recorded and "init" in given and args.init != recorded.get("init"):  # (it would be recorded, not used)
        print(f"cvdenoise train: error: --resume goes on from the checkpoint's network, which started from "
              f"{recorded.get('init') or 'scratch'}; --init {args.init} cannot change that: drop --init (or start a "
              "new run in another --out)", file=sys.stderr)
        return 2
    if recorded:
        args = _recorded_defaults(args, recorded, given)
    elif args.init and "lr" not in given:  # (a new fine-tune that gives no --lr)
        args = argparse.Namespace(**{**vars(args), "lr": INIT_LR})
    size = args.size or TrainConfig.size
    kind, network = size, None
    if args.init and not (recorded and args.size is None):  # (a resume: last.pt records name and network)
        kind, network, init_channels = _init_network(str(args.init))
        if init_channels == 1 and "channels" not in given and not recorded:  # a gray model fine-tunes as gray
            args = argparse.Namespace(**{**vars(args), "channels": 1})
        if network is not None and args.size is not None and args.size != network:
            what = network if network != CUSTOM_SIZE else "a custom one, none of the named sizes"
            print(f"cvdenoise train: error: --size {args.size} and --init {args.init} disagree: --init trains the "
                  f"network it starts from ({what}); drop --size (--widths/--enc-blocks/--dec-blocks grow it)",
                  file=sys.stderr)
            return 2
        size = network or (kind if kind in CONFIGS else size)  # (the card's recipe describes the real network)
    # (--name '' is no name: refused with the other bad names, not replaced)
    name = args.name if args.name is not None else f"{'gray' if args.channels == 1 else 'color'}-{kind}"
    if args.init and network is None and args.size is None and recorded.get("size") in (*CONFIGS, CUSTOM_SIZE):
        size = recorded["size"]  # (a resume: the size of the network last.pt holds)
    cfg = TrainConfig(
        out=args.out, name=name, size=size, channels=args.channels, folders=list(args.folders),
        widths=_tuple(args.widths), enc_blocks=_tuple(args.enc_blocks), dec_blocks=_tuple(args.dec_blocks),
        unshuffle=args.unshuffle,
        downscale=args.downscale, p_dead_leaves=args.p_dead_leaves, p_colour_gain=args.p_colour_gain,
        p_drawing=args.p_drawing, p_lights=args.p_lights, lights_glow=args.lights_glow,
        lights_max_gain=args.lights_max_gain, lights_aa=args.lights_aa, degradation=args.degradation,
        crop=args.crop, batch=args.batch, steps=args.steps, lr=args.lr, warmup=args.warmup,
        val_every=args.val_every, val_size=args.val_size, ckpt_minutes=args.ckpt_minutes, seed=args.seed, threads=args.threads,
        device=args.device, init=args.init, loss=args.loss, amp=args.amp,
        workers=args.workers, minutes=args.minutes, device_degrade=args.device_degrade,
        keep_exports=args.keep_exports,
    )
    if recorded.get("init") and not cfg.init:  # a resumed fine-tune is still one (its card records where it began;
        cfg = replace(cfg, init=str(recorded["init"]))  # _build_model takes the network from last.pt, not that file)
    if args.name is None and not cfg.init and cfg.size in CONFIGS and (arch := _arch_overrides(cfg)):
        if replace(CONFIGS[cfg.size], **arch) != CONFIGS[cfg.size]:  # (--widths … from scratch: not the named network)
            cfg = replace(cfg, name=f"{'gray' if cfg.channels == 1 else 'color'}-{CUSTOM_SIZE}")
    try:
        path = train(cfg, resume=args.resume, progress=not getattr(args, "quiet", False))
    except TrainSetupError as e:
        print(f"cvdenoise train: error: {e}", file=sys.stderr)
        return 2
    except (TrainingDiverged, RunWriteError) as e:
        print(f"cvdenoise train: error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        if not _worker_killed(e):
            raise
        print(f"cvdenoise train: error: {str(e).splitlines()[0]} (killed? out of memory?)", file=sys.stderr)
        return 1
    print(f"weights: {path}")
    return 0


if __name__ == "__main__":  # the same as `cvdenoise train …` (its SIGTERM handling, one-line warnings)
    from .cli import main as cli_main

    raise SystemExit(cli_main(["train", *sys.argv[1:]]))
