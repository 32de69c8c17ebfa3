"""The training section's fields: typing their text, filling defaults and applying command-line overrides.

The JSON Schema (netlang/ir.schema.json, `$defs`-free `train` property) is the one place where each field's
type, range, default and description are written; this module reads them from there.
"""

from __future__ import annotations

from typing import Any

from lark import Token

from netlang.errors import SpecSyntaxError, UsageError, did_you_mean
from netlang.language.schema import load_schema, validate_train


def field_schemas() -> dict[str, dict[str, Any]]:
    """Field name -> the JSON Schema of its value (type, range, default, description), in document order."""
    properties = load_schema()["properties"]["train"]["properties"]
    return {name: spec["properties"]["value"] for name, spec in properties.items()}


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", "string")
    return set(declared) if isinstance(declared, list) else {declared}


def convert(name: str, text: str) -> Any:
    """Turn a field's text into its typed value; raises ValueError with what was expected."""
    schema = field_schemas()[name]
    types = _types(schema)
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    if "null" in types and text in {"auto", "default", "none"}:
        return None
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number for '{name}', got '{text}'") from None
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number for '{name}', got '{text}'") from None
    return text


def lower_setting(key: Token, value: Token, filename: str) -> dict[str, Any]:
    """One `key value` line of the training section -> {"value": typed, "pos": where the value is}."""
    fields = field_schemas()
    name = str(key)
    pos = {"line": value.line, "col": value.column, "span": max(1, len(str(value)))}
    if name not in fields:
        hint = did_you_mean(name, fields)
        known = "" if hint else f"; the fields are: {', '.join(fields)}"
        raise SpecSyntaxError(f"unknown training field '{name}'{hint}{known}").at(
            {"line": key.line, "col": key.column, "span": len(name)}, filename
        )
    try:
        typed = convert(name, str(value))
    except ValueError as err:
        raise SpecSyntaxError(str(err)).at(pos, filename) from None
    return {"value": typed, "pos": pos}


def resolve_training(ir: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Every training field's value: command-line overrides, else the spec's, else the default.

    Raises UsageError for an override that names no field or does not fit it.
    """
    fields = field_schemas()
    section = dict(ir.get("train", {}))
    for name, text in (overrides or {}).items():
        flag = "--" + name.replace("_", "-")
        if name not in fields:
            raise UsageError(f"unknown training field '{name}'{did_you_mean(name, fields)}")
        try:
            section[name] = {"value": convert(name, str(text))}
        except ValueError as err:
            raise UsageError(f"{flag}: {err}") from None
        problem = validate_train({name: section[name]})
        if problem:
            raise UsageError(f"{flag}: {problem}")
    return {name: section[name]["value"] if name in section else schema.get("default")
            for name, schema in fields.items()}


def combination_problem(config: dict[str, Any]) -> tuple[str, str] | None:
    """(the field to blame, the problem in words) for fields that cannot work together, or None.

    `check` asks it of the spec's own training section, `train` of the resolved config."""
    if config["patience"] > 0 and config["val_split"] == 0:
        return "patience", (
            f"early stopping (patience {config['patience']}) watches the validation loss, but val_split "
            "is 0; set --val-split above 0 or --patience 0"
        )
    return None


def check_config(config: dict[str, Any]) -> None:
    """Combinations of fields that cannot work together raise UsageError."""
    problem = combination_problem(config)
    if problem is not None:
        raise UsageError(problem[1])
