"""The files of a run directory: JSON, JSON lines and .npz, each written atomically (see netlang.atomic)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from netlang.atomic import write_json, write_npz, write_text

__all__ = ["read_jsonl", "write_json", "write_jsonl", "write_npz", "write_text"]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write a whole JSON-lines file atomically: one compact JSON object per line."""
    write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, skipping blank lines."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
