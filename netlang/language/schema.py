"""Stage 3, validate: IR dict -> the same dict, checked against the JSON Schema shipped in the package.

jsonschema's errors are translated into the spec's own terms ("the dropout ratio must be in [0, 1)") and
located at the spec position the IR node carries, or at its JSON path when it carries none.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from netlang.errors import SchemaError, did_you_mean
from netlang.ops.base import Arg, Op

BASE_SCHEMA_PATH = Path(__file__).resolve().parent / "ir_base.schema.json"

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "an object",
    "boolean": "true or false",
    "null": "null",
}


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The IR's JSON Schema (draft 2020-12): ir_base.schema.json with the per-op parts of the op registry.

    netlang/ir.schema.json holds the same, generated for other tools (python -m netlang.ops.generate).
    """
    from netlang.ops import OPS

    schema = json.loads(BASE_SCHEMA_PATH.read_text(encoding="utf-8"))
    layer = schema["$defs"]["layer"]
    layer["properties"]["op"] = {"enum": list(OPS), "description": "the layer"}
    layer["allOf"] = [
        {
            "if": {"properties": {"op": {"const": name}}, "required": ["op"]},
            "then": {"properties": {"args": {"$ref": f"#/$defs/args/{name}"}}},
        }
        for name in OPS
    ]
    schema["$defs"]["args"] = {name: args_schema(op) for name, op in OPS.items()}
    del schema["$comment"]
    return schema


def args_schema(op: Op) -> dict[str, Any]:
    """The JSON Schema of an op's `args` after lowering: every argument with a default is filled in."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [arg.name for arg in op.args if arg.required or arg.default is not None],
        "properties": {arg.name: _arg_schema(arg) for arg in op.args},
    }


def _arg_schema(arg: Arg) -> dict[str, Any]:
    if arg.schema is not None:
        value = dict(arg.schema)
    elif arg.kind == "int":
        value = {"type": "integer", **arg.bounds}
    elif arg.kind == "real":
        value = {"type": "number", **arg.bounds}
    elif arg.kind == "size":
        value = {"type": "array", "items": {"type": "integer", **arg.bounds}, "minItems": 2, "maxItems": 2}
    elif arg.kind == "choice":
        value = {"enum": list(arg.choices)}
    else:
        value = {"type": "string"}
    return {**value, "description": arg.noun or arg.what}


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator  # imported here: it is the slowest import of the front end

    return Draft202012Validator(load_schema())


def forget_schema() -> None:
    """Drop the cached schema and validator, after the op registry changed."""
    load_schema.cache_clear()
    _validator.cache_clear()


def validate(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Check an IR dict against the schema; returns it unchanged or raises the first SchemaError, located."""
    errors = list(_validator().iter_errors(ir))
    if not errors:
        return ir
    error = min(errors, key=lambda e: _sort_key(ir, list(e.absolute_path)))
    path = list(error.absolute_path)
    message = _message(ir, path, error)
    pos = _locate(ir, path)
    file = (ir.get("source") if pos is not None and isinstance(ir, dict) else None) or filename
    if pos is None:
        message = f"{_json_path(path)}: {message}" if path else message
    raise SchemaError(message).at(pos, file)


def validate_train(section: dict[str, Any]) -> str | None:
    """The first problem with some training settings ({"lr": {"value": ...}}), in words, or None if they fit."""
    subschema = load_schema()["properties"]["train"]
    from jsonschema import Draft202012Validator

    for error in Draft202012Validator(subschema).iter_errors(section):
        return _message({"train": section}, ["train", *error.absolute_path], error)
    return None


def _sort_key(ir: Any, path: list[Any]) -> tuple:
    pos = _locate(ir, path)
    if pos is None:
        return (0, 0, 0, len(path))
    return (1, pos["line"], pos["col"], -len(path))


def _locate(ir: Any, path: list[Any]) -> dict[str, int] | None:
    """The spec position of the node a JSON path points into, if the IR carries one."""
    if not isinstance(ir, dict) or not path:
        return None
    try:
        if path[0] == "layers" and len(path) >= 2:
            layer = ir["layers"][path[1]]
            if len(path) >= 4 and path[2] == "args":
                arg_pos = layer.get("arg_pos", {}).get(path[3])
                if _is_pos(arg_pos):
                    return arg_pos
            return layer.get("pos") if _is_pos(layer.get("pos")) else None
        if path[0] == "train" and len(path) >= 2:
            pos = ir["train"][path[1]].get("pos")
            return pos if _is_pos(pos) else None
        if path[0] == "input":
            pos = ir["input"].get("pos")
            return pos if _is_pos(pos) else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None


def _is_pos(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("line"), int) and isinstance(value.get("col"), int)


def _json_path(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _subject(ir: Any, path: list[Any], error) -> str:
    """What the failing value is, in words: 'the number of filters of conv1', 'the learning rate', ..."""
    schema = load_schema()
    try:
        if path[:1] == ["layers"] and len(path) >= 4 and path[2] == "args":
            layer = ir["layers"][path[1]]
            described = schema["$defs"]["args"][layer["op"]]["properties"][path[3]]["description"]
            return f"{described} of {layer['name']}"
        if path[:2] == ["input", "shape"]:
            return "the input shape"
        if path[:1] == ["train"] and len(path) >= 2:
            return schema["properties"]["train"]["properties"][path[1]]["properties"]["value"]["description"]
    except (KeyError, IndexError, TypeError):
        pass
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        return description
    return f"'{path[-1]}'" if path else "the IR"


def _message(ir: Any, path: list[Any], error) -> str:
    kind, limit, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    subject = _subject(ir, path, error)
    if kind in {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and high is not None:
            left = "[" if "minimum" in schema else "("
            right = "]" if "maximum" in schema else ")"
            return f"{subject} must be in {left}{low:g}, {high:g}{right}, got {value:g}"
        words = {"minimum": "at least", "exclusiveMinimum": "greater than",
                 "maximum": "at most", "exclusiveMaximum": "less than"}[kind]
        return f"{subject} must be {words} {limit:g}, got {value:g}"
    if kind == "type":
        wanted = limit if isinstance(limit, list) else [limit]
        return f"{subject} must be {' or '.join(_TYPE_WORDS.get(t, t) for t in wanted)}, got {json.dumps(value)}"
    if kind in {"const", "enum"} and path == ["netlang"]:
        versions = " and ".join(map(str, limit if isinstance(limit, list) else [limit]))
        return f"this IR is version {json.dumps(value)}; this netlang reads version {versions}"
    if kind == "enum":
        choices = [str(choice) for choice in limit]
        hint = did_you_mean(str(value), choices)
        return f"{subject} must be one of {', '.join(choices)}; got {json.dumps(value)}{hint}"
    if kind == "const":
        return f"{subject} must be {json.dumps(limit)}, got {json.dumps(value)}"
    if kind == "required":
        missing = [name for name in limit if isinstance(value, dict) and name not in value]
        where = f" in {_json_path(path)}" if path else ""
        return f"missing field '{missing[0] if missing else limit[0]}'{where}"
    if kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        extra = [name for name in value if name not in known] if isinstance(value, dict) else []
        name = extra[0] if extra else "?"
        where = f" in {_json_path(path)}" if path else ""
        return f"unknown field '{name}'{where}{did_you_mean(name, known)}"
    if kind == "pattern":
        examples = schema.get("examples")
        wanted = "one of " + ", ".join(map(str, examples)) if examples else f"a value matching {limit}"
        return f"{subject} must be {wanted}; got {json.dumps(value)}"
    if kind in {"minItems", "maxItems"}:
        return f"{subject} has {len(value)} items; expected {'at least' if kind == 'minItems' else 'at most'} {limit}"
    if kind == "minLength":
        return f"{subject} must not be empty"
    return f"{subject}: {error.message}"
