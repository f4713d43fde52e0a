"""Denoise files and folders to an output folder (the engine behind ``cvdenoise denoise``).

Outputs keep their path relative to the folder given (``in/sub/b.jpg`` → ``out/sub/b.jpg``),
their name, format, channel count and bit depth (a gray + alpha PNG is denoised as gray, its
alpha kept, as ``Denoiser`` keeps an RGBA image's alpha), and their ICC profile and EXIF
(:func:`cvdenoise.io.read_metadata`). A file that cannot be read, denoised or
written is reported and skipped; the others are still written. Inputs are never overwritten.
"""

from __future__ import annotations

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

__all__ = ["Job", "FolderReport", "plan_jobs", "denoise_files", "mark_output", "OUTPUT_MARKER"]

#: File written into an output folder cvdenoise owns (a new or image-free one): the images in a
#: folder holding it are cvdenoise's outputs, which folder walks do not read as inputs and later
#: runs may replace. A folder of images without it is the user's (see :func:`plan_jobs`).
OUTPUT_MARKER = ".cvdenoise-output"
_MARKER_TEXT = "Denoised copies written by cvdenoise; a later run does not read the images here as inputs.\n"
#: sub-folders a folder walk does not enter: hidden ones (.git, .thumbnails) and NAS/zip thumbnails
_SKIPPED_FOLDERS = ("@eaDir", "__MACOSX")


@dataclass(frozen=True)
class Job:
    """One input file and where its denoised copy goes (``marker``: an :data:`OUTPUT_MARKER`
    file to create before the copy is written, for an output folder inside an input folder)."""

    src: Path
    dst: Path
    marker: Path | None = None


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
    listed: reading it is then reported. Not entered below ``root``: hidden folders (``.git``,
    ``.thumbnails``), thumbnail folders (``@eaDir``, ``__MACOSX``), cvdenoise output folders (those
    holding :data:`OUTPUT_MARKER`) and the folder ``skip`` (resolved; also through a link). A
    folder that cannot be read is skipped with a warning.
    """
    found: list[Path] = []
    seen: set[str] = set()
    links: list[str] = []
    avoid = None if skip is None else str(skip)

    def keep(dirpath: str, names: list[str]) -> list[str]:
        kept = []
        for d in sorted(names):
            full = os.path.join(dirpath, d)
            if _skipped_folder(d) or os.path.isfile(os.path.join(full, OUTPUT_MARKER)) or os.path.realpath(full) == avoid:
                continue
            kept.append(d)
        return kept

    def unreadable(e: OSError) -> None:
        warnings.warn(f"cannot read folder {e.filename}: {e.strerror}; skipped", stacklevel=3)

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):  # real folders (links are not entered)
        dirnames[:] = keep(dirpath, dirnames)
        seen.add(os.path.realpath(dirpath))
        links += [os.path.join(dirpath, d) for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        found.extend(Path(dirpath) / name for name in filenames)
    for link in sorted(links):
        for dirpath, dirnames, filenames in os.walk(link, followlinks=True, onerror=unreadable):
            real = os.path.realpath(dirpath)
            if real in seen:
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = keep(dirpath, dirnames)
            found.extend(Path(dirpath) / name for name in filenames)
    return sorted(found)


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED_FOLDERS


def _holds_images(folder: Path) -> bool:
    """Any image or DICOM file anywhere under ``folder`` (hidden folders included)."""
    for _, _, filenames in os.walk(folder):
        if any(Path(n).suffix.lower() in IMAGE_SUFFIXES + DICOM_SUFFIXES for n in filenames):
            return True
    return False


def _is_apple_double(path: Path) -> bool:
    """A macOS ``._name`` companion file (resource fork on a non-Mac volume), not an image."""
    if not path.name.startswith("._"):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x00\x05\x16\x07"
    except OSError:
        return False


def plan_jobs(inputs: Sequence[str | Path], outdir: str | Path, skip_existing: bool = False) -> list[Job]:
    """Map files and folders (recursive) to output paths under ``outdir``.

    cvdenoise replaces existing files only in a folder it owns: one marked with
    :data:`OUTPUT_MARKER`, or a new or image-free one, which is marked with the first image
    written. Folder walks never enter a marked folder, nor the output folder itself, so earlier
    outputs are not read as inputs. An unmarked folder of images is refused as output where it lies
    inside an input folder, and elsewhere where this run would replace one of its files (unless
    ``skip_existing``: those are then left alone).

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: nothing to do, ``outdir`` is a file, below a file, unreadable, an input
            folder, or an unmarked folder of images as above; two different inputs map to the
            same output, or an output would overwrite an input file. A file reached twice (named
            twice, on its own and inside a given folder, or through a symlink) is denoised once,
            under the first name that is not a link, with a warning.
    """
    out = Path(outdir).resolve()
    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output {outdir} is a file, not a folder: -o names the folder the denoised copies go to")
        if (blocker := file_above(out)) is not None:
            raise ValueError(f"output folder {outdir} cannot be made: {blocker} is a file")
        owned = (out / OUTPUT_MARKER).is_file() or not out.exists() or not _holds_images(out)
        marker = None if (out / OUTPUT_MARKER).is_file() or not owned else out / OUTPUT_MARKER
    except OSError as e:
        raise ValueError(f"cannot use output folder {outdir}: {e.strerror or e}") from e
    not_ours = (f"holds images but no {OUTPUT_MARKER} marker (so they are not cvdenoise's outputs; for an older "
                f"cvdenoise's output folder, add the marker: touch {Path(outdir) / OUTPUT_MARKER})")
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_file():
            jobs.append(Job(p, out / p.name))
        elif p.is_dir():
            root = p.resolve()
            if out == root:
                raise ValueError(f"refusing to write into the input folder {p}: choose another output folder")
            if root in out.parents and not owned:
                raise ValueError(f"output folder {outdir} lies inside the input folder {p} and {not_ours}: "
                                 "choose a new or empty output folder")
            for f in _files_under(root, skip=out):
                if f.suffix.lower() not in IMAGE_SUFFIXES + DICOM_SUFFIXES or _is_apple_double(f):
                    continue
                if f.name.startswith(".cvdenoise-"):
                    continue  # a temporary file left by an interrupted write
                jobs.append(Job(f, out / f.relative_to(root)))
        else:
            raise FileNotFoundError(f"input not found: {p}" if not p.exists() else f"input {p} is neither a file nor a folder")
    if not jobs:
        raise ValueError(
            f"no images found in {', '.join(map(str, inputs))} (suffixes: {', '.join(IMAGE_SUFFIXES + DICOM_SUFFIXES)}; "
            "hidden folders and cvdenoise output folders are not searched)"
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
    if not owned and not skip_existing:
        replaced = next((j.dst for j in jobs if j.dst.exists()), None)
        if replaced is not None:
            raise ValueError(f"output folder {outdir} {not_ours}, and this run would replace {replaced.relative_to(out)}: "
                             "choose a new or empty output folder, or --skip-existing to keep its files")
    return jobs if marker is None else [replace(j, marker=marker) for j in jobs]


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


def mark_output(job: Job) -> None:
    """Write ``job``'s :data:`OUTPUT_MARKER` file if it has one and it is not there yet."""
    if job.marker is not None and not job.marker.exists():
        job.marker.parent.mkdir(parents=True, exist_ok=True)
        job.marker.write_text(_MARKER_TEXT)


def denoise_files(
    jobs: Iterable[Job], denoiser: Denoiser, progress: bool = True, skip_existing: bool = False
) -> FolderReport:
    """Read, denoise (OpenCV BGR order) and write every job; failures are collected, not raised."""
    jobs = list(jobs)
    report = FolderReport()
    for job in tqdm(jobs, desc="denoise", unit="img", disable=not progress):
        if skip_existing and job.dst.exists():
            continue
        try:
            mark_output(job)
            if job.src.suffix.lower() in DICOM_SUFFIXES:
                write_dicom(job.dst, denoise_dataset(read_dicom(job.src), denoiser))
            else:
                image = read_image(job.src)
                check_encodable(job.dst, image.dtype)  # before the work: e.g. 16-bit PNG bytes named .jpg
                meta = read_metadata(job.src)
                write_image(job.dst, _denoise_image(image, denoiser, meta.significant_bits), metadata=meta)
        except Exception as e:  # noqa: BLE001 - one bad file never ends the run (cv2.error, MemoryError, ...)
            message = str(e)
            for p in (f"{job.src}: ", f"{job.dst}: "):  # the FAILED line names the file already
                message = message.removeprefix(p)
            report.failed.append((job.src, f"{type(e).__name__}: {message}"))
            continue
        report.written.append(job.dst)
    return report
