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

#: File written into an output folder that lies inside an input folder: the images in a folder
#: holding it are cvdenoise's earlier outputs, not read as inputs by a later run. An existing
#: folder inside an input folder without it holds the user's own images, and is refused as output.
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


def _files_under(root: Path) -> list[Path]:
    """Files under ``root``, recursively and sorted, through symlinked folders too.

    Real folders are walked first, so a file keeps its real path when a link also leads to it;
    then each linked folder not reached that way, once (a link cycle ends). A dangling link is
    listed: reading it is then reported. Hidden sub-folders (``.git``, ``.thumbnails``) and
    thumbnail folders (``@eaDir``, ``__MACOSX``) are not entered.
    """
    found: list[Path] = []
    seen: set[str] = set()
    links: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):  # real folders (links are not entered)
        dirnames[:] = [d for d in dirnames if not _skipped_folder(d)]
        seen.add(os.path.realpath(dirpath))
        links += [os.path.join(dirpath, d) for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        found.extend(Path(dirpath) / name for name in filenames)
    for link in sorted(links):
        for dirpath, dirnames, filenames in os.walk(link, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = sorted(d for d in dirnames if not _skipped_folder(d))
            found.extend(Path(dirpath) / name for name in filenames)
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


def plan_jobs(inputs: Sequence[str | Path], outdir: str | Path) -> list[Job]:
    """Map files and folders (recursive) to output paths under ``outdir``.

    ``outdir`` may lie inside an input folder: a new or empty one is marked as cvdenoise's own
    (:data:`OUTPUT_MARKER`, written with the first image), and the images in a marked one are not
    read as inputs by a later run. An existing unmarked folder there that holds images is refused:
    those images are the user's, and copies of the same names would replace them.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: nothing to do, ``outdir`` is a file, below a file, an input folder or an
            unmarked folder of images inside one, two different inputs map to the same output,
            or an output would overwrite an input file. A file reached twice (named twice, on its
            own and inside a given folder, or through a symlink) is denoised once, under the
            first name that is not a link, with a warning.
    """
    out = Path(outdir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {outdir} is a file, not a folder: -o names the folder the denoised copies go to")
    if (blocker := file_above(out)) is not None:
        raise ValueError(f"output folder {outdir} cannot be made: {blocker} is a file")
    marked = (out / OUTPUT_MARKER).is_file()
    marker: Path | None = None
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_file():
            jobs.append(Job(p, out / p.name))
        elif p.is_dir():
            root = p.resolve()
            if out == root:
                raise ValueError(f"refusing to write into the input folder {p}: choose another output folder")
            inside = root in out.parents  # the output folder lies inside this input folder
            if inside and not marked:
                marker = out / OUTPUT_MARKER
            for f in _files_under(root):
                if f.suffix.lower() not in IMAGE_SUFFIXES + DICOM_SUFFIXES or _is_apple_double(f):
                    continue
                if f.name.startswith(".cvdenoise-"):
                    continue  # a temporary file left by an interrupted write
                if inside and out in f.resolve().parents:
                    if not marked:
                        raise ValueError(
                            f"output folder {outdir} lies inside the input folder {p} and already holds images "
                            f"cvdenoise did not write (e.g. {f.relative_to(root)}): copies of the same names would "
                            "replace them; choose a new or empty output folder"
                        )
                    continue  # cvdenoise's earlier outputs, not inputs
                jobs.append(Job(f, out / f.relative_to(root)))
        else:
            raise FileNotFoundError(f"input not found: {p}" if not p.exists() else f"input {p} is neither a file nor a folder")
    if marker is not None:
        jobs = [replace(j, marker=marker) for j in jobs]
    if not jobs:
        raise ValueError(
            f"no images found in {', '.join(map(str, inputs))} (suffixes: {', '.join(IMAGE_SUFFIXES + DICOM_SUFFIXES)})"
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
