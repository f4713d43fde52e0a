"""Denoise files and folders to an output folder (the engine behind ``cvdenoise denoise``).

Outputs keep their path relative to the folder given (``in/sub/b.jpg`` → ``out/sub/b.jpg``),
their name, format, channel count and bit depth (a gray + alpha PNG is denoised as gray, its
alpha kept, as ``Denoiser`` keeps an RGBA image's alpha), and their ICC profile and EXIF
(:func:`cvdenoise.io.read_metadata`). A file that cannot be read, denoised or
written is reported and skipped; the others are still written. Inputs are never overwritten.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

import numpy as np
from ._progress import progress_bar

from ._checks import check_float_range
from ._fs import atomic_path, locked_for_append, no_regular_file, signals_held
from .dicom import DICOM_SUFFIXES, NoPixelDataError, check_window, denoise_dataset, is_dicom_file, read_dicom, write_dicom
from .denoiser import Denoiser
from .io import IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES, check_encodable, creation_problem, file_above, read_image, read_metadata, write_image

__all__ = ["Job", "FolderReport", "plan_jobs", "plan_file_job", "names_image_file", "denoise_files", "mark_output", "write_recorded", "record_problem", "not_ours", "written_here", "recorded_source", "OutputRecords", "OUTPUT_MARKER"]

#: File in an output folder recording the files cvdenoise wrote there (one JSON line each: the path
#: relative to the folder, its size and modification time; for ``detect``'s video outputs also a
#: line ``{"source": clip, "for": [path, size, mtime_ns]}`` naming the clip, by its absolute path,
#: they were made from). A recorded file that is unchanged is
#: cvdenoise's: folder walks do not read it as an input and later runs may replace it. Any other
#: existing file at an output path (also a recorded one the user has since changed) is the user's.
OUTPUT_MARKER = ".cvdenoise-output"
_MARKER_HEAD = "# files written here by cvdenoise: [path, size, mtime_ns] (not read as inputs; later runs may replace them)\n"
#: a record file is rewritten without its stale lines once they outnumber its live records by this many
_COMPACT_AFTER = 1000
#: sub-folders a folder walk does not enter: hidden ones (.git, .thumbnails) and NAS/zip thumbnails
_SKIPPED_FOLDERS = ("@eaDir", "__MACOSX")


@dataclass(frozen=True)
class Job:
    """One input file and where its denoised copy goes (``marker``: the :data:`OUTPUT_MARKER`
    file that records the copy once written; ``None``: not recorded; ``record_source``: the record
    names ``src`` too, so a later run from another source can tell: :func:`recorded_source`)."""

    src: Path
    dst: Path
    marker: Path | None = None
    record_source: bool = False


def _read_record(folder: Path) -> dict[str, set[tuple[int, int]]]:
    """``{relative path: {(size, mtime_ns), …}}`` of :data:`OUTPUT_MARKER` in ``folder`` (every
    version recorded: two runs writing the same copy at once may append theirs in either order);
    lines edited by hand (not a JSON ``[path, size, mtime_ns]``) are ignored."""
    try:
        text = (folder / OUTPUT_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    entries: dict[str, set[tuple[int, int]]] = {}
    for line in text.splitlines():
        if (record := _record_line(line)) is not None:
            entries.setdefault(record[0], set()).add(record[1:])
    return entries


def _record_line(line: str) -> tuple[str, int, int] | None:
    """``(path, size, mtime_ns)`` of one :data:`OUTPUT_MARKER` line, or ``None`` for the head,
    source lines (:func:`_source_line`) and lines edited by hand (anything but a JSON ``[path,
    size, mtime_ns]``)."""
    try:
        path, size, mtime = json.loads(line) if line.startswith("[") else (None, 0, 0)
    except ValueError:
        return None
    if isinstance(path, str) and isinstance(size, int) and isinstance(mtime, int):
        return path, size, mtime
    return None


def _source_line(line: str) -> tuple[tuple[str, int, int], str] | None:
    """``((path, size, mtime_ns), source)`` of a source line of :data:`OUTPUT_MARKER` (a JSON
    ``{"source": …, "for": [path, size, mtime_ns]}`` after the record of the file it names; older
    cvdenoise versions skip it as a line edited by hand), else ``None``."""
    try:
        found = json.loads(line) if line.startswith("{") else None
    except ValueError:
        return None
    if not isinstance(found, dict) or not isinstance(source := found.get("source"), str):
        return None
    version = found.get("for")
    if (isinstance(version, list) and len(version) == 3 and isinstance(version[0], str)
            and all(isinstance(v, int) for v in version[1:])):
        return (version[0], version[1], version[2]), source
    return None


def recorded_source(path: Path) -> str | None:
    """The source file (an absolute path) the record in ``path``'s own folder names for the file
    there now, if cvdenoise wrote it with :attr:`Job.record_source`; else ``None``."""
    try:
        st = path.stat()
        text = (path.parent / OUTPUT_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):  # (the latest line for this version)
        found = _source_line(line)
        if found is not None and found[0] == (path.name, st.st_size, st.st_mtime_ns):
            return found[1]
    return None


def written_here(folder: Path) -> set[str]:
    """The paths (relative, ``/``-separated) :data:`OUTPUT_MARKER` in ``folder`` records."""
    return set(_read_record(folder))


class OutputRecords:
    """The output records (:data:`OUTPUT_MARKER`) of the folders a run looks at, read once each."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, set[tuple[int, int]]]] = {}

    def _entries(self, folder: Path) -> dict[str, set[tuple[int, int]]]:
        if folder not in self._folders:
            self._folders[folder] = _read_record(folder) if (folder / OUTPUT_MARKER).is_file() else {}
        return self._folders[folder]

    def ours(self, path: Path, stop: Path | None = None) -> bool:
        """``path`` is a file cvdenoise wrote and nobody changed since: a record above it (by its
        real path, or by the path given where a linked folder leads to it) holds its size and
        modification time — any record, not only the nearest: a run into ``out/sub`` and later runs
        into ``out`` each record in their own folder. Records at ``stop`` (a real path) and above
        it are not read."""
        real = Path(os.path.realpath(path))
        try:
            st = real.stat()
        except OSError:
            return False
        version = (st.st_size, st.st_mtime_ns)
        for name in dict.fromkeys((real, Path(os.path.abspath(path)))):
            for folder in name.parents:
                if stop is not None and (folder == stop or (name != real and Path(os.path.realpath(folder)) == stop)):
                    break
                if version in self._entries(folder).get(name.relative_to(folder).as_posix(), ()):
                    return True
        return False

    def replaceable(self, path: Path, overwrite: bool = False) -> bool:
        """A run may write ``path``: nothing is there, the file there is one cvdenoise wrote and
        nobody changed since (:meth:`ours`), or ``overwrite`` (the user's ``--overwrite``)."""
        return overwrite or not path.exists() or self.ours(path)

    def record(self, marker: Path, written: Path, source: Path | None = None) -> None:
        """Add ``written`` (just written, under ``marker``'s folder; from ``source``, recorded when
        given) to ``marker``; when the file
        holds many stale lines (older versions of re-written copies, deleted copies) it is
        rewritten with only the live ones (:meth:`_compact`)."""
        folder = marker.parent
        st = written.stat()
        entry = written.relative_to(folder).as_posix()
        entries = self._entries(folder)
        version = (st.st_size, st.st_mtime_ns)
        known = version in entries.get(entry, ())
        if known and source is None:
            return  # (with a source: its line is added, the latest one counts)
        with locked_for_append(marker) as f:  # (runs writing into one folder at once append whole lines)
            end = f.seek(0, os.SEEK_END)
            if end == 0:
                head = _MARKER_HEAD
            else:
                f.seek(end - 1)
                head = "" if f.read(1) == b"\n" else "\n"  # a last line edited by hand without its line break
            lines = [] if known else [json.dumps([entry, *version])]
            if source is not None:
                lines.append(json.dumps({"source": str(source.absolute()), "for": [entry, *version]}))
            f.write((head + "".join(line + "\n" for line in lines)).encode("utf-8"))
            f.flush()
            entries.setdefault(entry, set()).add(version)
            if sum(map(len, entries.values())) > 2 * len(entries) + _COMPACT_AFTER:
                self._compact(marker, f)

    def _compact(self, marker: Path, f: BinaryIO) -> None:
        """Rewrite ``marker`` (open and locked as ``f``) keeping its head, the lines not written by
        cvdenoise (edited by hand) and the records (and source lines) of the copies still there as
        recorded; those of older versions and of deleted copies go (they can match no file again)."""
        folder = marker.parent
        f.seek(0)
        kept: list[str] = []
        live: dict[str, set[tuple[int, int]]] = {}
        for line in f.read().decode("utf-8", errors="surrogateescape").splitlines():
            source = _source_line(line)
            if (record := _record_line(line) or (source and source[0])) is None:
                kept.append(line)
                continue
            path, size, mtime = record
            try:
                st = (folder / path).stat()
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                continue
            if source is not None:  # (each kept, in order: the latest still counts)
                kept.append(line)
            elif (size, mtime) not in live.get(path, ()):
                kept.append(line)
                live.setdefault(path, set()).add((size, mtime))
        text = "".join(line + "\n" for line in kept).encode("utf-8", errors="surrogateescape")
        mode = os.fstat(f.fileno()).st_mode & 0o7777
        try:
            with atomic_path(marker, suffix="") as tmp:
                Path(tmp).write_bytes(text)
            os.chmod(marker, mode)  # (the file keeps its permissions)
        except OSError:  # (a folder that takes no new file: the records stay as they are, all still valid)
            return
        self._folders[folder] = live


def record_problem(marker: Path) -> str | None:
    """Why the :data:`OUTPUT_MARKER` file ``marker`` cannot take a record (checked before any
    work: a copy written but not recorded would be refused by every later run), or ``None``."""
    if marker.exists() and not (marker.is_file() and os.access(marker, os.W_OK)):
        return f"cannot record the output in {marker}: not a writable file"
    return None


@dataclass
class FolderReport:
    """What a folder run did: files written, files that failed (with the reason) and DICOM files
    that hold no image (a ``DICOMDIR``, reports: :class:`cvdenoise.dicom.NoPixelDataError`), skipped."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    not_images: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when no file failed."""
        return not self.failed


def _files_under(root: Path, skip: Path | None = None, records: OutputRecords | None = None) -> list[Path]:
    """Files under ``root``, recursively and sorted, through symlinked folders too.

    Real folders are walked first, so a file keeps its real path when a link also leads to it;
    then each linked folder not reached that way, once (a link cycle ends). A dangling link is
    listed: reading it is then reported. Left out below ``root``: hidden folders (``.git``,
    ``.thumbnails``), thumbnail folders (``@eaDir``, ``__MACOSX``), the folder ``skip`` (resolved;
    also through a link) and the unchanged files cvdenoise wrote (:data:`OUTPUT_MARKER`; records
    in ``root`` and above are not read: that folder was asked for). A folder that cannot be read
    is skipped with a warning.
    """
    found: list[Path] = []
    seen: set[str] = set()
    links: list[str] = []
    avoid = None if skip is None else str(skip)
    records = records or OutputRecords()
    stop = Path(os.path.realpath(root))

    def keep(dirpath: str, names: list[str]) -> list[str]:
        return [d for d in sorted(names) if not _skipped_folder(d) and os.path.realpath(os.path.join(dirpath, d)) != avoid]

    def unreadable(e: OSError) -> None:
        warnings.warn(f"cannot read folder {e.filename}: {e.strerror}; skipped", stacklevel=3)

    def visit(dirpath: str, filenames: list[str]) -> None:
        found.extend(f for f in (Path(dirpath) / name for name in filenames) if not records.ours(f, stop))

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
    inputs: Sequence[str | Path], outdir: str | Path, skip_existing: bool = False, overwrite: bool = False,
    records: OutputRecords | None = None, *, can_skip: bool = True,
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

    ``records``: the run's reader of the output records, if it has one (they are read once a run).
    ``can_skip``: the caller offers ``skip_existing`` (its refusal names the option; ``detect`` has none).
    """
    out = Path(outdir).resolve()
    records = records or OutputRecords()
    foreign = _check_output_folder(out, outdir, records)
    jobs = _collect(inputs, out, outdir, foreign, records)
    jobs = _once_each(jobs)
    _check_input_folders(jobs, inputs, out)
    _check_destinations(jobs, skip_existing)
    if not (skip_existing or overwrite):
        theirs = [j.dst for j in jobs if not records.replaceable(j.dst)]
        if theirs:
            raise not_ours(theirs[0], can_skip, others=len(theirs) - 1)
    return jobs


_IMAGES = IMAGE_SUFFIXES + DICOM_SUFFIXES  # what a folder search takes (and DICOM files without a suffix)


def _check_output_folder(out: Path, outdir: str | Path, records: OutputRecords) -> Path | None:
    """Refuse an output folder no copy can go to; returns an image in it that cvdenoise did not
    write (a temporary file of an interrupted write aside), or ``None``."""
    marker = out / OUTPUT_MARKER
    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output {outdir} is a file, not a folder: -o names the folder the denoised copies go to")
        if (blocker := file_above(out)) is not None:
            raise ValueError(f"output folder {outdir} cannot be made: {blocker} is a file")
        if not out.exists() and (problem := creation_problem(out)) is not None:  # before any image is denoised
            raise ValueError(f"output folder {outdir} cannot be made: {problem}")
        if (problem := record_problem(marker)) is not None or (out.exists() and not os.access(out, os.W_OK)):
            raise ValueError(problem or f"cannot record the copies in {marker}: {out} is not a writable folder")
        if not out.is_dir():
            return None
        return next((f for f in _files_under(out, records=records) if f.suffix.lower() in _IMAGES
                     and not f.name.startswith(".cvdenoise-") and not records.ours(f)), None)
    except OSError as e:
        raise ValueError(f"cannot use output folder {outdir}: {e.strerror or e}") from e


def _collect(inputs: Sequence[str | Path], out: Path, outdir: str | Path, foreign: Path | None,
             records: OutputRecords) -> list[Job]:
    """A job per input file and per image found in an input folder (recursive; the output folder,
    hidden folders and recorded copies are not searched); warns about image files of formats a
    search does not take."""
    jobs: list[Job] = []
    unread: list[Path] = []  # image files of formats a folder search does not take (OTHER_IMAGE_SUFFIXES)
    videos: list[Path] = []  # video files: left out, with a word (they were left out silently)
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
            for f in _files_under(root, skip=out, records=records):
                if f.suffix.lower() in OTHER_IMAGE_SUFFIXES:
                    unread.append(f)
                elif f.suffix.lower() in _VIDEO_FILES and not f.name.startswith("."):
                    videos.append(f)
                if (f.suffix.lower() not in _IMAGES and not is_dicom_file(f)) or _is_apple_double(f):
                    continue  # (DICOM media name files IM00001: no suffix, found by their DICM mark)
                if f.name.startswith(".cvdenoise-"):
                    continue  # a temporary file left by an interrupted write
                rel = f.relative_to(root)
                jobs.append(Job(p / rel, out / rel))  # (named as typed: FAILED lines and warnings show the path given)
        else:
            if p.exists():
                raise FileNotFoundError(f"input {p} is neither a file nor a folder")
            raise _input_not_found(p)
    named = {Path(item).resolve() for item in inputs if Path(item).is_file()}  # (taken, whatever their format)
    if unread := [f for f in unread if f.resolve() not in named]:
        kinds = sorted({f.suffix.lower() for f in unread})
        warnings.warn(f"left out {len(unread)} image file(s) of formats a folder search does not take ({', '.join(kinds)}; "
                      f"e.g. {unread[0]}): name such a file directly if OpenCV reads it, or convert it to PNG or TIFF",
                      stacklevel=3)
    if videos:
        warnings.warn(f"left out {len(videos)} video file(s) (e.g. {videos[0]}): a folder run takes images; "
                      "run cvdenoise video (or detect) on each", stacklevel=3)
    if not jobs:
        raise ValueError(
            f"no images found in {', '.join(map(str, inputs))} (suffixes: {', '.join(_IMAGES)}, "
            "and DICOM files without one; "
            "hidden folders and files cvdenoise wrote are not searched)"
        )
    return [replace(j, marker=out / OUTPUT_MARKER) for j in jobs]


def _once_each(jobs: list[Job]) -> list[Job]:
    """Each source file once: one given twice, as a file and inside a folder, or through a link is
    kept under a name that is not a link and, of those, the one below the outermost folder given
    (``a a/sub`` and ``a/sub a`` both write ``a/sub/x.png`` to ``OUT/sub/x.png``), else the first
    (with a warning)."""
    unique: dict[Path, Job] = {}

    def rank(j: Job) -> tuple[int, int]:  # (fewest links on the way, then the deepest output path: the outermost folder's)
        path = Path(os.path.abspath(j.src))  # (a file reached through a linked folder is a link's name too)
        return (-sum(q.is_symlink() for q in (path, *path.parents)), len(j.dst.parts))

    for j in jobs:
        key = j.src.resolve()
        if key not in unique or rank(j) > rank(unique[key]):
            unique[key] = j
    if len(unique) < len(jobs):
        kept = {id(j) for j in unique.values()}
        extra = [f"{j.src} (as {k.src})" if (k := unique[j.src.resolve()]).src != j.src else f"{j.src} (once, to {k.dst})"
                 for j in jobs if id(j) not in kept]
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        warnings.warn(f"{len(extra)} file(s) reached twice (named twice, or through a link) are denoised once: "
                      f"{shown}", stacklevel=3)
    return list(unique.values())


def _check_input_folders(jobs: list[Job], inputs: Sequence[str | Path], out: Path) -> None:
    """Refuse a copy that would land inside a folder given as input (``denoise t/sub -o t`` with
    ``t/sub/sub/y.png`` wrote ``t/sub/y.png``; ``denoise cam1 work/cam2 -o work`` wrote ``cam1``'s
    ``cam2/f.png`` into ``work/cam2``): the next run read it as an input and refused to replace
    it. An output folder inside an input folder is fine: its walk leaves the output folder out."""
    roots = {Path(item).resolve(): item for item in inputs if Path(item).is_dir()}
    for root, item in roots.items():
        if root in out.parents:  # (-o inside this input folder: its copies are under -o, which the walk skips)
            continue
        if (j := next((j for j in jobs if root in j.dst.parents), None)) is not None:
            raise ValueError(f"refusing to write {j.src} to {j.dst}, inside the input folder {item} (a later run would "
                             "read it as an input): choose an output folder outside the input folders")


def _check_destinations(jobs: list[Job], skip_existing: bool) -> None:
    """Refuse outputs that cannot be made (a file in the way, a folder of that name), that would
    replace an input (also through a hard link), or that two inputs share."""
    srcs = {j.src.resolve() for j in jobs}
    inodes = {_inode(p) for p in srcs} - {None}  # an input under another name: a hard link
    folders = {folder: j.src for j in jobs for folder in j.dst.parents}  # the folders the outputs need
    seen: dict[Path, Path] = {}
    blocked: dict[Path, Path | None] = {}  # output folder → a file in the way of making it
    for j in jobs:
        if j.dst.parent not in blocked:
            blocked[j.dst.parent] = j.dst.parent if j.dst.parent.is_file() else file_above(j.dst.parent)
        if (blocker := blocked[j.dst.parent]) is not None:
            raise ValueError(f"cannot write {j.src} to {j.dst}: {blocker} is a file, not a folder")
        if j.dst.is_dir() and not skip_existing:
            raise ValueError(f"cannot write {j.src} to {j.dst}: a folder of that name is there")
        if j.dst in srcs or (j.dst.exists() and _inode(j.dst) in inodes):
            how = ("" if j.dst in srcs else
                   f" (it is a {'symbolic' if j.dst.is_symlink() else 'hard'} link to an input)")
            raise ValueError(f"refusing to overwrite input {j.dst}: choose an output folder that is not an input{how}")
        if j.dst in folders:  # (a/x.png beside b/x.png/y.png: found half-way, as FileExistsError)
            raise ValueError(f"cannot write {j.src} to {j.dst}: the output of {folders[j.dst]} needs a folder of "
                             "that name (give the inputs their own -o)")
        if j.dst in seen:
            raise ValueError(f"{j.src} and {seen[j.dst]} would both be written to {j.dst} (inputs keep their path "
                             "below the folder given: give their common parent folder, or run each with its own -o)")
        seen[j.dst] = j.src


def _input_not_found(path: Path) -> FileNotFoundError:
    """``input not found``, with advice when the name holds a pattern: one quoted is not expanded by
    the shell, and cvdenoise does not expand it either."""
    pattern = any(c in str(path) for c in "*?[")
    return FileNotFoundError(f"input not found: {path}" + (" (a pattern is expanded by the shell: leave it unquoted, "
                                                           "or give the folder)" if pattern else ""))


def names_image_file(output: str | Path) -> bool:
    """``output`` (an ``-o``) names one image file, not a folder: an image suffix (also DICOM and
    the :data:`OTHER_IMAGE_SUFFIXES`), no trailing separator and no folder of that name there."""
    if os.fspath(output).endswith(("/", os.sep)):  # `-o shots.jpg/`: a folder meant (Path drops the slash)
        return False
    path = Path(output)
    return path.suffix.lower() in (*IMAGE_SUFFIXES, *DICOM_SUFFIXES, *OTHER_IMAGE_SUFFIXES) and not path.is_dir()


def _format_of(path: Path) -> str:
    """A file's format for the same-format rule of :func:`plan_file_job`: its suffix, spellings of
    one format taken together (``.jpeg`` is ``.jpg``, ``.tiff`` is ``.tif``; DICOM also without one)."""
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg", ".jpe", ".jfif"):
        return ".jpg"
    if ext in (".tif", ".tiff"):
        return ".tif"
    if ext in DICOM_SUFFIXES or (path.is_file() and is_dicom_file(path)):
        return ".dcm"
    return ext


def _same_format(src: Path, out: Path) -> bool:
    """Whether ``out`` names a file of ``src``'s format (:func:`_format_of`). A ``.ppm`` or ``.pgm``
    input may also go to a ``.pnm`` name, which the writer writes as the same P6/P5 file; not the
    other way round, nor between the two: a ``.ppm`` name turns gray into colour, a ``.pgm`` name
    refuses colour."""
    return _format_of(out) == _format_of(src) or (
        out.suffix.lower() == ".pnm" and _format_of(src) in (".ppm", ".pgm"))


def plan_file_job(src: str | Path, dst: str | Path, skip_existing: bool = False, overwrite: bool = False) -> list[Job]:
    """One input file to the output file ``dst`` (``cvdenoise denoise photo.jpg -o clean.jpg``).

    ``dst`` keeps the input's format (its suffix may be another spelling of it, ``.jpeg`` for
    ``.jpg``): as in a folder run, a copy is never converted. It is recorded in the
    :data:`OUTPUT_MARKER` of its folder, so a later run replaces it freely; an existing file there
    that cvdenoise did not write is refused unless ``overwrite`` (or left alone with
    ``skip_existing``, as :func:`denoise_files` skips existing outputs).

    Raises:
        FileNotFoundError: ``src`` is not a file.
        ValueError: ``dst`` has another format than ``src``, is ``src`` itself (also a hard
            link to it), a folder or no regular file, cannot be made, or is a file cvdenoise
            did not write (as above).
    """
    src = Path(src)
    if not src.is_file():
        raise _input_not_found(src) if not src.exists() else FileNotFoundError(f"input {src} is not a file")
    if (problem := no_regular_file(dst)) is not None:  # (before the suffix check: /dev/null has none)
        raise ValueError(f"output {dst} {problem}")
    out = Path(dst).resolve()
    if not _same_format(src, out):
        dicom = is_dicom_file(src)  # (also without a suffix, or named by a UID)
        if not (dicom or src.suffix):
            raise ValueError(f"output {dst}: the input {src} has no suffix: give a folder as -o")
        kind = ".dcm" if dicom else src.suffix
        raise ValueError(f"output {dst}: a {out.suffix} name for the {'DICOM' if dicom else kind} input {src}; the denoised "
                         f"copy keeps the input's format (no conversion): name it {kind}, or give a folder")
    if out == src.resolve() or (out.exists() and _inode(out) == _inode(src)):
        raise ValueError(f"refusing to overwrite input {src}: give the copy another name")
    if (blocker := file_above(out)) is not None:
        raise ValueError(f"output {dst} cannot be made: {blocker} is a file, not a folder")
    if out.is_dir():
        raise ValueError(f"output {dst} is a folder: give a file name, or a folder input")
    if (problem := creation_problem(out)) is not None:
        raise ValueError(f"output {dst} cannot be written: {problem}")
    if (problem := record_problem(out.parent / OUTPUT_MARKER)) is not None:
        raise ValueError(problem)
    if not (skip_existing or OutputRecords().replaceable(out, overwrite)):
        since = f" (or it changed since: see {OUTPUT_MARKER})" if (out.parent / OUTPUT_MARKER).is_file() else ""
        raise ValueError(f"{dst} exists and cvdenoise did not write it{since}: "
                         "refusing to replace it; choose another name, or replace it with --overwrite "
                         "(keep it: --skip-existing)")
    return [Job(src, out, out.parent / OUTPUT_MARKER)]


#: video files a folder may hold: a folder search leaves them out with a warning
#: (not .ts/.mts: TypeScript sources and TorchScript exports share them)
_VIDEO_FILES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m2ts", ".wmv", ".flv")


def _inode(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (the same for all its hard links), else ``None``."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def not_ours(path: Path, can_skip: bool = True, others: int = 0) -> ValueError:
    """The error for an existing ``path`` a run would replace that cvdenoise did not write (and
    ``others`` more such files); ``can_skip``: the run has a ``--skip-existing`` (``cvdenoise
    denoise``; not ``detect``)."""
    since = f" (or it changed since: see {OUTPUT_MARKER})" if (path.parent / OUTPUT_MARKER).is_file() else ""
    if others:
        since += f", and so do {others} more output file(s)"
    how = ("command line: --overwrite, or keep them with cvdenoise denoise --skip-existing; Python: overwrite=True "
           "or skip_existing=True" if can_skip else "command line: --overwrite; Python: overwrite=True")
    return ValueError(
        f"{path} exists and cvdenoise did not write it{since}: refusing to "
        f"replace {'them' if others else 'it'}; choose a new or empty output folder, or replace such files ({how})"
    )


def stored_full_scale(image: np.ndarray, bits: int | None = None, maxval: int | None = None) -> float:
    """The value that stands for full white in an image read from a file: 1 for float data, 255
    for ``uint8``; for ``uint16`` the file's declared ``maxval`` (PGM/PPM) if below 65535, else
    ``2**bits - 1`` for the bits it uses (``bits`` as the file declares them, PNG ``sBIT``, but
    never fewer than :func:`significant_bits` reads from the values)."""
    if image.dtype.kind == "f":
        return 1.0
    top = np.iinfo(image.dtype).max
    if maxval and maxval < top:
        return float(maxval)
    if image.dtype != np.uint16:
        return float(top)
    used = significant_bits(image)  # a declared depth counts, but never below what the values use
    return float(2 ** (used if bits is None else max(min(16, max(8, bits)), used)) - 1)


def significant_bits(image: np.ndarray) -> int:
    """Bits a ``uint16`` image's colour samples use (8 … 16), from its largest value.

    Machine-vision and scientific cameras store 10/12/14-bit samples in 16-bit PNG/TIFF files;
    scaled by 65535 such an image looks dark and nearly noise-free to the model.
    """
    colour = image if image.ndim == 2 or image.shape[2] == 1 else image[..., : min(3, image.shape[2])]
    return min(16, max(8, int(colour.max(initial=0)).bit_length()))


def _denoise_image(
    image: np.ndarray, denoiser: Denoiser, bits: int | None = None, maxval: int | None = None
) -> np.ndarray:
    """Denoise an array of ``read_image``; ``(H,W,2)`` gray + alpha: the gray plane, alpha untouched.

    ``maxval``: the samples' full scale as the file declares it (a PGM/PPM's maxval, e.g. 4095 or
    100), which overrides ``bits``.

    A ``uint16`` image whose samples use fewer than 16 bits (10/12/14-bit camera data) is
    denoised at its own full scale, ``2**bits - 1``: ``bits`` as the file declares it (PNG
    ``sBIT``), else read from its values (see :func:`significant_bits`); then put back.
    """
    if image.ndim == 3 and image.shape[2] == 2:
        return np.dstack([_denoise_image(image[..., 0], denoiser, bits, maxval), image[..., 1]])
    if image.dtype.kind == "f":  # advice a command-line user can act on
        check_float_range(image, hint="HDR or linear data: scale it to [0, 1] first, or save it as 16-bit")
    full = stored_full_scale(image, bits, maxval)
    if image.dtype.kind == "u" and full < np.iinfo(image.dtype).max:
        colour = image if image.ndim == 2 else image[..., :3]
        scaled = colour.astype(np.float32)  # (in place from here: a 48 MP frame made 2 GB of temporaries)
        scaled /= full
        np.minimum(scaled, 1.0, out=scaled)
        y = denoiser(scaled, channel_order="bgr")
        del scaled
        out = np.empty(y.shape, image.dtype)
        for r in range(0, len(y), _ROWS):  # back to the stored scale in float64, a band of rows at a time
            out[r : r + _ROWS] = np.rint(y[r : r + _ROWS].astype(np.float64) * full).clip(0, full)
        return out if image.ndim == 2 or image.shape[2] == 3 else np.dstack([out, image[..., 3:]])
    return denoiser(image, channel_order="bgr")


#: rows requantised at a time by :func:`_denoise_image` (bounded float64 temporaries)
_ROWS = 256


def mark_output(job: Job, records: OutputRecords | None = None) -> None:
    """Record ``job``'s copy, just written, in its :data:`OUTPUT_MARKER` file (if it has one).

    ``records``: the run's reader of the records (one per run saves re-reading the file).
    """
    if job.marker is not None:
        (records or OutputRecords()).record(job.marker, job.dst, job.src if job.record_source else None)


def write_recorded(job: Job, write: Callable[[], object], records: OutputRecords | None = None) -> None:
    """``write()`` (which puts ``job.dst`` in place) and record it (:func:`mark_output`) with
    Ctrl-C and SIGTERM held back: both or neither (a copy in place but not recorded would be
    refused by every later run as the user's file)."""
    with signals_held():
        write()
        mark_output(job, records)


def _denoise_job(job: Job, denoiser: Denoiser, records: OutputRecords, quality: int,
                 dicom_window: tuple[float, float] | None) -> None:
    """Read, denoise, write and record one job (its arrays are freed on return, before the next
    file is read: two 48-megapixel 16-bit images are never held at once)."""
    write: Callable[[], object]
    if is_dicom_file(job.src):
        ds = denoise_dataset(read_dicom(job.src), denoiser, window=dicom_window)
        write = functools.partial(write_dicom, job.dst, ds)
    else:
        image = read_image(job.src)
        check_encodable(job.dst, image.dtype, image.shape[2] if image.ndim == 3 else 1)  # before the work: e.g. 16-bit PNG bytes named .jpg
        meta = read_metadata(job.src)
        clean = _denoise_image(image, denoiser, meta.significant_bits, meta.pnm_maxval)
        del image
        write = functools.partial(write_image, job.dst, clean, metadata=meta, jpeg_quality=quality)
    write_recorded(job, write, records)


def denoise_files(
    jobs: Iterable[Job], denoiser: Denoiser, progress: bool = True, skip_existing: bool = False, quality: int = 95,
    dicom_window: tuple[float, float] | None = None,
) -> FolderReport:
    """Read, denoise (OpenCV BGR order) and write every job, recording each copy written in its
    job's :data:`OUTPUT_MARKER`; failures are collected, not raised. ``quality``: of the JPEG and
    lossy WebP copies (1–100). ``dicom_window``: the ``window`` of
    :func:`cvdenoise.dicom.denoise_dataset` for DICOM files (modality values, HU for CT)."""
    if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be a whole number in 1..100, got {quality!r}")
    dicom_window = check_window(dicom_window)  # (said once, not once per file)
    jobs = list(jobs)
    report = FolderReport()
    records = OutputRecords()
    for job in progress_bar(jobs, desc="denoise", unit="img", disable=not progress):
        if skip_existing and job.dst.exists():
            continue
        try:
            _denoise_job(job, denoiser, records, quality, dicom_window)
        except NoPixelDataError:  # a DICOM medium's DICOMDIR, a report: nothing to denoise, no failure
            report.not_images.append(job.src)
            continue
        except Exception as e:  # noqa: BLE001 - one bad file never ends the run (cv2.error, MemoryError, ...)
            message = str(e)
            temp = getattr(e, "filename", None) if isinstance(e, OSError) else None
            if isinstance(temp, str) and Path(temp).name.startswith(".cvdenoise-"):  # the write's temporary file:
                message = message.replace(temp, str(job.dst))  # the output it stood for
            for p in (f"{job.src}: ", f"{job.dst}: "):  # the FAILED line names the file already
                message = message.removeprefix(p)
            report.failed.append((job.src, f"{type(e).__name__}: {message}"))
            continue
        report.written.append(job.dst)
    return report
