"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Each writer puts the bytes in a temporary file beside the target, flushes them to disk, and moves the file
into place with os.replace, which is atomic on POSIX and Windows when both paths are on one file system.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _file_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(file) on a temporary file next to `path`, then move it over `path`.

    If write() raises (a failed checksum, a KeyboardInterrupt, a full disk), the temporary file is removed
    and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_name, _file_mode())  # mkstemp makes it private (0600); give it a normal file's mode
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write one JSON document atomically, indented, with a final newline."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Write named arrays to an uncompressed .npz atomically (plain arrays only, never pickled objects)."""
    import numpy as np  # here, not at the top: `netlang check` and `summary` write JSON and must start fast

    write_atomically(path, lambda file: np.savez(file, **arrays))
