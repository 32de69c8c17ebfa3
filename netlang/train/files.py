"""Atomic file writes for a run directory: a reader never sees a half-written file.

Each writer puts the bytes in a temporary file beside the target and moves it into place with os.replace,
which is atomic on POSIX and Windows when both paths are on the same file system.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(file) on a temporary file next to `path`, then move it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave the temporary file behind.
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def write_json(path: Path, value: Any) -> None:
    """Write one JSON document atomically, indented, with a final newline."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write a whole JSON-lines file atomically: one compact JSON object per line."""
    write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, skipping blank lines."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write named arrays to an uncompressed .npz atomically (never pickled objects)."""
    write_atomically(path, lambda file: np.savez(file, **arrays))
