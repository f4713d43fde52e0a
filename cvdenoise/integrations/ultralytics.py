"""Ultralytics YOLO pre-filter: make a YOLO model see denoised frames.

Optional dependency (AGPL-3.0, ``pip install 'cvdenoise[yolo]'``), imported only here.

* :func:`configure_offline` — call before importing ultralytics: no update checks, no
  auto-install, no settings sync, a private config folder and a local font (no downloads).
* :func:`attach` / :func:`detach` — register / remove callbacks so that ``predict``,
  ``__call__``, ``track`` (``on_predict_batch_start``: the predictor's original BGR frames are
  replaced by denoised ones before YOLO pre-processing) and ``val`` (``on_val_start`` wraps the
  validator's ``preprocess`` to denoise the RGB uint8 batch) see denoised images.

Example::

    from cvdenoise.integrations.ultralytics import attach, configure_offline
    configure_offline()
    from ultralytics import YOLO
    model = attach(YOLO("yolo26n.yaml"))          # default denoiser: cvdenoise.load("fast")
    results = model.predict("frame.jpg")
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
import warnings
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..denoiser import Denoiser, load
from .._fs import missing_folders, remove_empty

__all__ = [
    "configure_offline", "attach", "detach", "hooks_of", "load_yolo", "DenoiseHooks", "DetectionRun", "FrameTiming",
    "run_detection",
]

_ATTR = "_cvdenoise_hooks"


def configure_offline(config_dir: str | Path | None = None) -> Path:
    """Switch Ultralytics to offline operation; returns its config folder.

    Sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=0`` and a private ``YOLO_CONFIG_DIR`` (default
    ``$TMPDIR/cvdenoise-ultralytics-<uid>-<installation>``, made for this user alone — one that another
    user made first is not used — and for this Ultralytics installation alone) holding matplotlib's
    DejaVuSans as ``Arial.ttf`` so plotting never downloads a font. Call it before ``import ultralytics``; called after, it also turns settings
    sync off and puts the fonts where the already imported Ultralytics looks for them.
    """
    import sys

    cfg = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or _private_config_dir())
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    folders = [cfg, cfg / "Ultralytics"]
    if sys.modules.get("ultralytics") is not None:
        from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

        SETTINGS.update({"sync": False})
        folders.append(Path(USER_CONFIG_DIR))  # fixed at its import: fonts there, or plotting downloads them
        # the switches it read from the environment at its import (its PIL patch would try to pip-install
        # a HEIF plugin for a file PIL cannot identify when AUTOINSTALL and ONLINE hold)
        for name in ("ultralytics.utils", "ultralytics.utils.checks", "ultralytics.utils.events"):
            for flag in ("AUTOINSTALL", "ONLINE"):
                if hasattr(module := sys.modules.get(name), flag):
                    setattr(module, flag, False)
    for sub in folders:
        _put_fonts(sub)
    return cfg


def _installation_tag() -> str:
    """8 hex digits naming the Ultralytics installation this process would import (its package folder), or
    ``""`` where none is found. Its settings file records the folders of the checkout it was first made in
    (``runs_dir``: ``<that checkout>/runs``), so each installation keeps its own."""
    import hashlib
    import importlib.util

    try:
        spec = importlib.util.find_spec("ultralytics")  # (locates the package without importing it)
    except (ImportError, ValueError):
        return ""
    if spec is None or not spec.origin:
        return ""
    return hashlib.sha256(str(Path(spec.origin).resolve().parent).encode()).hexdigest()[:8]


def _private_config_dir() -> Path:
    """``$TMPDIR/cvdenoise-ultralytics-<uid>-<installation>``, made 0700 for this user; a fresh temporary
    folder if that name is taken by a link or by a folder of another user's (whose settings and font
    links would steer this process). One per Ultralytics installation (:func:`_installation_tag`): a
    folder shared by two checkouts sent the second one's ``runs/`` into the first one's tree."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    import getpass

    try:
        tag = _installation_tag()
        who = uid if uid is not None else getpass.getuser()
        cfg = Path(tempfile.gettempdir()) / f"cvdenoise-ultralytics-{who}{f'-{tag}' if tag else ''}"
        cfg.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(cfg)
        if os.path.islink(cfg) or (uid is not None and st.st_uid != uid):
            raise PermissionError(f"{cfg} is not this user's")
    except (OSError, ImportError, KeyError):  # (getpass.getuser() without a user name: ImportError/KeyError/OSError)
        cfg = Path(tempfile.mkdtemp(prefix="cvdenoise-ultralytics-"))
    return cfg


def _put_fonts(folder: Path) -> None:
    """matplotlib's DejaVuSans as ``Arial.ttf``/``Arial.Unicode.ttf`` in ``folder`` (made if needed),
    written through a temporary file (a planted link is replaced, not followed); a folder that
    takes no file is left with a warning (plotting may then try to download the font)."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - ultralytics depends on matplotlib
        return
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():  # pragma: no cover - matplotlib ships it
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            target = folder / name
            if target.is_file() and not target.is_symlink():
                continue
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".cvdenoise-font-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(font.read_bytes())
                os.replace(tmp, target)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise
    except OSError as e:
        warnings.warn(f"cvdenoise configure_offline(): cannot put a local font in {folder} ({e}); "
                      "Ultralytics may try to download Arial.ttf when it draws results", RuntimeWarning, stacklevel=3)


def _check_gate_strength(denoiser: Denoiser, gate: tuple[float, float] | None) -> None:
    """``ValueError`` for a gate on a Denoiser of a fixed strength other than 1, which the gate would silently
    replace (as ``FrameFilter(strength=..., gate=...)`` and ``--strength`` with ``--gate`` are refused)."""
    if gate is not None and denoiser.strength not in (1.0, "auto"):
        raise ValueError(f"a Denoiser of strength={denoiser.strength!r} with a gate: the gate sets each frame's strength "
                         "(load it with the default strength, or drop the gate)")


@dataclass
class DenoiseHooks:
    """The callbacks :func:`attach` registers, and the time they spent: ``denoise_ms`` holds one
    entry per image denoised (ms; a batch's images share its mean). It grows by one entry a frame:
    on an endless ``stream=True`` source read and ``clear()`` it as you go."""

    denoiser: Denoiser
    denoise_ms: list[float] = field(default_factory=list)
    callbacks: dict[str, Callable[[Any], None]] = field(default_factory=dict)
    warned: bool = False
    warned_val: bool = False
    #: the trainer of the last ``model.train()`` (weakly): its validator is left alone — also
    #: after a run that raised, when Ultralytics never calls ``on_train_end``
    _trainer: Callable[[], Any] = field(default=lambda: None, repr=False)
    #: the noise gate as ``FrameFilter(gate=)`` takes it (``True``, ``(low, high)`` σ; ``False``/``None``: the
    #: denoiser's own strength); held as ``(low, high)`` or ``None``
    gate: bool | tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from ..video import FrameFilter, check_gate

        self.gate = check_gate(self.gate)
        _check_gate_strength(self.denoiser, self.gate)
        # one filter for every gated frame: it holds no state between frames but its last record (no temporal)
        self._filter: FrameFilter | None = (
            None if self.gate is None else FrameFilter(denoiser=self.denoiser, gate=self.gate, max_history=1))

    def on_predict_batch_start(self, predictor: Any) -> None:
        """Ultralytics callback: replace the batch's original frames (``im0s``) by denoised copies."""
        im0s = predictor.batch[1]
        t = time.perf_counter()
        done = 0
        for i, im in enumerate(im0s):
            if isinstance(im, np.ndarray) and im.dtype == np.uint8:
                im0s[i] = self._bgr(im)  # list mutated in place
                done += 1
        if done:  # one entry per frame denoised (the batch's mean), lined up with the results
            self.denoise_ms.extend([(time.perf_counter() - t) * 1e3 / done] * done)
        if done < len(im0s) and not self.warned:
            self.warned = True
            warnings.warn(
                "cvdenoise attach(): YOLO got frames that are not uint8 BGR images (a torch tensor "
                "source?) and sees them undenoised; pass numpy frames, paths or videos, or denoise "
                "the tensor with the Denoiser first", RuntimeWarning, stacklevel=2,
            )

    def _bgr(self, im: np.ndarray) -> np.ndarray:
        """One BGR(A) uint8 frame denoised (gated where :attr:`gate` is set; an alpha plane kept as it is)."""
        if self._filter is None:
            return self.denoiser(im, channel_order="bgr")
        if im.ndim == 3 and im.shape[2] == 4:  # (a FrameFilter takes no BGRA frame: its colour planes, alpha kept)
            out = im.copy()
            out[..., :3] = self._filter(np.ascontiguousarray(im[..., :3]))
            return out
        return self._filter(im)

    def _rgb_batch(self, img: torch.Tensor) -> torch.Tensor:
        """A ``(B,C,H,W)`` uint8 RGB (or gray, or RGBA) batch denoised; with :attr:`gate`, each image gated alone (as
        one batch through the FrameFilter; an alpha plane kept as it is)."""
        if self._filter is None:
            return self.denoiser(img, channel_order="rgb")
        if img.shape[1] == 4:
            return torch.cat([self._rgb_batch(img[:, :3]), img[:, 3:]], 1)
        hwc = img.permute(0, 2, 3, 1).cpu().numpy()
        frames = [np.ascontiguousarray(f[..., 0] if f.shape[-1] == 1 else f[..., ::-1]) for f in hwc]  # BGR / (H,W)
        out = self._filter._process(frames)
        back = [o[..., None] if o.ndim == 2 else o[..., ::-1] for o in out]
        return torch.from_numpy(np.ascontiguousarray(np.stack(back))).permute(0, 3, 1, 2).to(img.device)

    def on_val_start(self, validator: Any) -> None:
        """Ultralytics callback: wrap the validator's ``preprocess`` so it denoises each batch
        (not the validation inside ``model.train()``, whose training batches are not denoised:
        its mAP and best.pt would be measured on other inputs than the model learns from)."""
        in_training = getattr(validator, "training", False) or validator is getattr(self._trainer(), "validator", None)
        if getattr(validator.preprocess, "_cvdenoise", False) or in_training:
            return  # (the trainer's validator: also its final evaluation of best.pt, which runs outside training mode)
        original = validator.preprocess

        def preprocess(batch: dict[str, Any]) -> dict[str, Any]:
            img = batch["img"]
            if isinstance(img, torch.Tensor) and img.dtype == torch.uint8:
                t = time.perf_counter()
                # (Format() gives RGB.) The letterbox padding (114) stays as it is and each image is denoised
                # as if alone, whatever the batch holds beside it: the Denoiser's bars (noise.border_bands). The
                # padding had lowered the strength of what it surrounds (0.80 alone, 0.63 in a batch of three).
                batch["img"] = self._rgb_batch(img)
                self.denoise_ms.extend([(time.perf_counter() - t) * 1e3 / max(1, img.shape[0])] * img.shape[0])
            elif not self.warned_val:  # (a classification dataset: resized and normalised floats)
                self.warned_val = True
                warnings.warn(
                    "cvdenoise attach(): this validation's batches are not uint8 images (a classification "
                    f"dataset gives normalised {getattr(img, 'dtype', type(img).__name__)} tensors) and are "
                    "validated undenoised; denoise the dataset first (cvdenoise denoise DATASET -o CLEAN)",
                    RuntimeWarning, stacklevel=2,
                )
            return original(batch)

        preprocess._cvdenoise = True  # type: ignore[attr-defined]
        preprocess._original = original  # type: ignore[attr-defined]
        validator.preprocess = preprocess

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        """Ultralytics callback: training does not see denoised images; say so, and leave every
        validation of the run (per epoch, and the final one of best.pt: the trainer's validator) alone."""
        self._trainer = weakref.ref(trainer)
        warnings.warn(
            "cvdenoise attach(): model.train() trains on the dataset's images as they are (not denoised), "
            "and its validation stays undenoised to match; to train on denoised images, denoise the dataset "
            "first (cvdenoise denoise DATASET -o CLEAN); attach() covers predict, track and val",
            UserWarning, stacklevel=2,
        )

    def on_train_end(self, trainer: Any) -> None:
        """Ultralytics callback (after the final evaluation): the trainer is let go."""
        self._trainer = lambda: None

    def on_val_end(self, validator: Any) -> None:
        """Ultralytics callback: restore the validator's own ``preprocess``."""
        validator.preprocess = getattr(validator.preprocess, "_original", validator.preprocess)


def attach(model: Any, denoiser: Denoiser | str | Path | None = None,
           gate: bool | tuple[float, float] = False) -> Any:
    """Make ``model`` (an ``ultralytics.YOLO``) denoise every frame it predicts, tracks or validates.

    Args:
        model: a YOLO model (``YOLO("yolo26n.yaml")`` or a local ``.pt``).
        denoiser: a :class:`~cvdenoise.Denoiser`, or weights to load one from (``"default"``,
            a file; ``cvdenoise.load(name, half="auto")``); defaults to
            ``cvdenoise.load("fast", half="auto")`` (bfloat16 on AMX CPUs).
        gate: the noise gate of :class:`~cvdenoise.FrameFilter` (``True``: σ 3 → 6, or ``(low, high)``):
            clean frames pass through unchanged, as in the documented OpenCV loop; ``False`` (default):
            each frame gets the denoiser's own ``strength``.

    Raises:
        TypeError: ``model`` is no YOLO model, or ``denoiser`` none of the above.
        ValueError: a bad ``gate``, or a gate on a Denoiser of a fixed strength other than 1.

    Returns ``model`` (attached). Attaching twice replaces the earlier hooks.
    """
    if not hasattr(model, "add_callback") or not hasattr(model, "callbacks"):
        raise TypeError(f"attach() expects an ultralytics YOLO model, got {type(model).__name__}")
    if isinstance(denoiser, (str, Path)):  # a weights name or file, as cvdenoise.load takes it
        denoiser = load(denoiser, half="auto")
    if denoiser is not None and not isinstance(denoiser, Denoiser):  # (failed at the first predict, in a callback)
        hint = " (a FrameFilter's is its .denoiser)" if hasattr(denoiser, "denoiser") else ""
        raise TypeError(f"attach() expects a cvdenoise.Denoiser, a weights name or None, got {type(denoiser).__name__}{hint}")
    hooks = DenoiseHooks(denoiser or load("fast", half="auto"), gate=gate)  # (a bad gate: said before detaching)
    detach(model)
    hooks.callbacks = {
        "on_predict_batch_start": hooks.on_predict_batch_start,
        "on_val_start": hooks.on_val_start,
        "on_val_end": hooks.on_val_end,
        "on_pretrain_routine_start": hooks.on_pretrain_routine_start,
        "on_train_end": hooks.on_train_end,
    }
    for event, fn in hooks.callbacks.items():
        model.add_callback(event, fn)
    setattr(model, _ATTR, hooks)
    return model


def detach(model: Any) -> Any:
    """Remove what :func:`attach` added; returns ``model``. A no-op if nothing is attached."""
    hooks: DenoiseHooks | None = getattr(model, _ATTR, None)
    if hooks is None:
        return model
    for event, fn in hooks.callbacks.items():
        fns = model.callbacks.get(event, [])
        model.callbacks[event] = [f for f in fns if f != fn]
    delattr(model, _ATTR)
    return model


def hooks_of(model: Any) -> DenoiseHooks | None:
    """The attached :class:`DenoiseHooks` (for their timings), or None."""
    return getattr(model, _ATTR, None)


@dataclass(frozen=True)
class FrameTiming:
    """Per-frame timing split of :func:`run_detection`."""

    name: str
    denoise_ms: float
    detect_ms: float
    detections: int


class DetectionRun(list[FrameTiming]):
    """What :func:`run_detection` did: a list of :class:`FrameTiming` (one per frame written)
    plus ``failed``, the ``(file, reason)`` of images that could not be read or written (and of a
    video whose frames could not all be decoded)."""

    def __init__(self, timing_file: Path | None = None) -> None:
        super().__init__()
        self.failed: list[tuple[Path, str]] = []
        #: the CSV of the per-frame timings (``out/timing.csv``, ``out/<stem>.timing.csv`` for a video)
        self.timing_file = timing_file
        #: the frame filter's record of each frame it denoised (:class:`cvdenoise.video.FrameInfo`: the gate's σ
        #: and strength, impulses), in order; its last ``max_history`` (100 000) of a longer run
        self.frames: list[Any] = []


#: model suffixes Ultralytics builds from a config (bundled with the package: no download)
_CONFIG_SUFFIXES = (".yaml", ".yml")


def load_yolo(model: str | Path) -> Any:
    """``ultralytics.YOLO(model)``, offline: a ``.yaml`` config (Ultralytics ships them, e.g.
    ``yolo26n.yaml``; random weights) or a local weights file. A weights name that is not a
    local file is refused here, because Ultralytics would try to download it.

    Raises:
        ModuleNotFoundError: Ultralytics is not installed (the message names the ``yolo`` extra).
        FileNotFoundError: a weights file (``.pt``, …) that does not exist.
        ValueError: a file Ultralytics cannot build a model from.
    """
    configure_offline()
    try:
        from ultralytics import YOLO
    except ModuleNotFoundError as e:
        if e.name != "ultralytics":
            raise
        raise ModuleNotFoundError("cvdenoise's YOLO integration needs Ultralytics (AGPL-3.0, an optional extra): "
                                  "pip install 'cvdenoise[yolo]'", name="ultralytics") from e

    path = Path(model)
    if path.suffix.lower() not in _CONFIG_SUFFIXES and not path.exists():  # (a folder: an OpenVINO/NCNN export)
        raise FileNotFoundError(
            f"YOLO model file not found: {model} (cvdenoise runs offline and downloads nothing: "
            "give a local .pt, or a .yaml config such as yolo26n.yaml for an untrained model)"
        )
    try:
        return YOLO(str(model))
    except Exception as e:  # Ultralytics raises many types for files it cannot use
        raise _not_yolo(model, e) from e


def _stride(yolo: Any) -> int:
    """The multiple Ultralytics rounds ``imgsz`` up to: the network's largest stride, at least 32
    (what it takes where a model declares none, or a scalar)."""
    stride = getattr(getattr(yolo, "model", None), "stride", None)
    try:
        return max(32, int(torch.as_tensor(stride).max()))
    except (TypeError, ValueError, RuntimeError):  # (none, or not a number: an exported model's)
        return 32


def _not_yolo(model: str | Path, error: Exception) -> ValueError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"{model}: not a YOLO model Ultralytics can load ({first})")


@dataclass
class _DetectionPlan:
    """What :func:`run_detection` will read and write, checked before YOLO is built."""

    src: Path
    out: Path
    is_images: bool
    jobs: list[Any]  # folder.Job per image
    skipped_dicom: list[Path]
    video_path: Path  # out/<stem>.mp4 as the caller named it (messages name it so)
    video: Any  # folder.Job for out/<stem>.mp4 (resolved)
    timing: Any  # folder.Job for the timing CSV
    records: Any  # folder.OutputRecords the plan read (written to as the run goes)


def _timing_name(src: Path, is_images: bool) -> str:
    """The timing CSV's name: ``timing.csv`` for images, ``<stem>.timing.csv`` for a video."""
    return "timing.csv" if is_images else f"{src.stem}.timing.csv"


def _other_clip(recorded: str | None, src: Path) -> bool:
    """The clip an output's record names (``recorded``) is still there and is not ``src`` (by
    path, or the same file under another name); a clip since moved, renamed or deleted is not
    taken for another one, nor is an output recorded without its clip (older versions)."""
    from ..video import same_file

    if recorded is None or Path(recorded) == src.absolute() or not Path(recorded).exists():
        return False
    return not same_file(recorded, src)


def _plan_detection(src: Path, out: Path, overwrite: bool, imgsz: int, conf: float) -> _DetectionPlan:
    """Check the arguments and plan the outputs (the folder rules of ``cvdenoise denoise``);
    raises as :func:`run_detection` documents, before anything is built or written."""
    from .._checks import is_integer, is_real
    from ..dicom import is_dicom_file
    from ..folder import OUTPUT_MARKER, Job, OutputRecords, not_ours, plan_jobs, record_problem, recorded_source
    from ..io import IMAGE_SUFFIXES, STILL_IMAGE_SUFFIXES, creation_problem, file_above
    from ..video import VIDEO_SUFFIXES, same_file

    if not src.exists():
        from ..video import VideoReadError, image_sequence_message

        if (sequence := image_sequence_message(src, "detect")) is not None:  # (frames/f%04d.png: what to do instead)
            raise VideoReadError(sequence)
        raise FileNotFoundError(f"source not found: {src}")
    if src.is_file() and is_dicom_file(src):
        raise ValueError(f"{src}: detect takes photos and videos, not DICOM; denoise it with `cvdenoise denoise` "
                         "and export the frames as images first")
    if not out.exists() and out.suffix.lower() in (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES):
        raise ValueError(f"-o {out} names the output folder, but looks like a file name: detect writes the "
                         "annotated images (or <stem>.mp4) and the timing CSV into a folder; give a folder")
    # (an image of another format named directly — .jp2, .hdr, .ras … — is an image too, as denoise takes it)
    is_images = src.is_dir() or src.suffix.lower() in STILL_IMAGE_SUFFIXES
    records = OutputRecords()  # (never over a user's file)
    planned = plan_jobs([src], out, overwrite=overwrite, records=records, can_skip=False) if is_images else []
    jobs: list[Job] = []
    for j in planned:
        if j.src.suffix.lower() not in STILL_IMAGE_SUFFIXES:  # (DICOM: skipped with a word; a folder search finds IMAGE_SUFFIXES)
            continue
        if j.dst.suffix.lower() == ".pgm":  # the annotated frame is colour: PGM's colour twin, PPM
            j = replace(j, dst=j.dst.with_suffix(".ppm"))
            if not records.replaceable(j.dst, overwrite):
                raise not_ours(j.dst, can_skip=False)
        jobs.append(j)
    written_by: dict[Path, Path] = {}
    for j in jobs:  # (a.pgm, now a.ppm, beside a.ppm: one annotated frame would replace the other)
        if (other := written_by.setdefault(j.dst, j.src)) != j.src:
            raise ValueError(f"{other} and {j.src} would both be written to {j.dst} (detect writes a gray PGM's "
                             "annotated colour frame as .ppm): rename one of them, or run each with its own -o")
    if is_images and not jobs:
        raise ValueError(f"no images found in {src} (suffixes: {', '.join(IMAGE_SUFFIXES)})")
    dst = out / f"{src.stem}.mp4"
    if not is_images and (same_file(src, dst) or dst.resolve() == src.resolve()):
        raise ValueError(f"refusing to overwrite the input video {src}: choose another output folder")
    if out.exists() and not out.is_dir() or (blocking := file_above(out)) is not None:
        raise ValueError(f"output folder {out}: {out if out.exists() else blocking} is a file, not a folder")
    if (problem := creation_problem(out / _timing_name(src, is_images))) is not None:  # (before YOLO is built)
        raise ValueError(f"output folder {out} cannot be written: {problem}")
    if not is_integer(imgsz) or imgsz < 1:
        raise ValueError(f"imgsz must be a positive number of pixels, got {imgsz!r}")
    if not is_real(conf) or not 0.0 <= float(conf) <= 1.0:
        raise ValueError(f"conf must be a confidence in [0, 1], got {conf!r}")
    timing_name = _timing_name(src, is_images)
    video, timing = (Job(src, out.resolve() / p.name, out.resolve() / OUTPUT_MARKER, record_source=not is_images)
                     for p in (dst, out / timing_name))
    for job in [timing] if is_images else [video, timing]:  # the files besides the images: also never a user's
        if not records.replaceable(job.dst, overwrite):
            raise not_ours(job.dst, can_skip=False)
        if not is_images and not overwrite and _other_clip(was := recorded_source(job.dst), src):
            raise ValueError(f"{job.dst} holds what an earlier run wrote for another clip of the same name, "
                             f"{was}: give this clip its own -o folder, or --overwrite to replace it")
        if job.marker is not None and (problem := record_problem(job.marker)) is not None:  # (before the work, as for images)
            raise ValueError(problem)
    skipped_dicom = [j.src for j in planned if is_dicom_file(j.src)]
    return _DetectionPlan(src, out, is_images, jobs, skipped_dicom, dst, video, timing, records)


def _bgr8(frame: np.ndarray, bits: int | None = None, maxval: int | None = None) -> np.ndarray:
    """A still as read by :func:`cvdenoise.io.read_image` → ``(H,W,3)`` uint8 BGR (gray and gray +
    alpha spread to three planes, alpha dropped; 16-bit and PGM/PPM at the full scale the file
    declares — ``bits`` (PNG sBIT), ``maxval`` — as ``denoise`` reads it, float in [0,1] scaled
    to 8 bits)."""
    import cv2

    from ..folder import stored_full_scale

    if frame.ndim == 3 and frame.shape[2] == 2:  # gray + alpha PNG
        frame = frame[..., 0]
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    frame = frame[:, :, :3]
    if frame.dtype != np.uint8 or (maxval is not None and maxval < 255):
        frame = (frame.astype(np.float32) / stored_full_scale(frame, bits, maxval) * 255).clip(0, 255).round().astype(np.uint8)
    return frame


def _detect_images(plan: _DetectionPlan, process: Callable[[str, np.ndarray], np.ndarray], run: DetectionRun,
                   progress: bool, jobs: list[Any], first: np.ndarray | None = None) -> None:
    """Annotate each image of ``jobs`` (planned); one that cannot be read or written goes to
    ``run.failed``. ``first``: the first job's image, already decoded (not read again)."""
    from .._progress import progress_bar
    from ..folder import write_recorded
    from ..io import read_image, read_metadata, write_image

    for job in progress_bar(jobs, desc="detect", unit="img", disable=not progress):
        name = str(job.dst.relative_to(plan.out.resolve()))
        try:
            meta = read_metadata(job.src)  # (the declared full scale, as denoise reads the file)
            image, first = (read_image(job.src) if first is None else first), None  # (not held for the rest of the run)
            annotated = process(name, _bgr8(image, meta.significant_bits, meta.pnm_maxval))
            if image.dtype.kind == "f":  # (a float image — TIFF, PFM, HDR — holds [0, 1]: so does its annotated copy)
                annotated = annotated.astype(np.float32) / 255
            write_recorded(job, lambda: write_image(job.dst, annotated), plan.records)  # (both or neither)
        except BaseException as e:
            if run and run[-1].name == name:  # timed, but not written (a failure, or Ctrl-C before the write): no row
                run.pop()
            if not isinstance(e, (OSError, ValueError)):
                raise
            run.failed.append(_failure(job.src, e))


def _detect_video(plan: _DetectionPlan, process: Callable[[str, np.ndarray], np.ndarray],
                  warm_up: Callable[[np.ndarray], Any], run: DetectionRun, progress: bool) -> None:
    """Annotate every frame of the video into ``out/<stem>.mp4``; missing frames go to ``run.failed``."""
    from .._progress import progress_bar
    from ..folder import mark_output
    from ..video import HeldFrames, close_frames, read_video, video_writer, warn_if_truncated

    src, dst = plan.src, plan.video_path
    frames, fps, size, count = read_video(src)
    try:
        first = next(frames)  # warm the denoiser and YOLO up at the clip's own size (not timed)
        warm_up(first)
        chained = itertools.chain([first], frames)
        with video_writer(src, dst, fps, size, on_written=lambda: mark_output(plan.video, plan.records)) as write:
            with progress_bar(total=count or None, desc="detect", unit="frame", disable=not progress) as bar:
                held = HeldFrames(write, bar)  # (slots a clip holds a frame for: that annotated frame again, as `video`)
                for i, f in enumerate(chained):
                    number = getattr(frames, "index", i)  # the source frame's (a damaged one is skipped, not renumbered)
                    held.write(process(f"{number:06d}", f), getattr(frames, "held", 0))
                held.end(getattr(frames, "held_at_end", 0))
    finally:
        close_frames(frames)  # released now, also when YOLO, the writer or a frame failed
    if (truncated := warn_if_truncated(src, dst, len(run) + getattr(frames, "held_total", 0), count, stacklevel=4,
                                       stand_ins=getattr(frames, "stand_ins", 0))) is not None:  # (at run_detection's caller)
        run.failed.append((src, truncated))  # written, but not the whole clip: a failure for the exit code, as `video`


#: the failure a DICOM file in an image folder is reported with
_DICOM_SKIPPED = "DICOM: detect takes photos and videos (denoise DICOM with `cvdenoise denoise`)"


def _failure(src: Path, e: Exception) -> tuple[Path, str]:
    """``(file, reason)`` of an image that could not be read or written, as ``failed`` holds it."""
    return src, f"{type(e).__name__}: {str(e).removeprefix(f'{src}: ')}"


def _first_readable(jobs: list[Any]) -> tuple[list[tuple[Path, str]], list[Any], np.ndarray | None]:
    """The failures of ``jobs`` up to the first image that reads, the jobs from that one on, and
    its decoded image (``None`` when not one reads: then no YOLO is built for them)."""
    from ..io import read_image

    failures: list[tuple[Path, str]] = []
    for k, job in enumerate(jobs):
        try:
            return failures, jobs[k:], read_image(job.src)
        except (OSError, ValueError) as e:
            failures.append(_failure(job.src, e))
    return failures, [], None


def _write_timing(run: DetectionRun, job: Any, records: Any) -> None:
    """The per-frame timings as CSV (frame, denoise_ms, detect_ms, detections), written atomically and recorded."""
    from .._fs import atomic_csv
    from ..folder import write_recorded

    rows = ([t.name, f"{t.denoise_ms:.2f}", f"{t.detect_ms:.2f}", t.detections] for t in run)
    write_recorded(job, lambda: atomic_csv(job.dst, ["frame", "denoise_ms", "detect_ms", "detections"], rows), records)


def run_detection(
    source: str | Path,
    model: str | Path,
    out: str | Path,
    denoiser: Denoiser | None = None,
    conf: float = 0.25,
    imgsz: int = 640,
    progress: bool = True,
    overwrite: bool = False,
    gate: bool | tuple[float, float] = False,
    temporal: float = 0.0,
) -> DetectionRun:
    """Denoise → YOLO on an image folder/file or a video; write annotated output and timings.

    The frames go through a :class:`~cvdenoise.FrameFilter` with ``gate`` (clean frames pass through
    unchanged, as in the documented OpenCV loop) and, for a video, ``temporal`` smoothing.

    Images are written as ``out/<relative path>`` (the folder rules of ``cvdenoise denoise``:
    never over an input, never into an input folder, earlier outputs inside an input folder are
    not read again); an image that cannot be read or written is recorded in
    :attr:`DetectionRun.failed` and the others are still processed. A video is written as
    ``out/<stem>.mp4`` (even width and height, as the codec needs). A CSV of timings (frame,
    denoise_ms, detect_ms, detections) is written to ``out``: ``timing.csv`` for images,
    ``<stem>.timing.csv`` for a video (so clips of different stems run into one folder keep theirs;
    the output record names the clip, and a run of another clip of the same stem into the same
    ``out`` is refused unless ``overwrite``); YOLO is warmed up first (for a video, the denoiser too, on its first frame), so the
    first row is not its start-up. YOLO runs on the denoiser's device. ``denoiser=None`` loads
    ``"fast"``; pass ``strength=0`` in it to measure YOLO alone.

    Raises:
        FileNotFoundError: ``source`` or a weights file ``model`` does not exist.
        ValueError: no images, ``imgsz`` < 1, ``conf`` outside [0, 1], a bad ``gate`` or ``temporal`` (or
            ``temporal`` on images, which are no sequence; or a gate on a ``denoiser`` of a fixed strength), a classification model, ``out`` is a file, an
            output that would overwrite the input or (unless
            ``overwrite``) a file in ``out`` that cvdenoise did not write (the rules of
            :func:`cvdenoise.folder.plan_jobs`; ``timing.csv`` and the video are recorded too), a
            ``<stem>.mp4``/``<stem>.timing.csv`` an earlier run made from another clip that is
            still there (unless ``overwrite``), or a model file Ultralytics cannot load.
        cvdenoise.video.VideoReadError: an unreadable video.
    """
    from ..temporal import TemporalSmoother
    from ..video import FrameFilter, ImageNotVideoError, check_frame_size, check_gate, close_frames, read_video

    plan = _plan_detection(Path(source), Path(out), overwrite, imgsz, conf)
    if temporal and plan.is_images:  # (smoothing would blend unrelated images of one size into each other)
        raise ValueError(f"temporal smoothing needs a video; {source} is images")
    thresholds = check_gate(gate)  # a bad gate or temporal weight: said before YOLO is built or `out` made
    if denoiser is not None:
        _check_gate_strength(denoiser, thresholds)
    TemporalSmoother(temporal)
    if not plan.is_images:  # an unreadable video fails here, before YOLO is built or `out` made
        try:
            frames, _, size, _ = read_video(plan.src)
            close_frames(frames)  # (opened again where its frames are read, not held open meanwhile)
            check_frame_size(plan.src, size)  # (a 1×64 clip: said now, not after YOLO is built and warmed up)
        except ImageNotVideoError as e:  # (its advice, `cvdenoise denoise`, is not detect's: detect takes images)
            if e.kind == "GIF":  # (a single-frame GIF: detect reads a GIF as a clip, an animated one)
                raise ImageNotVideoError(f"{plan.src} is a single GIF image, not a clip: convert it to PNG and run "
                                         "detect on that", e.kind) from None
            suffix = {"PNM": "ppm (or .pgm)"}.get(e.kind, e.kind.lower())
            raise ImageNotVideoError(f"{plan.src} is a {e.kind} image with a video's suffix: detect takes it as an "
                                     f"image under its own suffix (rename it .{suffix})", e.kind) from None
    unreadable, jobs, first = _first_readable(plan.jobs) if plan.is_images else ([], [], None)
    if plan.is_images and first is None:  # not one image reads: said before YOLO is built or `out` made
        run = DetectionRun(plan.out / plan.timing.dst.name)
        run.failed += [(p, _DICOM_SKIPPED) for p in plan.skipped_dicom] + unreadable
        return run
    yolo = load_yolo(model)
    if getattr(yolo, "task", None) == "classify":  # (its results hold no boxes: a TypeError per frame)
        raise ValueError(f"{model}: a classification model; detect draws what a model finds in a frame, so it "
                         "takes a detect, segment, pose or obb model")
    stride = _stride(yolo)
    if imgsz % stride:  # (Ultralytics rounds it up, saying so only when its logging is on)
        warnings.warn(f"imgsz {imgsz} is no multiple of the model's stride {stride}: YOLO runs at "
                      f"{-(-imgsz // stride) * stride}", UserWarning, stacklevel=2)
    ff = FrameFilter(denoiser=denoiser or load("fast", half="auto"), gate=gate, temporal=temporal)
    device = str(ff.denoiser.device)
    run = DetectionRun(plan.out / plan.timing.dst.name)
    run.failed += [(p, _DICOM_SKIPPED) for p in plan.skipped_dicom] + unreadable  # (the images before the first that reads)
    try:  # warm-up; Ultralytics opens a model file that is not a .pt (.onnx, an image, ...) only here
        yolo.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz, verbose=False, device=device)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:  # (not e.g. CUDA out of memory)
        raise _not_yolo(model, e) from e
    made = missing_folders(plan.out)
    plan.out.mkdir(parents=True, exist_ok=True)

    def process(name: str, frame: np.ndarray) -> np.ndarray:  # (frame: BGR uint8, see _bgr8)
        t0 = time.perf_counter()
        clean = ff(frame)
        t1 = time.perf_counter()
        res: Any = list(yolo.predict(clean, conf=conf, imgsz=imgsz, verbose=False, device=device))[0]
        t2 = time.perf_counter()
        found = res.boxes if res.boxes is not None else res.obb  # (an obb model's boxes are oriented)
        run.append(FrameTiming(name, (t1 - t0) * 1e3, (t2 - t1) * 1e3, 0 if found is None else len(found)))
        return res.plot()

    def warm_up(first: np.ndarray) -> None:
        yolo.predict(ff.denoiser(first, channel_order="bgr"), conf=conf, imgsz=imgsz, verbose=False, device=device)

    try:
        if plan.is_images:
            _detect_images(plan, process, run, progress, jobs, first)
        else:
            _detect_video(plan, process, warm_up, run, progress)
    except KeyboardInterrupt:  # (Ctrl-C, SIGTERM): the annotated images kept get their timing rows
        if plan.is_images and run:
            _write_timing(run, plan.timing, plan.records)
        remove_empty(made)  # (a video's, or an image run stopped before its first image: nothing left behind)
        raise
    _write_timing(run, plan.timing, plan.records)
    run.frames = list(ff.history)
    return run
