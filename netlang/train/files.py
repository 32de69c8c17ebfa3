"""The files of a run directory: JSON, JSON lines and .npz, each written atomically (see netlang.atomic)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from netlang.atomic import write_json, write_npz, write_text
from netlang.errors import DataError

__all__ = ["read_history", "read_jsonl", "write_json", "write_jsonl", "write_npz", "write_text"]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write a whole JSON-lines file atomically: one compact JSON object per line."""
    write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, skipping blank lines."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# train_loss/train_acc: running means over the epoch's batches (training mode); train_eval_*: a pass over the
# training split in inference mode, test_*: the test set, both only when the config's `measure` asks for them.
METRIC_FIELDS = (
    "train_loss", "train_acc", "val_loss", "val_acc", "train_eval_loss", "train_eval_acc", "test_loss", "test_acc",
    "lr", "seconds",
)


def read_history(path: Path, epochs: int) -> list[dict[str, Any]]:
    """The metrics.jsonl records of epochs 1..`epochs` (what a resumed run keeps); none if the file is absent.

    Every record is checked first: a line that is not a JSON object with a whole-number `epoch` and numbers
    (or null) for the metrics is a DataError at FILE:LINE, so a damaged file stops a resume before it starts.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise DataError("not a JSON object", file=str(path), line=number) from None
        problem = _record_problem(record)
        if problem:
            raise DataError(f"{problem}; fix or delete this line to resume", file=str(path), line=number)
        if record["epoch"] <= epochs:
            records.append(record)
    return records


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        return f"'epoch' is {epoch!r}, expected a whole number >= 1"
    for name in METRIC_FIELDS:
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"'{name}' is {value!r}, expected a number or null"
    return None
