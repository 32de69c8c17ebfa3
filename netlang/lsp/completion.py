"""Completion: layer keywords (from the op registry) and block names where a layer may start, a layer's options
and the words its arguments take (from its signature), and in the training and search sections the fields
and their values (from the IR's JSON Schema, netlang/language/trainfields.py)."""

from __future__ import annotations

import re

from lsprotocol import types

from netlang.language.statements import code_of, split_statements
from netlang.language.trainfields import field_schemas
from netlang.ops import OPS, Op

_STATEMENT_WORDS = {
    "input": "the input's shape: CxHxW or N",
    "train": "the training section: train { ... }",
    "search": "ranges of training fields for netlang search: search { ... }",
    "block": "a reusable block with parameters: block NAME PARAM... { ... }",
}
_BLOCK_NAME = re.compile(r"^[ \t]*block[ \t]+([A-Za-z_][A-Za-z0-9_\-]*)", re.MULTILINE)
# Where a new stage starts: after an arrow, a join, an opening parenthesis or a label.
_STAGE_START = re.compile(r"(->|\+(?![0-9.])|\||\(|[A-Za-z_][A-Za-z0-9_.]*[ \t]*:(?![A-Za-z0-9_.+\-]))")
_SCHEMES = ("he", "he_uniform", "xavier", "xavier_uniform", "std:0.01")


def complete(text: str, line: int, col: int) -> list[types.CompletionItem]:
    """The completions at netlang's (line, col) of spec text."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return []
    before = code_of(lines[line - 1][: col - 1]) + (" " if lines[line - 1][: col - 1].endswith((" ", "\t")) else "")
    section, header = _section_at(lines, line - 1)
    if section in {"train", "search"}:
        return _field_items(before, section)
    items = _layer_items(before, text, at_line_start=section is None and not before.strip())
    if section == "block" and items:  # a block's parameters stand for arguments, or a layer keyword, in its body
        params = code_of(header).split("{")[0].split()[2:]
        items += [_item(param, types.CompletionItemKind.Variable, "a parameter of this block") for param in params]
    return items


def _section_at(lines: list[str], index: int) -> tuple[str | None, str]:
    """('train', 'search' or 'block', the section's first line) when line `index` (from 0) is inside that
    section's braces, else (None, '')."""
    for statement in split_statements("\n".join(lines)):
        if statement.first < index <= statement.last + 1 and statement.keyword in {"train", "search", "block"}:
            inside = lines[statement.first : index + 1]
            opened = any("{" in code_of(one) for one in inside[:-1])
            closed = any(code_of(one).startswith("}") for one in inside[1:-1])
            if opened and not closed:
                return statement.keyword, lines[statement.first]
    return None, ""


def _field_items(before: str, section: str) -> list[types.CompletionItem]:
    words = before.split()
    typing = not before.endswith(" ")
    index = len(words) - 1 if typing and words else len(words)
    fields = field_schemas()
    if index == 0:
        return [_item(name, types.CompletionItemKind.Property, schema.get("description", ""),
                      f"default {schema.get('default')}")
                for name, schema in fields.items()]
    if index == 1 and section == "train" and words[0] in fields:
        schema = fields[words[0]]
        choices = list(schema.get("enum") or schema.get("examples") or [])
        if "null" in (schema.get("type") if isinstance(schema.get("type"), list) else []):
            choices.insert(0, "auto")
        return [_item(str(choice), types.CompletionItemKind.EnumMember, schema.get("description", ""))
                for choice in choices if choice is not None]
    return []


def _layer_items(before: str, text: str, at_line_start: bool) -> list[types.CompletionItem]:
    starts = list(_STAGE_START.finditer(before))
    stage = before[starts[-1].end():] if starts else before
    words = stage.split()
    typing = bool(stage) and not stage.endswith((" ", "\t"))
    index = len(words) - 1 if typing and words else len(words)
    if index == 0:
        items = [_item(name, types.CompletionItemKind.Function, op.summary, _signature(op))
                 for name, op in OPS.items() if not op.merge]
        items += [_item(name, types.CompletionItemKind.Class, "a block defined in this spec")
                  for name in dict.fromkeys(_BLOCK_NAME.findall(text))]
        if at_line_start:
            items += [_item(word, types.CompletionItemKind.Keyword, doc) for word, doc in _STATEMENT_WORDS.items()]
        return items
    op = OPS.get(words[0])
    if op is None or op.merge:
        return []
    previous = words[index - 1]
    option = next((arg for arg in op.options if arg.name == previous), None)
    if option is not None:  # the value of an option
        values = list(option.choices) + list(option.words) + (list(_SCHEMES) if option.name == "init" else [])
        return [_item(value, types.CompletionItemKind.EnumMember, option.what) for value in values]
    given = set(words[1:index])
    items = [_item(arg.name, types.CompletionItemKind.Property, arg.what) for arg in op.options
             if arg.name not in given]
    for arg in op.positional:
        if arg.kind == "choice" and not given & set(arg.choices) and index == 1:
            items += [_item(choice, types.CompletionItemKind.EnumMember, arg.what) for choice in arg.choices]
    return items


def _signature(op: Op) -> str:
    words = [op.name] + [arg.name.upper() if arg.required else f"[{arg.name.upper()}]" for arg in op.positional]
    words += [f"[{arg.name} {arg.kind.upper()}]" for arg in op.options]
    return " ".join(words)


def _item(label: str, kind: types.CompletionItemKind, doc: str, detail: str | None = None) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail or doc or None,
                                documentation=doc or None)
