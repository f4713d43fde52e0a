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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from ._checks import check_float_range
from .data import IMAGE_SUFFIXES
from .dicom import DICOM_SUFFIXES, denoise_dataset, read_dicom, write_dicom
from .denoiser import Denoiser
from .io import check_encodable, read_image, read_metadata, write_image

__all__ = ["Job", "FolderReport", "plan_jobs", "denoise_files"]


@dataclass(frozen=True)
class Job:
    """One input file and where its denoised copy goes."""

    src: Path
    dst: Path


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
    listed: reading it is then reported.
    """
    found: list[Path] = []
    seen: set[str] = set()
    links: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):  # real folders (links are not entered)
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
            dirnames.sort()
            found.extend(Path(dirpath) / name for name in filenames)
    return sorted(found)


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

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: nothing to do, ``outdir`` is a file or an input folder, two different
            inputs map to the same output, or an output would overwrite an input file. A file
            reached twice (named twice, on its own and inside a given folder, or through a
            symlink) is denoised once, under the first name that is not a link, with a warning.
    """
    out = Path(outdir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {outdir} is a file, not a folder: -o names the folder the denoised copies go to")
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_file():
            jobs.append(Job(p, out / p.name))
        elif p.is_dir():
            root = p.resolve()
            if out == root:
                raise ValueError(f"refusing to write into the input folder {p}: choose another output folder")
            for f in _files_under(root):
                if f.suffix.lower() not in IMAGE_SUFFIXES + DICOM_SUFFIXES or _is_apple_double(f):
                    continue
                if out == f.resolve().parent or out in f.resolve().parents:
                    continue  # never re-process earlier outputs living inside an input folder
                jobs.append(Job(f, out / f.relative_to(root)))
        else:
            raise FileNotFoundError(f"input not found: {p}" if not p.exists() else f"input {p} is neither a file nor a folder")
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
            if job.src.suffix.lower() in DICOM_SUFFIXES:
                write_dicom(job.dst, denoise_dataset(read_dicom(job.src), denoiser))
            else:
                image = read_image(job.src)
                check_encodable(job.dst, image.dtype)  # before the work: e.g. 16-bit PNG bytes named .jpg
                meta = read_metadata(job.src)
                write_image(job.dst, _denoise_image(image, denoiser, meta.significant_bits), metadata=meta)
        except (OSError, ValueError, TypeError, RuntimeError, ImportError) as e:
            message = str(e)
            for p in (f"{job.src}: ", f"{job.dst}: "):  # the FAILED line names the file already
                message = message.removeprefix(p)
            report.failed.append((job.src, f"{type(e).__name__}: {message}"))
            continue
        report.written.append(job.dst)
    return report
