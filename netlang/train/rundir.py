"""The run directory's safety: never overwritten without being asked, never written by two processes at once.

    check_run_dir(path, overwrite)   before anything is written: a file, an earlier run, a busy run -> refused
    with RunLock(path): ...          creates the directory and holds RUN/.lock (fcntl.flock) while training
    refuse_existing_run(path)        again under the lock: another process may have finished a run meanwhile

The lock is an advisory lock on an open file, so the operating system drops it when its process ends, even
by kill -9: a run stopped that way is never left locked. The lock file names its holder (pid, host, start
time) for the message another process shows.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

from netlang.errors import NetlangError, UsageError

try:  # POSIX; elsewhere runs are not locked (a comment, not an error: Windows has no flock)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
# Every file `netlang train` writes in a run directory: what --overwrite replaces.
RUN_FILES = ("checkpoint.npz", "weights.npz", "best.npz", "metrics.jsonl", "result.json", "model.ir.json")


class RunBusy(NetlangError):
    """Another process is training in the run directory (exit code 1)."""


def check_run_dir(path: Path, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse, before anything is written, a run directory that is a file, holds a run, or is in use."""
    if path.is_symlink() and not path.exists():
        raise UsageError(f"--out {path}: a symbolic link to nowhere")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path}: is a file, not a run directory; choose another --out")
    if not path.is_dir():
        return
    holder = lock_holder(path)
    if holder is not None:
        raise RunBusy(f"{path} is in use by another netlang process ({holder}); wait for it or stop it")
    if not (resume or overwrite):
        refuse_existing_run(path)


def refuse_existing_run(path: Path) -> None:
    """UsageError when `path` holds a run's files or anything else (a stale lock file aside)."""
    if not path.is_dir():
        return
    found = [name for name in RUN_FILES if (path / name).exists()]
    if found:
        raise UsageError(
            f"{path} already holds a run ({found[0]}); continue it with --resume {path}, "
            f"replace it with --overwrite, or choose another --out"
        )
    others = [entry.name for entry in path.iterdir() if entry.name != LOCK_NAME and not entry.name.endswith(".tmp")]
    if others:
        raise UsageError(
            f"{path} is not empty (it holds '{others[0]}'); choose a new or empty --out, "
            "or pass --overwrite to write the run's files into it"
        )


def lock_holder(path: Path) -> str | None:
    """'pid P on HOST since TIME' of the process holding RUN/.lock, or None when no process holds it."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None  # no lock file (or an unreadable one, which RunLock will report when it cannot open it)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        return _describe_holder(fd)
    finally:
        os.close(fd)
    return None


def _describe_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 1000).decode("utf-8", errors="replace").strip()
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "a process that has not yet written its pid"
    return f"pid {fields['pid']} on {fields.get('host', '?')} since {fields.get('started', '?')}"


class RunLock:
    """Create the run directory and hold its lock for the duration of a `with` block.

    OSError becomes one line: a UsageError (exit 2) for a file in the way or no permission, exit 1 for a full disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            # A path that cannot be a directory is a mistake on the command line; a full or failing disk is not.
            kind = NetlangError if err.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT) else UsageError
            raise kind(f"cannot create the run directory {self.path}: {err.strerror or err}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _describe_holder(fd)
                os.close(fd)
                raise RunBusy(
                    f"{self.path} is in use by another netlang process ({holder}); wait for it or stop it"
                ) from None
        self.fd = fd
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} started={stamp}\n".encode())
        except OSError:
            pass  # a full disk: the lock itself holds; only the description of its holder is missing
        _remove_stale_temporaries(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file releases the flock
            self.fd = None


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of atomic writes a killed process left behind (see netlang.atomic): nobody else owns
    them while we hold the lock."""
    for name in RUN_FILES:
        for temporary in path.glob(f".{name}.*.tmp"):
            try:
                temporary.unlink()
            except OSError:
                pass  # left for later: it is never read


def remove_run_files(path: Path) -> None:
    """Delete an earlier run's files (for --overwrite), so none of them outlives the new run unnoticed."""
    for name in RUN_FILES:
        try:
            (path / name).unlink(missing_ok=True)
        except OSError as err:
            raise UsageError(f"--overwrite: cannot remove {path / name}: {err.strerror or err}") from None


def refuse_symlinks(directory: Path, names: tuple[str, ...]) -> None:
    """UsageError when a file a command is about to write in `directory` is a symbolic link.

    Writing through it would change a file elsewhere, perhaps outside the directory the user named.
    """
    for name in names:
        path = directory / name
        if path.is_symlink():
            raise UsageError(
                f"{path} is a symbolic link (to {os.readlink(path)}); netlang writes only plain files "
                "in its output directory: remove the link or choose another output directory"
            )
