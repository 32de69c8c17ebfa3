"""Helpers shared by the sub-commands: loading a spec argument, writing output files atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.atomic import write_text
from netlang.errors import UsageError
from netlang.language.compiler import compile_ir


def load_spec(path: str) -> dict[str, Any]:
    """A SPEC argument (a .net spec or an IR .json file) -> inferred IR; a missing file is a UsageError."""
    if path == "-":
        import sys

        return compile_ir(sys.stdin.read(), filename="<stdin>")
    spec = Path(path)
    if not spec.exists():
        raise UsageError(f"{path}: no such file")
    return compile_ir(spec)


def finite_number(text: str) -> float:
    """argparse type of a real-number flag: NaN and infinity are refused as the flag (exit 2)."""
    import math

    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text}")
    return value


finite_number.__name__ = "finite number"  # argparse says "invalid finite number value: 'nan'"


def write_atomically(path: str | Path, text: str) -> None:
    """Write text to path atomically (netlang.atomic); an unwritable path is a UsageError naming it."""
    try:
        write_text(path, text)
    except OSError as err:
        raise UsageError(f"{path}: cannot write it ({err.strerror or err})") from None
