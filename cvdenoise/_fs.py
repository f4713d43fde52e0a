"""Writing files safely: atomic replacement (a file is whole or untouched) and checks that an
output can be created at all. Standard library only, so the weights registry, DICOM and the
command line use it without the image codecs of :mod:`cvdenoise.io` (which re-exports it)."""

from __future__ import annotations

import csv
import functools
import os
import re
import signal
import socket
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = ["atomic_csv", "atomic_path", "atomic_write", "creation_problem", "file_above", "locked_for_append", "signals_held",
           "sweep_stale", "temp_name_pattern"]


@functools.cache
def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (``0o666`` less the process umask).

    Read once: ``os.umask`` can only be read by setting it, which is not thread-safe.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def file_above(path: str | Path) -> Path | None:
    """The first of ``path``'s parents that exists but is not a folder (no output can go there), or ``None``."""
    return next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)


def creation_problem(path: str | Path) -> str | None:
    """Why nothing can be created at ``path`` (a file or a folder still to make), checked before
    any work by making a temporary file in its nearest existing folder (read-only or immutable
    folders, pseudo file systems); ``None`` when it can, or when no existing folder is found."""
    folder = next((p for p in Path(path).absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir():
        return None  # (a file in the way: file_above reports it)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"{folder} takes no new file ({e.strerror or e})"
    return None


@functools.cache
def _host() -> str:
    """This machine's name as temporary file names hold it: letters, digits, ``_`` and ``-``, at
    most 16 characters (a long name would push long file names past the file system's limit)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:16] or "host"


#: a leftover temporary file is removed only once it has not been written to for this long (seconds):
#: a live writer — even in another container of the same host name, whose process ids this one
#: cannot see — writes a video frame by frame and an image within moments
STALE_AFTER = 15 * 60

_swept: set[tuple[str, str, str]] = set()
_swept_lock = threading.Lock()


def _process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this machine (POSIX; ``False`` when unsure)."""
    if os.name != "posix" or pid <= 0:
        return False  # (os.kill on Windows terminates: never probe there)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError, ValueError):  # (another user's process: alive; an id too large: unsure)
        return False
    return False


def temp_name_pattern(prefix: str, suffix: str) -> re.Pattern[str]:
    """The names :func:`atomic_path` gives its temporary files on this machine (group 1: the
    process id): ``prefix``, the host name, ``-``, the process id, ``.``, ``mkstemp``'s eight random
    characters, ``suffix``."""
    return re.compile(re.escape(prefix) + re.escape(_host()) + r"-([0-9]{1,10})\.[a-z0-9_]{8}" + re.escape(suffix) + r"\Z")


def sweep_stale(folder: str | Path, prefix: str, suffix: str, stale_after: float = STALE_AFTER) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left in ``folder`` (with this ``prefix`` and
    ``suffix``) when a process was killed outright (``kill -9``, a crash: no cleanup ran): those
    named after this machine and a process that no longer runs here, untouched for ``stale_after``
    seconds. A live process's file (another run writing into the same folder), another machine's
    (a shared folder) and anything not named exactly as :func:`atomic_path` names its files are
    left alone; so is a leftover whose process id a new process took since (after a reboot). Never
    raises. Returns the files removed."""
    removed: list[Path] = []
    try:
        pattern = temp_name_pattern(prefix, suffix)
        names = os.listdir(folder)
        now = time.time()
    except (OSError, ValueError, re.error):
        return removed
    for name in names:
        m = pattern.match(name)
        if m is None or int(m.group(1)) == os.getpid() or not _process_gone(int(m.group(1))):
            continue
        f = Path(folder, name)
        try:
            st = f.lstat()
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= stale_after:
                f.unlink()
                removed.append(f)
        except OSError:
            pass  # (gone meanwhile, or not ours to remove)
    return removed


def missing_folders(folder: str | Path) -> list[Path]:
    """The folders ``folder.mkdir(parents=True)`` would make, deepest first (none if it exists)."""
    made: list[Path] = []
    folder = Path(folder).absolute()
    while not os.path.lexists(folder) and folder.parent != folder:
        made.append(folder)
        folder = folder.parent
    return made


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is still empty: what a stopped run made and
    left nothing in. One that holds something (another writer's file) stays, with those above it."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def atomic_path(path: str | Path, prefix: str = ".cvdenoise-", suffix: str | None = None,
                then: Callable[[], object] | None = None) -> Iterator[str]:
    """Yield a uniquely named temporary file beside ``path`` to write; when the block ends without
    an error it gets the usual file permissions and is renamed onto ``path``, else it is removed
    (an existing ``path`` is then left as it was), and so are the folders made for it when Ctrl-C
    or SIGTERM stopped the block and they are empty. ``then()`` runs right after the rename with
    SIGINT/SIGTERM held back (the rename and ``then`` happen both or neither), e.g. to record the file.

    The temporary file is named ``prefix``, this machine's name, ``-``, the process id, ``.``, eight
    random characters and ``suffix`` (``path``'s own by default), so that what a killed process
    left behind is recognised: a process's first write into a folder with this ``prefix`` and
    suffix removes such leftovers of dead processes there (:func:`sweep_stale`)."""
    path = Path(path)
    made = missing_folders(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    key = (str(path.parent.absolute()), prefix, suffix)
    if key not in _swept:
        with _swept_lock:
            first = key not in _swept
            _swept.add(key)
        if first:  # (outside the lock: a slow folder holds up no other thread's writes)
            sweep_stale(path.parent, prefix, suffix)
    tmp = ""
    try:
        with signals_held():  # (a Ctrl-C between the file's creation and the cleanup below would leave it behind)
            fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{_host()}-{os.getpid()}.", suffix=suffix, dir=str(path.parent))
            os.close(fd)
        yield tmp
        os.chmod(tmp, _file_mode())  # mkstemp (and some writers) make 0600 files; give the usual permissions
        with signals_held():
            os.replace(tmp, path)
            if then is not None:
                then()
    except BaseException as e:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, KeyboardInterrupt):  # (a stopped run leaves nothing behind; a failed write's folders stay)
            remove_empty(made)
        raise


def no_regular_file(path: str | Path) -> str | None:
    """Why an output path is no file a run may replace, as the end of a sentence about it: a
    broken symbolic link (writing through it made folders at its target) or a device, pipe or
    socket (written into, or hanging the run); ``None`` when nothing is there, or a regular file
    (also through a link) or a folder is (callers say that in their own words)."""
    if os.path.islink(path) and not os.path.exists(path):
        return f"is a broken symbolic link (to {os.readlink(path)}): refusing to write through it"
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        return "exists and is no regular file (a device, a pipe or a socket)"
    return None


def opencv_can_open(path: str | Path) -> bool:
    """Whether OpenCV's file functions can take ``path``: its name must be valid UTF-8 (a name of
    other bytes, held as surrogate escapes, crashes OpenCV's Python binding with a segfault)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextmanager
def signals_held(*names: str) -> Iterator[None]:
    """Hold SIGINT and SIGTERM (or the signals ``names``, e.g. ``"SIGCHLD"`` too) back for the
    block and deliver them after it (a Ctrl-C then raises ``KeyboardInterrupt`` on leaving the
    block): for steps that must not be cut in two, e.g. putting a file in place and recording it.
    Outside the main thread the block runs as it is (only the main thread may set signal handlers).

    The handlers are swapped, not the signal mask: a signal sent to the process may arrive on any
    thread that does not block it (torch's and OpenMP's workers), and Python runs its handler in
    the main thread whichever thread received it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous: dict[int, Any] = {}
    for name in names or ("SIGINT", "SIGTERM"):
        sig = getattr(signal, name, None)
        handler = signal.getsignal(sig) if sig is not None else None
        if sig is None or handler in (None, signal.SIG_IGN):  # (None: set outside Python, left alone)
            continue
        previous[sig] = handler
        signal.signal(sig, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(arrived):  # each once, in order: the caller's handler (KeyboardInterrupt) or the default (exit)
            signal.raise_signal(sig)


@contextmanager
def locked_for_append(path: str | Path) -> Iterator[Any]:
    """Open ``path`` (made if missing) for reading and appending bytes, holding an exclusive ``flock``
    on it for the block: writers that all take it append whole lines, and one may rewrite the
    file by renaming a new one onto ``path`` (:func:`os.replace`) before the block ends — a writer
    that was waiting then opens the new file, not the replaced one. Where ``flock`` is missing
    (Windows) or refused (some network file systems) the block runs unlocked."""
    while True:
        f = open(path, "a+b")
        try:
            import fcntl
        except ImportError:  # (Windows)
            break
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except OSError:
            break
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        held = os.fstat(f.fileno())
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            break
        f.close()  # (renamed over while we waited: take the new file)
    try:
        yield f
    finally:
        f.close()  # (closing releases the lock)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV file (``header``, then ``rows``; ``\\n`` line ends) atomically, as :func:`atomic_write`."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(header)
            out.writerows(rows)

    return atomic_write(path, write)
