"""Helpers shared by the sub-commands: loading a spec argument, writing output files atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from netlang.compiler import compile_ir
from netlang.errors import UsageError


def load_spec(path: str) -> dict[str, Any]:
    """A SPEC argument (a .net spec or an IR .json file) -> inferred IR; a missing file is a UsageError."""
    if path == "-":
        import sys

        return compile_ir(sys.stdin.read(), filename="<stdin>")
    spec = Path(path)
    if not spec.exists():
        raise UsageError(f"{path}: no such file")
    return compile_ir(spec)


def write_atomically(path: str | Path, text: str) -> None:
    """Write text to path via a temporary file in the same directory and a rename: never a half-written file."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except OSError as err:
        raise UsageError(f"{path}: cannot write it ({err.strerror or err})") from None
