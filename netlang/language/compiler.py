"""The compiler: the front end's stages applied in order, from a spec path, spec text or IR to inferred IR.

    spec text --parse--> tree --lower--> IR --validate--> valid IR --PASSES--> IR with shapes and costs

Each stage and pass is a function (value, filename) -> value, applied once, in the order of these tuples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netlang.errors import NetlangError, SchemaError, UsageError
from netlang.language.infer import add_totals, infer
from netlang.language.lower import lower
from netlang.language.parser import parse
from netlang.language.rewrites import check_last_only, connect_layers, insert_implicit_flattens
from netlang.language.schema import validate

# From valid IR to IR with shapes and costs: the graph checked (an IR file's chain wired), the checks past the
# schema, shape inference, rewrites, totals.
PASSES = (connect_layers, check_last_only, infer, insert_implicit_flattens, add_totals)
SPEC_STAGES = (parse, lower, validate, *PASSES)
IR_STAGES = (validate, *PASSES)


def compile_ir(source: str | Path | dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """A spec path, spec text or IR dict -> validated, shape-inferred IR; raises a located NetlangError."""
    if isinstance(source, dict):
        return _run(IR_STAGES, source, filename or source.get("source", "<ir>"), text=None)
    if isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        text = read_source(path)
        if path.suffix == ".json":
            return _run(IR_STAGES, load_ir_json(text, str(path)), str(path), text=None)
        return _run(SPEC_STAGES, text, str(path), text=text)
    return _run(SPEC_STAGES, source, filename or "<spec>", text=source)


def _looks_like_path(source: str) -> bool:
    """One line that is a file, or cannot be spec text (which starts with 'input' or a comment), is a path:
    a missing file is then "no such file", not a parse error about its name."""
    if "\n" in source:
        return False
    if source.endswith((".net", ".json", ".txt")) or Path(source).is_file():
        return True
    return not source.lstrip().startswith(("input", "#"))


def read_source(path: Path) -> str:
    """A spec or IR file's text; a missing or unreadable file is a UsageError naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a spec file") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read it ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SchemaError("the file is not UTF-8 text", file=str(path), line=line, col=col) from None
    return text


def load_ir_json(text: str, filename: str) -> dict[str, Any]:
    """Parse an IR JSON file's text; bad JSON is a SchemaError at the line and column JSON gave."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SchemaError(f"not valid JSON: {err.msg}", file=filename, line=err.lineno, col=err.colno).with_source(
            text
        ) from None
    if not isinstance(data, dict):
        raise SchemaError("an IR file must hold a JSON object with 'netlang', 'input' and 'layers'", file=filename)
    return data


def _run(stages: tuple, value: Any, filename: str, text: str | None) -> dict[str, Any]:
    try:
        for stage in stages:
            value = stage(value, filename)
        return value
    except NetlangError as err:
        raise err.with_source(text) if err.file == filename else err from None
