"""Stage 3, validate: IR dict -> the same dict, checked against the JSON Schema shipped in the package.

jsonschema's errors are translated into the spec's own terms ("the dropout ratio must be in [0, 1)") and
located at the spec position the IR node carries, or at its JSON path when it carries none (and always at
its JSON path for an IR file, `validate_ir_file`).

Two departures from plain JSON Schema, both because an IR file is input: a number is finite (NaN and
Infinity, which Python's json reads, are no numbers), and an integer is a whole number written as one (1e308
is a float, not a layer size). Validation stays fast for a large network: the layers' contents (op, args,
shapes) are validated once for each distinct content, and only their names, inputs and positions one by one.
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from netlang.errors import SchemaError, did_you_mean
from netlang.limits import MAX_LAYERS_VARIABLE, max_layers, raise_hint
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


# A layer's fields that name it and place it, validated for every layer; the rest is its content, validated
# once for each distinct content.
_WIRING = ("name", "inputs", "pos", "arg_pos", "scope")


@lru_cache(maxsize=1)
def _strict_class():
    """Draft 2020-12 with finite numbers and integers that are ints (not floats such as 1e308 or 3.0)."""
    from jsonschema import Draft202012Validator, validators  # imported here: the front end's slowest import

    def is_integer(checker, value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def is_number(checker, value) -> bool:
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or isinstance(value, float) and math.isfinite(value)

    checker = Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": is_integer, "number": is_number})
    return validators.extend(Draft202012Validator, type_checker=checker)


@lru_cache(maxsize=1)
def _validators():
    """(the IR without its layers' items, a layer's content, a layer's wiring): three validators."""
    strict = _strict_class()
    schema = load_schema()
    top = copy.deepcopy(schema)
    top["properties"]["layers"] = {key: value for key, value in top["properties"]["layers"].items()
                                   if key != "items"}
    layer = schema["$defs"]["layer"]
    content = {"$defs": schema["$defs"], **layer, "required": [name for name in layer["required"]
                                                              if name not in _WIRING]}
    wiring = {"$defs": schema["$defs"], "type": "object", "required": [name for name in layer["required"]
                                                                       if name in _WIRING],
              "properties": {name: layer["properties"][name] for name in _WIRING}}
    content["properties"] = {**layer["properties"], **{name: {} for name in _WIRING}}
    return strict(top), strict(content), strict(wiring)


def forget_schema() -> None:
    """Drop the cached schema and validators, after the op registry changed."""
    load_schema.cache_clear()
    _validators.cache_clear()
    _name_pattern.cache_clear()


def schema_errors(ir: Any) -> list[tuple[list[Any], Any]]:
    """Every (JSON path, jsonschema error) of an IR, each distinct layer content validated once, at the first
    layer that has it."""
    top, content, wiring = _validators()
    found = [(list(error.absolute_path), error) for error in top.iter_errors(ir)]
    layers = ir.get("layers") if isinstance(ir, dict) else None
    if not isinstance(layers, list):
        return found
    seen: set[str] = set()
    for index, layer in enumerate(layers):
        if isinstance(layer, dict):
            key = _content_key(layer)
            if key is None or key not in seen:
                found += [(["layers", index, *error.absolute_path], error) for error in content.iter_errors(layer)]
                if key is not None:
                    seen.add(key)
            key = _wiring_key(layer)
            if key is None or key not in seen:
                found += [(["layers", index, *error.absolute_path], error) for error in wiring.iter_errors(layer)]
                if key is not None:
                    seen.add(key)
        else:
            found += [(["layers", index], error) for error in content.iter_errors(layer)]
    return found


def _wiring_key(layer: dict[str, Any]) -> str | None:
    """The layer's name, inputs and positions as text in which every valid name is "n" and every whole
    number from 1 up is 1: layers with the same key are valid or invalid alike (so only the first is
    validated), as the schema asks no more of a name or a position than that."""
    is_name = _name_pattern().search

    def canonical(value: Any) -> Any:
        if isinstance(value, str):
            return "n" if is_name(value) else value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return 1
        if isinstance(value, list):
            return [canonical(item) for item in value]
        if isinstance(value, dict):
            return {key: canonical(item) for key, item in value.items()}
        return value

    try:
        return "w" + json.dumps({key: canonical(layer[key]) for key in _WIRING if key in layer}, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return None


@lru_cache(maxsize=1)
def _name_pattern() -> re.Pattern[str]:
    return re.compile(load_schema()["$defs"]["layer"]["properties"]["name"]["pattern"])


def _content_key(layer: dict[str, Any]) -> str | None:
    """The layer's content as text, the same for layers that differ only in name, inputs and position."""
    try:
        return json.dumps({key: value for key, value in layer.items() if key not in _WIRING}, sort_keys=True)
    except (TypeError, ValueError, RecursionError):  # keys that are not text, values not JSON: validate alone
        return None


def validate(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Check an IR dict against the schema; returns it unchanged or raises the first SchemaError, located."""
    return _validate(ir, filename, in_file=False)


def validate_ir_file(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Check an IR read from a file; the first SchemaError names its JSON path (`json_path`, and in the
    message) instead of positions the file claims, which point into another file."""
    return _validate(ir, filename, in_file=True)


def _validate(ir: dict[str, Any], filename: str | None, in_file: bool) -> dict[str, Any]:
    layers = ir.get("layers") if isinstance(ir, dict) else None
    if isinstance(layers, list) and len(layers) > max_layers():
        problem = SchemaError(f"layers: {len(layers):,} layers, and a network may have at most {max_layers():,} "
                              f"({raise_hint(MAX_LAYERS_VARIABLE)})", file=filename)
        problem.json_path, problem.quote_file = ["layers"], not in_file
        raise problem
    errors = schema_errors(ir)
    if not errors:
        return ir
    path, error = min(errors, key=lambda found: _sort_key(None if in_file else ir, found[0]))
    message = _message(ir, path, error)
    pos = None if in_file else _locate(ir, path)
    if pos is None:
        message = f"{_json_path(path)}: {message}" if path else message
        problem = SchemaError(message, file=filename)
        problem.json_path = path
        problem.quote_file = not in_file
        raise problem
    file = (ir.get("source") if isinstance(ir, dict) else None) or filename
    raise SchemaError(message).at(pos, file)


def schema_problems(ir: dict[str, Any], filename: str | None = None) -> list[tuple[list[Any], SchemaError]]:
    """Every schema problem of a spec's IR as (JSON path, SchemaError located as validate locates it), in the
    order of their positions; a layer content found bad is reported at every layer that has it (`validate`
    raises the first problem only, for the editor's diagnostics: netlang/language/diagnostics.py)."""
    errors = schema_errors(ir)
    layers = ir.get("layers") if isinstance(ir, dict) else None
    if isinstance(layers, list):
        same_content: dict[str, list[int]] = {}
        for index, layer in enumerate(layers):
            key = _content_key(layer) if isinstance(layer, dict) else None
            if key is not None:
                same_content.setdefault(key, []).append(index)
        for path, error in list(errors):
            if path[:1] == ["layers"] and len(path) >= 3 and path[2] not in _WIRING:
                key = _content_key(layers[path[1]])
                errors += [(["layers", other, *path[2:]], error) for other in same_content.get(key or "", [])
                           if other != path[1]]
    file = (ir.get("source") if isinstance(ir, dict) else None) or filename
    problems = []
    for path, error in sorted(errors, key=lambda found: _sort_key(ir, found[0])):
        message = _message(ir, path, error)
        pos = _locate(ir, path)
        if pos is None:
            problem = SchemaError(f"{_json_path(path)}: {message}" if path else message, file=filename)
            problem.json_path = path
        else:
            problem = SchemaError(message).at(pos, file)
        problems.append((path, problem))
    return problems


def validate_train(section: dict[str, Any]) -> str | None:
    """The first problem with some training settings ({"lr": {"value": ...}}), in words, or None if they fit."""
    subschema = load_schema()["properties"]["train"]
    for error in _strict_class()(subschema).iter_errors(section):
        return _message({"train": section}, ["train", *error.absolute_path], error)
    return None


def _sort_key(ir: Any, path: list[Any]) -> tuple:
    """Errors come in the order of their positions, those without one first; in an IR file (ir None), in
    the order of their layers."""
    if ir is None:
        index = path[1] if path[:1] == ["layers"] and len(path) > 1 else -1
        return (0, index, 0, len(path))
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
    if kind == "pattern" and limit == load_schema()["$defs"]["layer"]["properties"]["name"]["pattern"]:
        return (f"{subject} must start with a letter or '_' and hold only letters, digits and '_.:+-'; "
                f"got {json.dumps(value)}")
    if kind == "pattern" and path == ["source"]:
        return f"'source' must be a file name without control characters; got {json.dumps(value)}"
    if kind == "pattern":
        examples = schema.get("examples")
        wanted = "one of " + ", ".join(map(str, examples)) if examples else f"a value matching {limit}"
        return f"{subject} must be {wanted}; got {json.dumps(value)}"
    if kind in {"minItems", "maxItems"}:
        return f"{subject} has {len(value)} items; expected {'at least' if kind == 'minItems' else 'at most'} {limit}"
    if kind == "minLength":
        return f"{subject} must not be empty"
    return f"{subject}: {error.message}"
