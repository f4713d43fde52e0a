"""``cvdenoise`` command line: argument parsing and printing only."""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import re
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from ._argtypes import number_in, path_argument, whole_number
from ._defaults import DEFAULT_OVERLAP, DEFAULT_TILE

__all__ = ["main", "build_parser"]


def _ensemble(value: str) -> int | str:
    if value == "auto":
        return value
    if value not in ("1", "2", "4", "8"):
        raise argparse.ArgumentTypeError(f"expected auto, 1, 2, 4 or 8, got {value!r}")
    return int(value)


_positive_int = whole_number(1, None, "a positive integer")
_percent = whole_number(1, 100, "a whole number in 1..100")
_unit_float = number_in(0.0, 1.0, "a number in [0, 1]")
_unit_strength = number_in(0.0, 1.0, "auto or a number in [0, 1]")


def _strength(value: str) -> float | str:
    """argparse ``type=`` for ``--strength``: ``auto`` or a number in ``[0, 1]`` (no torch import)."""
    return value if value == "auto" else _unit_strength(value)


def _add_denoiser_options(p: argparse.ArgumentParser, weights: str = "default") -> None:
    other = "fast" if weights == "default" else "default"
    p.add_argument("--weights", "-w", default=weights,
                   help=f"'{weights}' (default), '{other}', a shipped name, a .safetensors path or an exported .onnx/.pt file")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    p.add_argument(
        "--half", action=argparse.BooleanOptionalAction, default="auto",
        help="reduced precision: float16 on CUDA, bfloat16 on CPUs with AMX or AVX512-BF16 "
             "(default: float16 on CUDA; on a CPU bfloat16 where fast — AMX, AMD's AVX512-BF16 — else float32; --no-half: float32)",
    )
    p.add_argument("--tile", type=int, default=DEFAULT_TILE,
                   help=f"tile size for large images (default {DEFAULT_TILE}; 0: never tile; at least 2 × overlap + the model's size multiple, 8 for fast, 16 for default; a smaller tile "
                        "needs less memory for the network; the whole-image buffers stay)")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help=f"tile overlap in pixels (default {DEFAULT_OVERLAP})")
    p.add_argument("--strength", type=_strength, default="auto", metavar="{auto,0..1}",
                   help="auto (default): per image, from what the model removes — clean and lightly degraded "
                        "images keep their fine texture; or 0 (input) to 1 (plain model output)")
    p.add_argument("--ensemble", type=_ensemble, default="auto", metavar="{auto,1,2,4,8}",
                   help="flip/rotate self-ensemble: average of N passes (a small PSNR gain, N× the time); "
                        "auto: 2 for the default model in bfloat16 on AMX and AMD Zen 5 CPUs "
                        "(together about half a float32 pass on AMX, one on Zen 5), else 1")
    p.add_argument("--runtime", choices=("torch", "onnxruntime"), default=None,
                   help="where the model runs: torch (default for weights) or onnxruntime (float32 on the CPU; "
                        "pip install 'cvdenoise[onnx]'); omit it for an exported file (.onnx; TorchScript .pt, .ts, "
                        ".torchscript), which always runs in its own runtime")


def _load(args: argparse.Namespace):  # noqa: ANN202
    from .denoiser import load

    return load(
        args.weights, device=args.device, half=args.half, tile=args.tile, overlap=args.overlap,
        strength=args.strength, ensemble=args.ensemble, runtime=args.runtime,
    )


def _model_words(den) -> str:  # noqa: ANN001  (a Denoiser; imported lazily)
    """What ran, for a command's summary line: ``color-fast, fp32 ×1 on cpu``."""
    graph = den.metadata.get("precision")  # an exported file: its graph's precision (its I/O is float32)
    precision = f"{graph} graph" if graph else den.precision
    runtime = "" if den.runtime == "torch" else f" ({den.runtime})"
    return f"{den.name}, {precision} ×{den.ensemble} on {den.device}{runtime}"


def _cmd_denoise(args: argparse.Namespace) -> int:
    from .folder import OutputRecords, denoise_files, names_image_file, plan_file_job, plan_jobs
    from .io import pixel_limit

    try:
        pixel_limit()  # a bad CVDENOISE_MAX_PIXELS: said once, not once per image
        if args.dicom_window is not None:
            from .dicom import check_window

            try:
                check_window(args.dicom_window)
            except ValueError as e:
                raise ValueError(f"--dicom-window {' '.join(f'{v:g}' for v in args.dicom_window)}: {e}") from None
        records = OutputRecords()  # (read once: the plan and the summary's count of the user's replaced files)
        if not names_image_file(args.output):
            jobs = plan_jobs(args.inputs, args.output, skip_existing=args.skip_existing, overwrite=args.overwrite,
                             records=records)
        elif len(args.inputs) == 1 and not Path(args.inputs[0]).is_dir():  # `denoise photo.jpg -o clean.jpg`
            jobs = plan_file_job(args.inputs[0], args.output, skip_existing=args.skip_existing, overwrite=args.overwrite)
        else:
            what = "the input is a folder" if len(args.inputs) == 1 else f"{len(args.inputs)} inputs are given"
            print(f"cvdenoise denoise: error: -o {args.output} names one image file, but {what}: -o names the folder "
                  "the copies go to (an image file only with one input file); "
                  f"did you mean -o {Path(args.output).with_suffix('')}?", file=sys.stderr)
            return 2
        den = _load(args)
    except (OSError, ValueError) as e:
        print(f"cvdenoise denoise: error: {e}", file=sys.stderr)
        return 2
    there_before = set() if args.skip_existing else {j.dst for j in jobs if os.path.lexists(j.dst)}
    theirs = {p for p in there_before if args.overwrite and not records.ours(p)}  # (--overwrite: the user's own)
    report = denoise_files(jobs, den, progress=not args.quiet, skip_existing=args.skip_existing, quality=args.quality,
                           dicom_window=args.dicom_window)
    skipped = len(jobs) - len(report.written) - len(report.failed) - len(report.not_images)
    replaced = sum(1 for p in report.written if p in there_before - theirs)  # (a rerun said nothing of replacing its copies)
    replaced_theirs = sum(1 for p in report.written if p in theirs)
    where = f"to {args.output}" if os.path.exists(args.output) else f"({args.output} was not made)"  # (all failed)
    print(f"wrote {len(report.written)} of {len(jobs) - len(report.not_images)} images {where} "
          f"({_model_words(den)})"
          + (f"; replaced {replaced} written before (keep such copies: --skip-existing)" if replaced else "")
          + (f"; replaced {replaced_theirs} file(s) cvdenoise did not write (--overwrite)" if replaced_theirs else "")
          + (f"; skipped {skipped} that already existed" if skipped else ""))
    if report.not_images:  # a DICOM medium's DICOMDIR and reports: no image to denoise, not copied, no failure
        print(f"skipped {len(report.not_images)} DICOM file(s) that hold no image (a DICOMDIR, reports, RT plans; "
              f"e.g. {_one_line(str(report.not_images[0]))}): not copied")
    return _report_failures(report.failed)


#: the longest reason a FAILED line gives (a library's message may quote a whole traceback)
_LONGEST_REASON = 600
#: a byte of a file name that is not UTF-8, as Python holds it (surrogate escape)
_SURROGATE = re.compile("[\udc80-\udcff]")


def _one_line(name: str) -> str:
    """``name`` with its control characters escaped (``\\n``, ``\\t``, ``\\x1b``): a file name
    holding a line break must not break a one-line message."""
    return "".join(repr(c)[1:-1] if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in name)


def _report_failures(failed: Sequence[tuple[Path, str]]) -> int:
    """Print one ``FAILED path: reason`` line per failed file and a count; return the exit code."""
    for path, reason in failed:
        reason = " ".join(reason.split())  # (one line: pydicom's messages hold line breaks and tabs)
        if len(reason) > _LONGEST_REASON:
            reason = reason[: _LONGEST_REASON - 1] + "…"
        print(f"FAILED {_one_line(str(path))}: {reason}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _add_gate_options(p: argparse.ArgumentParser, source: str, temporal: str = "") -> None:
    """``--gate`` and ``--temporal`` (``video`` and ``detect``: a :class:`~cvdenoise.FrameFilter`'s options)."""
    p.add_argument("--gate", type=float, nargs="*", metavar="LOW HIGH", default=None,
                   help="noise gate, `--gate` (σ 3 → 6) or `--gate LOW HIGH`: frames whose noise σ (8-bit units, "
                        "what the model removes) is below LOW pass through unchanged, above HIGH are fully denoised; "
                        "for frames that are often clean, whose fine detail the model would otherwise smooth "
                        f"(a bare --gate takes the numbers after it: put it after {source})")
    p.add_argument("--temporal", type=float, default=0.0, metavar="W",
                   help=f"temporal smoothing of {temporal}frames: weight 0..<1 of the previous frame in static regions, "
                        "times each frame's strength (less flicker; default 0: off)")


def _print_gate_summary(infos: Sequence[Any]) -> None:
    """The noise gate's line of ``video`` and ``detect``: the median σ it read and the frames it passed through."""
    sig = [i.sigma for i in infos if i.sigma is not None]
    if not sig:
        return
    passed = sum(i.strength == 0 and not i.impulses for i in infos)
    spotted = sum(i.strength == 0 and i.impulses > 0 for i in infos)
    spots = f", {spotted} with only their impulse pixels (salt-and-pepper) replaced" if spotted else ""
    print(f"noise gate: median σ {sorted(sig)[len(sig) // 2]:.2f}, {passed} frame(s) passed through unchanged{spots}")


def _video_gate(args: argparse.Namespace) -> bool | tuple[float, ...] | str:
    """``--gate`` as FrameFilter takes it (False, True or LOW HIGH), or the error to print."""
    if args.gate is not None and len(args.gate) not in (0, 2):
        return (f"--gate takes no value (σ 3 → 6) or two (LOW HIGH), got {len(args.gate)} value(s): "
                f"{' '.join(f'{v:g}' for v in args.gate)}")
    gate: bool | tuple[float, ...] = False if args.gate is None else tuple(args.gate) or True
    if isinstance(gate, tuple) and not (0 <= gate[0] < gate[1] and math.isfinite(gate[1])):
        return f"--gate LOW HIGH needs finite numbers with 0 <= LOW < HIGH, got {args.gate[0]:g} {args.gate[1]:g}"
    if gate and args.strength != "auto":
        return "--strength and --gate both set how much of the model's output is kept; use one of them"
    return gate


def _foreign_output(command: str, path: Path, records: Any, overwrite: bool) -> bool:
    """Say (and return True) that ``path`` is a file of the user's that this run would replace:
    it exists, cvdenoise did not write it (or it changed since) and ``--overwrite`` is not given.
    (An output that is no regular file is refused by the command's own checks.)"""
    if not path.is_file() or records.replaceable(path, overwrite):
        return False
    who = ("`cvdenoise export` did not write it, or it changed since (what cvdenoise.export's functions write is not "
           "recorded)" if command == "export" else "cvdenoise did not write it (or it changed since)")
    print(f"cvdenoise {command}: error: {path} exists and {who}: "
          "refusing to replace it; choose another name, or replace it with --overwrite", file=sys.stderr)
    return True


def _video_problem(args: argparse.Namespace, records: Any) -> str | None:
    """What makes the outputs of ``cvdenoise video`` unusable, said before the model is loaded
    and the video opened (a file of the user's in the way is said by :func:`_foreign_output`)."""
    from .video import check_video_output

    if args.report and (problem := _report_problem(Path(args.report), Path(args.input), Path(args.output))):
        return f"--report {args.report}: {problem}"
    try:
        check_video_output(args.input, args.output, args.codec)
    except ValueError as e:
        return str(e)
    from .folder import OUTPUT_MARKER, record_problem

    for p in (args.output, args.report):  # (the record of each output, written once it is in place)
        if p and (problem := record_problem(Path(p).resolve().parent / OUTPUT_MARKER)) is not None:
            return problem
    if any(_foreign_output("video", Path(p), records, args.overwrite) for p in (args.output, args.report) if p):
        return ""  # (said)
    return None


def _denoise_clip(args: argparse.Namespace, ff: Any, on_written: Callable[[], object]) -> tuple[list[Any], bool]:
    """Run :func:`cvdenoise.video.denoise_video` (``on_written``: its hook, see there); returns its
    per-frame infos and whether frames were missing. Its warnings are shown after the run, also
    when it fails."""
    from .video import TruncatedVideoWarning, denoise_video

    held: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedVideoWarning)
            try:
                infos = denoise_video(args.input, args.output, ff, batch_size=args.batch, progress=not args.quiet,
                                      codec=args.codec, on_written=on_written)
            finally:
                held = list(caught)
    finally:
        for w in held:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return infos, any(issubclass(w.category, TruncatedVideoWarning) for w in held)


def _write_frame_report(job: Any, infos: list[Any], records: Any) -> None:
    """The per-frame CSV of ``cvdenoise video --report`` (frame, sigma, strength, ms, impulses),
    written atomically and recorded."""
    from ._fs import atomic_csv
    from .folder import write_recorded

    rows = ([i.index, "" if i.sigma is None else f"{i.sigma:.3f}", f"{i.strength:.3f}", f"{i.ms:.2f}", i.impulses]
            for i in infos)
    write_recorded(job, lambda: atomic_csv(job.dst, ["frame", "sigma", "strength", "ms", "impulses"], rows), records)


def _cmd_video(args: argparse.Namespace) -> int:
    from .folder import OUTPUT_MARKER, Job, OutputRecords, mark_output
    from .video import FrameFilter, VideoReadError, stored_frames, video_fourcc

    gate = _video_gate(args)
    if isinstance(gate, str):
        print(f"cvdenoise video: error: {gate}", file=sys.stderr)
        return 2
    records = OutputRecords()
    if (problem := _video_problem(args, records)) is not None:
        if problem:
            print(f"cvdenoise video: error: {problem}", file=sys.stderr)
        return 2
    for attr in ("output", "report"):  # a link is written through: the file it leads to is replaced (and recorded)
        if getattr(args, attr) and os.path.islink(getattr(args, attr)):
            setattr(args, attr, os.path.realpath(getattr(args, attr)))
    video_job, report_job = (Job(Path(args.input), Path(p).resolve(), Path(p).resolve().parent / OUTPUT_MARKER)
                             for p in (args.output, args.report or args.output))
    try:
        den = _load(args)
        ff = FrameFilter(denoiser=den, gate=gate, temporal=args.temporal)  # type: ignore[arg-type]
        infos, truncated = _denoise_clip(args, ff, functools.partial(mark_output, video_job, records))
    except (FileNotFoundError, VideoReadError, ValueError, OSError) as e:
        print(f"cvdenoise video: error: {e}", file=sys.stderr)
        return 2
    if args.report:
        try:
            _write_frame_report(report_job, infos, records)
        except OSError as e:
            print(f"cvdenoise video: error: cannot write --report {args.report}: {e} (the video was written)",
                  file=sys.stderr)
            return 1
    ms = sorted(i.ms for i in infos)
    fourcc = video_fourcc(args.output, args.codec)
    slots = stored_frames(args.output)  # (more than the frames denoised where the clip held frames: repeated)
    repeated = f" ({len(infos)} denoised, the clip's held frames repeated)" if slots > len(infos) else ""
    print(f"wrote {max(slots, len(infos))} frame{'' if max(slots, len(infos)) == 1 else 's'} to {args.output}{repeated} "
          f"({fourcc}{', lossless' if fourcc == 'FFV1' else ''}; median {ms[len(ms) // 2]:.1f} ms/frame; {_model_words(den)})")
    if gate:
        _print_gate_summary(infos)
    return 1 if truncated else 0  # (frames missing: written, but not the whole clip, as a failed file of `denoise`)


def _report_problem(report: Path, src: Path, dst: Path) -> str | None:
    """Why ``report`` cannot take the CSV (checked before any frame is denoised), or None.
    Creates nothing: its folder is made when the CSV is written."""
    from .folder import OUTPUT_MARKER
    from ._fs import creation_problem, file_above, no_regular_file
    from .video import same_file

    target = report.resolve()
    if target in (src.resolve(), dst.resolve()) or same_file(report, src) or same_file(report, dst):
        return "is the input or the output video; give the CSV its own file name"
    if report.name == OUTPUT_MARKER:
        return f"{OUTPUT_MARKER} is where cvdenoise records its outputs; give the CSV another name"
    if report.is_dir():
        return "is a folder; give a file name such as frames.csv"
    if (problem := no_regular_file(report)) is not None:  # a link to a pipe or a device: it would be replaced by a file
        return f"{problem}; give a file name such as frames.csv"
    if (blocking := file_above(report)) is not None:
        return f"{blocking} is a file, so no folder can be made there"
    return creation_problem(report)  # (its nearest existing folder must take a new file)


def _cmd_detect(args: argparse.Namespace) -> int:
    os.environ.setdefault("YOLO_VERBOSE", "False")  # (Ultralytics' settings-file and model-summary chatter; its warnings run_detection says)
    gate = _video_gate(args)
    if isinstance(gate, str):
        print(f"cvdenoise detect: error: {gate}", file=sys.stderr)
        return 2
    try:
        from .integrations.ultralytics import run_detection
        from .io import pixel_limit
        from .video import TruncatedVideoWarning, VideoReadError

        pixel_limit()  # a bad CVDENOISE_MAX_PIXELS: said once, not once per image

        den = _load(args)
        with warnings.catch_warnings():  # (a clip missing frames is a FAILED line below; not said twice)
            warnings.simplefilter("ignore", TruncatedVideoWarning)
            timings = run_detection(args.source, args.model, args.output, denoiser=den, conf=args.conf,
                                    imgsz=args.imgsz, progress=not args.quiet, overwrite=args.overwrite,
                                    gate=gate, temporal=args.temporal)  # type: ignore[arg-type]
    except ImportError as e:
        print(f"cvdenoise detect: error: {import_problem(e, 'yolo')}", file=sys.stderr)
        return 2
    except (FileNotFoundError, VideoReadError, ValueError, OSError) as e:
        print(f"cvdenoise detect: error: {e}", file=sys.stderr)
        return 2
    if timings:
        d = sorted(t.denoise_ms for t in timings)
        y = sorted(t.detect_ms for t in timings)
        print(f"{len(timings)} frame(s) → {args.output}; median denoise {d[len(d) // 2]:.1f} ms, "
              f"detect {y[len(y) // 2]:.1f} ms per frame ({timings.timing_file}; {_model_words(den)})")
        if gate:
            _print_gate_summary(timings.frames)
    return _report_failures(timings.failed)


def _cmd_weights(args: argparse.Namespace) -> int:
    import json

    from .blend import StrengthRule
    from .model import count_macs, count_params
    from .noise import GateReading
    from .weights import FAMILIES, WeightsError, available, load_model, read_card

    names = [member for n in args.paths for member in (FAMILIES[n].values() if n in FAMILIES else [n])]
    bad = 0
    for name in dict.fromkeys(names or available()):  # (a family names its members: `weights fast`)
        try:
            card = read_card(name)
            try:  # (as load() reads them: a malformed entry is this file's error, not a traceback)
                rule = StrengthRule.from_card(card)
                GateReading.from_card(card)
            except ValueError as e:
                raise WeightsError(f"{name}: {e}") from None
            if args.paths:  # a file named is opened and checked (a half-copied one with a good card fails)
                model = load_model(name)
                card = {"parameters": count_params(model), "macs_per_pixel": round(count_macs(model)), **card}
        except WeightsError as e:
            print(f"cvdenoise weights: error: {e}", file=sys.stderr)
            bad += 1
            continue  # the other files are still described
        fam = [f for f, m in FAMILIES.items() if name in m.values()]
        bench = card.get("benchmark", {})
        auto = f"a={rule.a:g} b={rule.b:g} k={rule.k:g}" if rule else "none (auto = 1)"
        column = name
        if len(name) > 18:  # a path longer than the column: on a line of its own, the columns kept below it
            print(name)
            column = ""
        print(
            f"{column:18s} alias={','.join(fam) or '-':8s} params={card.get('parameters', '?'):>9} "
            f"MACs/px={card.get('macs_per_pixel', '?'):>7}  auto-strength {auto}"
            f"{'  ' + str(card['role']).split(':')[0] if card.get('role') else ''}"
        )
        if args.verbose and (training := _training_words(card.get("training"))):
            print(f"  training: {training}")
        if bench and args.verbose:
            print("  benchmark: " + json.dumps(bench, indent=2, ensure_ascii=False).replace("\n", "\n  "))
    return 2 if bad else 0


def _training_words(training: object) -> str:
    """One line of a card's training record: steps, preset, validation PSNR, a fine-tune's start, interruption
    (nothing from a record that is no mapping: a hand-edited card is described, not a traceback)."""
    if not isinstance(training, dict):
        return ""
    recipe: dict[str, Any] = training["recipe"] if isinstance(training.get("recipe"), dict) else {}
    words = []
    if "steps_done" in training:
        words.append(f"{training['steps_done']} steps")
    if recipe.get("degradation"):
        words.append(f"on {recipe['degradation']}")
    if recipe.get("init"):
        words.append(f"from {recipe['init']}")
    validated = training.get("val_psnr_db") is not None  # (an interrupted export records None)
    if validated:
        start = f" (start {training['init_val_psnr_db']} dB)" if "init_val_psnr_db" in training else ""
        words.append(f"val PSNR {training['val_psnr_db']} dB{start}, input {training.get('val_input_psnr_db', '?')} dB")
    if training.get("interrupted"):
        words.append("interrupted (exported unvalidated)" if not validated else "interrupted")
    return ", ".join(map(str, words))


def _cmd_export(args: argparse.Namespace) -> int:
    if args.format == "torchscript" and (args.opset is not None or args.batch is not None or args.static):
        print("cvdenoise export: error: --opset, --batch and --static apply to --format onnx only", file=sys.stderr)
        return 2
    from .export import ExportArgumentError, ExportError, to_onnx, to_torchscript, weights_file
    from .folder import OUTPUT_MARKER, Job, OutputRecords, mark_output, record_problem
    from ._fs import no_regular_file
    from .weights import WeightsError

    if (problem := no_regular_file(args.output)) is not None:
        print(f"cvdenoise export: error: -o {args.output} {problem}", file=sys.stderr)
        return 2
    if os.path.islink(args.output):  # written through, as every command's -o: the file it leads to is replaced and recorded
        args.output = os.path.realpath(args.output)  # (it replaced the link itself, yet recorded the target as its own)
    out, records = Path(args.output), OutputRecords()
    source = weights_file(args.weights)  # -o the weights file itself: refused by the export, more precisely
    same_as_weights = source is not None and out.exists() and out.samefile(source)
    if not same_as_weights and _foreign_output("export", out, records, args.overwrite):  # never over a user's file (a YOLO .pt)
        return 2
    if (problem := record_problem(out.resolve().parent / OUTPUT_MARKER)) is not None:  # (before minutes of work)
        print(f"cvdenoise export: error: {problem}", file=sys.stderr)
        return 2
    check = "" if args.no_check else ", then checking it against PyTorch"

    def announce() -> None:  # once the arguments have passed the export's own checks
        print(f"cvdenoise export: exporting {args.weights} to {out}{check} (seconds to a minute on a CPU) …", file=sys.stderr, flush=True)

    job = Job(Path(str(args.weights)), out.resolve(), out.resolve().parent / OUTPUT_MARKER)
    record = functools.partial(mark_output, job, records)  # (with the export's end: a Ctrl-C waits for it)
    try:
        if args.format == "onnx":
            report = to_onnx(args.output, args.weights, channels=args.channels, opset=18 if args.opset is None else args.opset,
                             half=args.half, batch=args.batch, static=tuple(args.static) if args.static else None,
                             check=not args.no_check, on_start=announce, on_written=record)
        else:
            report = to_torchscript(args.output, args.weights, channels=args.channels, half=args.half,
                                    check=not args.no_check, on_start=announce, on_written=record)
    except (ImportError, ExportArgumentError) as e:
        print(f"cvdenoise export: error: {e}", file=sys.stderr)
        return 2
    except ExportError as e:
        print(f"cvdenoise export: FAILED: {e}", file=sys.stderr)
        return 1
    except (WeightsError, ValueError, OSError) as e:
        print(f"cvdenoise export: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _report_argument(value: str) -> str:
    """argparse ``type=`` for ``--report``: a non-empty file name (``-``, stdout, is not taken)."""
    if value == "-":
        raise argparse.ArgumentTypeError("the CSV is written to a file, not to stdout: give a file name such as frames.csv")
    return path_argument(value)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import main as train_main

    return train_main(args)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that an option taking none or a few values named by one
    metavar with spaces (``--gate``'s ``"LOW HIGH"``) reads ``[LOW HIGH]``, not ``[LOW HIGH ...]``."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.nargs == argparse.ZERO_OR_MORE and isinstance(action.metavar, str) and " " in action.metavar:
            return f"[{action.metavar}]"
        return super()._format_args(action, default_metavar)


def build_parser(train_options: bool = True) -> argparse.ArgumentParser:
    """The ``cvdenoise`` argument parser. ``train_options=False`` leaves the ``train`` subcommand's
    options out (they import the training code: albumentations, scipy) for a command line that
    does not train: :func:`main` builds it so, and ``--help``/``--version`` need no torch."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="cvdenoise", description="Learned image/video denoising for computer vision.")
    parser.add_argument("--version", action="version", version=f"cvdenoise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("denoise", help="denoise image files and folders into an output folder")
    p.add_argument("inputs", nargs="+", type=path_argument, help="image files or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output folder (created; never an input), or with one input file the output file "
                        "(an image name of the input's format, e.g. clean.jpg)")
    keep_or_replace = p.add_mutually_exclusive_group()
    keep_or_replace.add_argument("--skip-existing", action="store_true", help="skip outputs that already exist")
    keep_or_replace.add_argument("--overwrite", action="store_true",
                   help="replace existing files at output paths even if cvdenoise did not write them "
                        "(by default it refuses: see .cvdenoise-output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--quality", type=_percent, default=95, metavar="1..100",
                   help="quality of the JPEG and lossy WebP copies (default 95; a lossless WebP stays lossless)")
    p.add_argument("--dicom-window", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="DICOM: denoise this range of modality values (HU for CT, e.g. -200 400 for soft tissue) and "
                        "keep the rest as stored; default: the whole range, where CT noise of 10-20 HU reads as clean")
    _add_denoiser_options(p)
    p.set_defaults(func=_cmd_denoise)

    p = sub.add_parser("video", help="denoise a video file (any OpenCV-readable container)", formatter_class=_HelpFormatter)
    p.add_argument("input", type=path_argument, help="input video")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output video file (.mp4, .m4v, .avi, .mkv, .mov)")
    p.add_argument("--batch", type=_positive_int, default=4, help="frames per forward pass (default 4)")
    _add_gate_options(p, "the input video")
    p.add_argument("--report", default=None, metavar="CSV", type=_report_argument, help="write a CSV of per-frame noise σ (with --gate), strength and ms (frames run in batches: each frame gets its batch's mean)")
    p.add_argument("--codec", type=str.lower, choices=("auto", "mp4v", "mjpg", "ffv1"), default="auto",
                   help="auto (default): by the suffix, mp4v for .mp4/.m4v/.mov, MJPG for .avi/.mkv (both lossy); "
                        "ffv1: lossless, frames kept exactly (.mkv or .avi; files several times larger)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output video or --report CSV that cvdenoise did not write "
                        "(default: refuse; its own earlier outputs are always replaced)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_denoiser_options(p, weights="fast")
    p.set_defaults(func=_cmd_video)

    p = sub.add_parser("detect", help="denoise → Ultralytics YOLO on images or a video (offline)")
    p.add_argument("source", type=path_argument, help="image file, image folder or video file")
    p.add_argument("--model", required=True, type=path_argument, help="YOLO model: local .pt or a .yaml config (e.g. yolo26n.yaml)")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output folder for the annotated images and timing.csv (a video: <stem>.mp4 and <stem>.timing.csv)")
    p.add_argument("--conf", type=_unit_float, default=0.25, help="YOLO confidence threshold (default 0.25)")
    p.add_argument("--imgsz", type=_positive_int, default=640, help="YOLO inference size in pixels (default 640)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files in the output folder even if cvdenoise did not write them")
    _add_gate_options(p, "the source", temporal="a video's ")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_denoiser_options(p, weights="fast")
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("train", help="train a model on clean images (or procedural dead leaves)")
    if train_options:
        from .train import add_arguments

        add_arguments(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export", help="export weights to ONNX or TorchScript, verified against PyTorch")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"],
                   help="onnx (preferred; dynamo exporter) or torchscript (for stacks that need it)")
    p.add_argument("--weights", "-w", default="default", help="'default' (default), 'fast', a shipped name or a .safetensors path")
    p.add_argument("--channels", type=int, choices=[1, 3], default=None,
                   help="3 (RGB) or 1 (gray) member of a family (default 3; a file's own count for files)")
    p.add_argument("--half", action="store_true", help="float16 network with float32 input/output")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 18 or newer (default 18)")
    p.add_argument("--batch", type=_positive_int, default=None, help="fix the batch size (ONNX; default dynamic)")
    p.add_argument("--static", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="fix the input height and width, at most 4096 each (ONNX; default dynamic; keep them at a few hundred px or more)")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against PyTorch")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output file (.onnx, or .pt/.ts/.torchscript)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file cvdenoise did not write")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("weights", help="list shipped weights, or describe weights files")
    p.add_argument("paths", nargs="*", metavar="WEIGHTS",
                   help="shipped names (a family such as 'fast': its colour and gray files) or .safetensors files "
                        "to describe (default: every shipped file)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each card's training record and benchmark figures")
    p.set_defaults(func=_cmd_weights)
    return parser


def import_problem(e: ImportError, extra: str | None = None) -> str:
    """One line for an ``ImportError`` a command met: its own advice (a missing optional package
    names its extra), else the command's ``extra`` to install; for an OpenCV that cannot be
    imported (``opencv-python``, which Ultralytics installs, needs libGL and shares the ``cv2/``
    folder with the headless wheel cvdenoise depends on), how to keep the headless one."""
    text = str(e) or type(e).__name__
    if e.name == "cv2" or "cv2" in text or "libGL" in text or "libgthread" in text:
        return (f"OpenCV cannot be imported ({text}). Ultralytics installs opencv-python, which needs libGL and "
                "shares the cv2 folder with opencv-python-headless: keep the headless one (in a checkout: bash "
                "scripts/fix-opencv-headless.sh PIP; by hand: pip uninstall -y opencv-python, then pip install "
                "--force-reinstall --no-deps opencv-python-headless==VERSION, the version pip show opencv-python-headless gives)")
    if extra and "pip install" not in text:
        return f"{text} (install the extra: pip install 'cvdenoise[{extra}]')"
    return text


def _quiet_opencv(level: int | None = None) -> int | None:
    """Set OpenCV's log level (default: silent, so ``[ WARN:0@…] global loadsave.cpp …`` lines do
    not repeat what cvdenoise reports as one line naming the file); returns the previous level.
    (FFmpeg's log: ``OPENCV_FFMPEG_LOGLEVEL``, in :func:`_process_settings`.) ``None`` without
    touching anything where OpenCV cannot be imported: a command that needs it says so
    (:func:`import_problem`), one that does not (``weights``) runs."""
    try:
        import cv2
    except ImportError:
        return None

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None or not hasattr(logging, "setLogLevel"):
        return None
    previous = int(logging.getLogLevel())
    logging.setLogLevel(logging.LOG_LEVEL_SILENT if level is None else level)
    return previous


_FFMPEG_LOGLEVEL = "OPENCV_FFMPEG_LOGLEVEL"


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler) or SIGHUP (the terminal or SSH session closed): unwinds
    like Ctrl-C, so partial outputs are removed and a training run keeps a checkpoint."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__()
        self.signum = int(signum)


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def _catch_signals() -> dict[int, Any]:
    """Turn SIGTERM and, where it is not ignored (``nohup``), SIGHUP into :class:`_Terminated`;
    returns the handlers they had."""
    previous: dict[int, Any] = {signal.SIGTERM: signal.signal(signal.SIGTERM, _terminated)}
    hup = getattr(signal, "SIGHUP", None)  # (POSIX)
    if hup is not None and signal.getsignal(hup) is signal.SIG_DFL:
        previous[hup] = signal.signal(hup, _terminated)
    return previous


class _ReaderGone:
    """A text stream (``sys.stdout``/``sys.stderr``) that outlives its reader: once a write or
    flush meets a closed pipe (``cvdenoise … 2>&1 | head``), its file descriptor is pointed at
    ``os.devnull`` and the command goes on — a batch job is not stopped by its log. Text the
    stream's encoding cannot hold (a file name that is not UTF-8, on a strict stdout) is written
    with backslash escapes, as Python writes stderr, instead of failing after the work is done; the
    bytes of a name that is not UTF-8 are shown as ``\\xe9``, not as Python's ``\\udce9``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        text = _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)  # a name's raw bytes, as \xe9
        try:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(self._stream, "encoding", None) or "utf-8"
                return self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        except OSError as e:
            if not _reader_gone(e):
                raise
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            if not _reader_gone(e):
                raise
            self._to_devnull()

    def _to_devnull(self) -> None:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(fd, self._stream.fileno())
            finally:
                os.close(fd)
        except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture): drop the text
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _reader_gone(error: OSError) -> bool:
    """Whether a write failed because the reading end of a pipe closed (EPIPE; Windows: EINVAL)."""
    import errno

    return isinstance(error, BrokenPipeError) or error.errno in (errno.EPIPE, errno.EINVAL)


_SETTINGS_LOCK = threading.Lock()
_settings_users = 0  # main() calls running now (threads of one process may run several)
_settings_found: dict[str, Any] = {}  # what the first of them found, put back by the last one out


@contextlib.contextmanager
def _process_settings() -> Iterator[None]:
    """The process-wide settings of a ``main()`` call, for the block: ``sys.stdout``/``sys.stderr``
    wrapped in :class:`_ReaderGone`, warnings shown as one line each (:func:`_show_warning`),
    OpenCV's log silenced (:func:`_quiet_opencv`) and FFmpeg's too (``OPENCV_FFMPEG_LOGLEVEL=-8``,
    unless the caller set the variable; OpenCV reads it at its first video open, once per process).

    Counted: the first of several concurrent ``main()`` calls (threads) changes them, the last one
    out puts back what the first found, so no call restores another call's changes and the
    environment is not set and unset under another thread's native code. The variable is removed
    again (unless changed meanwhile), so the caller's later child processes do not inherit it."""
    global _settings_users, _settings_found
    with _SETTINGS_LOCK:
        if _settings_users == 0:
            _settings_found = {"streams": (sys.stdout, sys.stderr), "showwarning": warnings.showwarning,
                               "ffmpeg": _FFMPEG_LOGLEVEL not in os.environ}
            # (None under pythonw or a service: print() drops the text, as before)
            sys.stdout = _ReaderGone(sys.stdout) if sys.stdout is not None else None  # type: ignore[assignment]
            sys.stderr = _ReaderGone(sys.stderr) if sys.stderr is not None else None  # type: ignore[assignment]
            warnings.showwarning = _show_warning  # one line each, without Python's source location
            if _settings_found["ffmpeg"]:
                os.environ[_FFMPEG_LOGLEVEL] = "-8"
            _settings_found["opencv"] = _quiet_opencv()
        _settings_users += 1
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        with _SETTINGS_LOCK:
            _settings_users -= 1
            if _settings_users == 0:
                found, _settings_found = _settings_found, {}
                if found["opencv"] is not None:
                    _quiet_opencv(found["opencv"])
                if found["ffmpeg"] and os.environ.get(_FFMPEG_LOGLEVEL) == "-8":  # (changed meanwhile: left as it is)
                    del os.environ[_FFMPEG_LOGLEVEL]
                warnings.showwarning = found["showwarning"]
                sys.stdout, sys.stderr = found["streams"]


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word not starting with ``-``), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # (the training options import torch and albumentations: seconds in which Ctrl-C may come)
        args = build_parser(train_options=_command(argv) == "train").parse_args(argv)
        if args.command == "train":  # (a resume takes the recorded recipe for the options not typed)
            from .train import typed_options

            args.typed = typed_options(argv[argv.index("train") + 1 :])
    except KeyboardInterrupt:
        print(f"cvdenoise {_command(argv) or ''}: interrupted".replace(" :", ":"), file=sys.stderr)
        return 128 + signal.SIGINT
    with _process_settings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = _catch_signals() if main_thread else {}
    try:
        return int(args.func(args))
    except KeyboardInterrupt as e:
        resume = "; the images written are kept: add --skip-existing to go on" if args.command == "denoise" else ""
        hung_up = isinstance(e, _Terminated) and e.signum == getattr(signal, "SIGHUP", None)
        what = "hung up" if hung_up else "terminated" if isinstance(e, _Terminated) else "interrupted"
        print(f"cvdenoise {args.command}: {what}{resume}", file=sys.stderr)
        return 128 + (e.signum if isinstance(e, _Terminated) else signal.SIGINT)  # as the shell reports it
    except ImportError as e:  # a missing extra (onnxruntime for a .onnx file, pydicom, …) or a broken OpenCV
        print(f"cvdenoise {args.command}: error: {import_problem(e)}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    from tqdm import tqdm

    tqdm.write(f"cvdenoise: warning: {message}", file=sys.stderr)  # on a line of its own, above a progress bar


if __name__ == "__main__":
    raise SystemExit(main())
