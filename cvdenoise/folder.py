"""Denoise files and folders to an output folder (the engine behind ``cvdenoise denoise``).

Outputs keep their path relative to the folder given (``in/sub/b.jpg`` → ``out/sub/b.jpg``),
their name, format, channel count and bit depth (a gray + alpha PNG is denoised as gray, its
alpha kept, as ``Denoiser`` keeps an RGBA image's alpha), and their ICC profile and EXIF
(:func:`cvdenoise.io.read_metadata`). A file that cannot be read, denoised or
written is reported and skipped; the others are still written. Inputs are never overwritten.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from ._checks import check_float_range
from .data import IMAGE_SUFFIXES
from .dicom import DICOM_SUFFIXES, denoise_dataset, read_dicom, write_dicom
from .denoiser import Denoiser
from .io import check_encodable, file_above, read_image, read_metadata, write_image

__all__ = ["Job", "FolderReport", "plan_jobs", "denoise_files", "mark_output", "written_here", "OUTPUT_MARKER"]

#: File in an output folder listing the files cvdenoise wrote there (one path per line, relative
#: to the folder): folder walks do not read those as inputs, and later runs may replace them. Any
#: other existing file at an output path is the user's: it is not replaced (see :func:`plan_jobs`).
OUTPUT_MARKER = ".cvdenoise-output"
_MARKER_HEAD = "# files written here by cvdenoise (not read as inputs by its folder walks; later runs may replace them)\n"
#: sub-folders a folder walk does not enter: hidden ones (.git, .thumbnails) and NAS/zip thumbnails
_SKIPPED_FOLDERS = ("@eaDir", "__MACOSX")


@dataclass(frozen=True)
class Job:
    """One input file and where its denoised copy goes (``marker``: the :data:`OUTPUT_MARKER`
    file that records the copy once written; ``None``: not recorded)."""

    src: Path
    dst: Path
    marker: Path | None = None


def written_here(folder: Path) -> set[str]:
    """The paths (relative, ``/``-separated) :data:`OUTPUT_MARKER` in ``folder`` lists; empty if
    none. Each is one line, a JSON string (any file name, a line break in it too)."""
    try:
        text = (folder / OUTPUT_MARKER).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
        return set()
    entries = set()
    for line in text.splitlines():
        try:
            entry = json.loads(line) if line.startswith('"') else None
        except ValueError:
            entry = None  # a line edited by hand: ignored
        if isinstance(entry, str):
            entries.add(entry)
    return entries


@dataclass
class FolderReport:
    """What a folder run did: files written and files that failed (with the reason)."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when no file failed."""
        return not self.failed


def _files_under(root: Path, skip: Path | None = None) -> list[Path]:
    """Files under ``root``, recursively and sorted, through symlinked folders too.

    Real folders are walked first, so a file keeps its real path when a link also leads to it;
    then each linked folder not reached that way, once (a link cycle ends). A dangling link is
    listed: reading it is then reported. Left out below ``root``: hidden folders (``.git``,
    ``.thumbnails``), thumbnail folders (``@eaDir``, ``__MACOSX``), the folder ``skip`` (resolved;
    also through a link) and the files an :data:`OUTPUT_MARKER` of a sub-folder lists (cvdenoise's
    outputs; ``root``'s own marker is not applied: that folder was asked for). A folder that
    cannot be read is skipped with a warning.
    """
    found: list[Path] = []
    seen: set[str] = set()
    links: list[str] = []
    avoid = None if skip is None else str(skip)
    outputs: dict[str, set[str]] = {}  # folder (as walked) → the files its marker lists

    def keep(dirpath: str, names: list[str]) -> list[str]:
        return [d for d in sorted(names) if not _skipped_folder(d) and os.path.realpath(os.path.join(dirpath, d)) != avoid]

    def ours(path: Path) -> bool:  # listed by a marker below root (root's own: the folder was asked for)
        for folder in path.parents:
            if folder == root:
                return False
            listed = outputs.get(str(folder))
            if listed and path.relative_to(folder).as_posix() in listed:
                return True
        return False

    def unreadable(e: OSError) -> None:
        warnings.warn(f"cannot read folder {e.filename}: {e.strerror}; skipped", stacklevel=3)

    def visit(dirpath: str, filenames: list[str]) -> None:
        if OUTPUT_MARKER in filenames:
            outputs[dirpath] = written_here(Path(dirpath))
        found.extend(f for f in (Path(dirpath) / name for name in filenames) if not ours(f))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):  # real folders (links are not entered)
        dirnames[:] = keep(dirpath, dirnames)
        seen.add(os.path.realpath(dirpath))
        links += [os.path.join(dirpath, d) for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        visit(dirpath, filenames)
    for link in sorted(links):
        for dirpath, dirnames, filenames in os.walk(link, followlinks=True, onerror=unreadable):
            real = os.path.realpath(dirpath)
            if real in seen:
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = keep(dirpath, dirnames)
            visit(dirpath, filenames)
    return sorted(found)


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED_FOLDERS


def _is_apple_double(path: Path) -> bool:
    """A macOS ``._name`` companion file (resource fork on a non-Mac volume), not an image."""
    if not path.name.startswith("._"):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x00\x05\x16\x07"
    except OSError:
        return False


def plan_jobs(
    inputs: Sequence[str | Path], outdir: str | Path, skip_existing: bool = False, overwrite: bool = False
) -> list[Job]:
    """Map files and folders (recursive) to output paths under ``outdir``.

    Every copy written is recorded in ``outdir``'s :data:`OUTPUT_MARKER` (by
    :func:`denoise_files`): folder walks do not read recorded files as inputs, and later runs
    replace them freely. An existing file at an output path that is not recorded there is the
    user's: the run is refused, unless ``skip_existing`` (such files are then left alone, as
    :func:`denoise_files` skips existing outputs) or ``overwrite``. An output folder inside an
    input folder is not walked; it is refused if it holds images not recorded as cvdenoise's.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: nothing to do, ``outdir`` is a file, below a file, unreadable or an input
            folder, or as above; two different inputs map to the same output, or an output would
            overwrite an input file. A file reached twice (named twice, on its own and inside a
            given folder, or through a symlink) is denoised once, under the first name that is
            not a link, with a warning.
    """
    out = Path(outdir).resolve()
    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output {outdir} is a file, not a folder: -o names the folder the denoised copies go to")
        if (blocker := file_above(out)) is not None:
            raise ValueError(f"output folder {outdir} cannot be made: {blocker} is a file")
        ours = written_here(out)
        foreign = next((f for f in _files_under(out) if f.suffix.lower() in IMAGE_SUFFIXES + DICOM_SUFFIXES
                        and f.relative_to(out).as_posix() not in ours), None) if out.is_dir() else None
        # (an image there that cvdenoise did not write)
    except OSError as e:
        raise ValueError(f"cannot use output folder {outdir}: {e.strerror or e}") from e
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_file():
            jobs.append(Job(p, out / p.name))
        elif p.is_dir():
            root = p.resolve()
            if out == root:
                raise ValueError(f"refusing to write into the input folder {p}: choose another output folder")
            if root in out.parents and foreign is not None:
                raise ValueError(
                    f"output folder {outdir} lies inside the input folder {p} and holds images cvdenoise did not "
                    f"write there (e.g. {foreign.relative_to(out)}): choose a new or empty output folder"
                )
            for f in _files_under(root, skip=out):
                if f.suffix.lower() not in IMAGE_SUFFIXES + DICOM_SUFFIXES or _is_apple_double(f):
                    continue
                if f.name.startswith(".cvdenoise-"):
                    continue  # a temporary file left by an interrupted write
                jobs.append(Job(f, out / f.relative_to(root)))
        else:
            raise FileNotFoundError(f"input not found: {p}" if not p.exists() else f"input {p} is neither a file nor a folder")
    jobs = [replace(j, marker=out / OUTPUT_MARKER) for j in jobs]
    if not jobs:
        raise ValueError(
            f"no images found in {', '.join(map(str, inputs))} (suffixes: {', '.join(IMAGE_SUFFIXES + DICOM_SUFFIXES)}; "
            "hidden folders and files cvdenoise wrote are not searched)"
        )
    unique: dict[Path, Job] = {}
    for j in jobs:  # a file given twice, as a file and inside a folder, or through a link: denoised once,
        key = j.src.resolve()  # under the first name that is not a link
        if key not in unique or (unique[key].src.is_symlink() and not j.src.is_symlink()):
            unique[key] = j
    if len(unique) < len(jobs):
        warnings.warn(f"{len(jobs) - len(unique)} file(s) reached twice (named twice, or through a link) "
                      "are denoised once", stacklevel=2)
    jobs = list(unique.values())
    srcs = set(unique)
    seen: dict[Path, Path] = {}
    for j in jobs:
        if j.dst in srcs:
            raise ValueError(f"refusing to overwrite input {j.dst}: choose an output folder that is not an input")
        if j.dst in seen:
            raise ValueError(f"{j.src} and {seen[j.dst]} would both be written to {j.dst}")
        seen[j.dst] = j.src
    if not (skip_existing or overwrite):
        theirs = next((j.dst for j in jobs if j.dst.relative_to(out).as_posix() not in ours and j.dst.exists()), None)
        if theirs is not None:
            raise ValueError(
                f"{theirs} exists and cvdenoise did not write it (it is not in {out / OUTPUT_MARKER}): refusing to replace "
                "it; choose a new or empty output folder, or keep such files (--skip-existing, skip_existing=True) "
                "or replace them (--overwrite, overwrite=True)"
            )
    return jobs


def significant_bits(image: np.ndarray) -> int:
    """Bits a ``uint16`` image's colour samples use (8 … 16), from its largest value.

    Machine-vision and scientific cameras store 10/12/14-bit samples in 16-bit PNG/TIFF files;
    scaled by 65535 such an image looks dark and nearly noise-free to the model.
    """
    colour = image if image.ndim == 2 or image.shape[2] == 1 else image[..., : min(3, image.shape[2])]
    return min(16, max(8, int(colour.max(initial=0)).bit_length()))


def _denoise_image(image: np.ndarray, denoiser: Denoiser, bits: int | None = None) -> np.ndarray:
    """Denoise an array of ``read_image``; ``(H,W,2)`` gray + alpha: the gray plane, alpha untouched.

    A ``uint16`` image whose samples use fewer than 16 bits (10/12/14-bit camera data) is
    denoised at its own full scale, ``2**bits - 1``: ``bits`` as the file declares it (PNG
    ``sBIT``), else read from its values (see :func:`significant_bits`); then put back.
    """
    if image.ndim == 3 and image.shape[2] == 2:
        return np.dstack([_denoise_image(image[..., 0], denoiser, bits), image[..., 1]])
    if image.dtype.kind == "f":  # advice a command-line user can act on
        check_float_range(image, hint="HDR or linear data: scale it to [0, 1] first, or save it as 16-bit")
    if image.dtype == np.uint16:
        used = significant_bits(image)  # a declared depth counts, but never below what the values use
        bits = used if bits is None else max(min(16, max(8, bits)), used)
    if image.dtype == np.uint16 and bits is not None and bits < 16:
        full = float(2**bits - 1)
        colour = image if image.ndim == 2 else image[..., :3]
        out = denoiser(np.minimum(colour.astype(np.float32) / full, 1.0), channel_order="bgr")
        out = np.rint(out.astype(np.float64) * full).clip(0, full).astype(np.uint16)
        return out if image.ndim == 2 or image.shape[2] == 3 else np.dstack([out, image[..., 3:]])
    return denoiser(image, channel_order="bgr")


def mark_output(job: Job, recorded: dict[Path, set[str]] | None = None) -> None:
    """Record ``job``'s written copy in its :data:`OUTPUT_MARKER` file (if it has one).

    ``recorded``: a cache of the markers' entries, kept by the caller across a run's jobs.
    """
    if job.marker is None:
        return
    cache = {} if recorded is None else recorded
    if job.marker not in cache:
        cache[job.marker] = written_here(job.marker.parent)
    entry = job.dst.relative_to(job.marker.parent).as_posix()
    if entry in cache[job.marker]:
        return
    new = not job.marker.exists()
    with open(job.marker, "a", encoding="utf-8") as f:
        f.write((_MARKER_HEAD if new else "") + json.dumps(entry) + "\n")
    cache[job.marker].add(entry)


def denoise_files(
    jobs: Iterable[Job], denoiser: Denoiser, progress: bool = True, skip_existing: bool = False
) -> FolderReport:
    """Read, denoise (OpenCV BGR order) and write every job; failures are collected, not raised."""
    jobs = list(jobs)
    report = FolderReport()
    recorded: dict[Path, set[str]] = {}
    for job in tqdm(jobs, desc="denoise", unit="img", disable=not progress):
        if skip_existing and job.dst.exists():
            continue
        try:
            if job.src.suffix.lower() in DICOM_SUFFIXES:
                write_dicom(job.dst, denoise_dataset(read_dicom(job.src), denoiser))
            else:
                image = read_image(job.src)
                check_encodable(job.dst, image.dtype)  # before the work: e.g. 16-bit PNG bytes named .jpg
                meta = read_metadata(job.src)
                write_image(job.dst, _denoise_image(image, denoiser, meta.significant_bits), metadata=meta)
            mark_output(job, recorded)
        except Exception as e:  # noqa: BLE001 - one bad file never ends the run (cv2.error, MemoryError, ...)
            message = str(e)
            for p in (f"{job.src}: ", f"{job.dst}: "):  # the FAILED line names the file already
                message = message.removeprefix(p)
            report.failed.append((job.src, f"{type(e).__name__}: {message}"))
            continue
        report.written.append(job.dst)
    return report
