"""The compiler: the front end's stages applied in order, from a spec path, spec text or IR to inferred IR.

    spec text --parse--> tree --lower--> IR --validate--> valid IR --PASSES--> IR with shapes and costs
    ONNX file --read_onnx (netlang/targets/onnx_import.py)--> IR and weights --validate--> ...

Each stage and pass is a function (value, filename) -> value, applied once, in the order of these tuples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.errors import NetlangError, SchemaError, UsageError
from netlang.language.infer import add_totals, infer
from netlang.language.irfile import check_data_nesting, load_ir_json, locate_error, with_file_positions
from netlang.language.lower import lower
from netlang.language.parser import parse
from netlang.language.rewrites import (
    check_last_only,
    check_settings,
    check_sizes,
    connect_layers,
    insert_implicit_flattens,
)
from netlang.language.schema import validate, validate_ir_file
from netlang.limits import MAX_SPEC_BYTES

# From valid IR to IR with shapes and costs: the graph checked (an IR file's chain wired), the checks past the
# schema (what `train` would refuse, sizes within limits), shape inference, rewrites, totals.
PASSES = (connect_layers, check_last_only, check_settings, infer, check_sizes, insert_implicit_flattens,
          add_totals)
SPEC_STAGES = (parse, lower, validate, *PASSES)
IR_STAGES = (validate, *PASSES)


def compile_ir(source: str | Path | dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """A spec path, spec text or IR dict -> validated, shape-inferred IR; raises a located NetlangError.

    An IR dict's `source` names the file its positions point into; an error never reads that file, which a
    hostile IR could name at will (an IR *file* is located in itself: compile_ir_file).
    """
    if isinstance(source, dict):
        name = filename or str(source.get("source", "<ir>"))
        check_data_nesting(source, name)
        return _run(IR_STAGES, source, name, text=None, quote=False)
    if isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        if path.suffix == ".onnx":
            return compile_onnx(path)[0]
        text = read_source(path)
        if path.suffix == ".json":
            return compile_ir_file(text, str(path))
        return _run(SPEC_STAGES, text, str(path), text=text)
    _check_size(source, filename or "<spec>")
    return _run(SPEC_STAGES, source, filename or "<spec>", text=source)


def compile_ir_file(text: str, filename: str) -> dict[str, Any]:
    """An IR file's text -> validated, shape-inferred IR whose positions point into that file."""
    ir = load_ir_json(text, filename)
    try:
        validate_ir_file(ir, filename)
    except SchemaError as err:
        raise locate_error(err, text) from None
    return _run(PASSES, with_file_positions(ir, text, filename), filename, text=text)


def compile_onnx(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """An ONNX file -> (validated, shape-inferred IR, its weights by netlang tensor name as NumPy arrays)."""
    from netlang.targets.onnx_import import read_onnx

    ir, tensors = read_onnx(path)
    return _run(IR_STAGES, ir, str(path), text=None, quote=False), tensors


def _looks_like_path(source: str) -> bool:
    """One line that is a file, or cannot be spec text (which starts with 'input' or a comment), is a path:
    a missing file is then "no such file", not a parse error about its name."""
    if "\n" in source:
        return False
    if source.endswith((".net", ".json", ".txt", ".onnx")) or _is_file(source):
        return True
    return not source.lstrip().startswith(("input", "#"))


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # a name too long for the file system, or holding a NUL: no file
        return False


def read_bytes(path: Path, limit: int, kind: str) -> bytes:
    """At most limit + 1 bytes of a file (the caller refuses more); a missing or unreadable file, or a name
    that cannot be one, is a UsageError naming it. `kind` says what the file should be ("a spec file")."""
    try:
        with path.open("rb") as file:
            return file.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not {kind}") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read it ({err.strerror})") from None
    except ValueError:  # a NUL in the name
        raise UsageError(f"{str(path)!r}: not a file name") from None


def read_source(path: Path) -> str:
    """A spec or IR file's text; a missing or unreadable file is a UsageError naming it, one larger than
    MAX_SPEC_BYTES a SchemaError."""
    raw = read_bytes(path, MAX_SPEC_BYTES, "a spec file")
    _check_size(raw, str(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SchemaError("the file is not UTF-8 text", file=str(path), line=line, col=col) from None
    return text


def _check_size(text: str | bytes, filename: str) -> None:
    if len(text) > MAX_SPEC_BYTES:
        raise SchemaError(f"the file is larger than {MAX_SPEC_BYTES // 2**20} MiB, more than any spec or IR "
                          "file needs", file=filename)


def _run(stages: tuple, value: Any, filename: str, text: str | None, quote: bool = True) -> dict[str, Any]:
    try:
        for stage in stages:
            value = stage(value, filename)
        return value
    except NetlangError as err:
        err.quote_file = err.quote_file and quote
        raise err.with_source(text) if err.file == filename else err from None
