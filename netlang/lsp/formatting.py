"""Formatting: a spec rewritten as the canonical text of its network (IR -> text, netlang/language/printer.py).

The printer writes the network, not the text it came from, so the spec is formatted only when nothing would be
lost: it compiles, and it has no comments (the IR keeps none) and no block definitions (the printer writes
each use of a block as a named group). Otherwise formatting declines and says why. The new text is compiled
again and must give the same network (names, ops, arguments, wiring, training and search sections), or
formatting declines too.
"""

from __future__ import annotations

from typing import Any

from netlang.errors import NetlangError
from netlang.language.compiler import SPEC_STAGES
from netlang.language.diagnostics import Analysis
from netlang.language.printer import to_spec_text
from netlang.language.statements import code_of


def formatted(text: str, analysis: Analysis) -> tuple[str | None, str]:
    """(The canonical text, or None when formatting declines; why it declines, or '')."""
    if analysis.ir is None:
        return None, "the spec has errors; fix them first"
    if any("#" in line and code_of(line) != line.strip() for line in text.split("\n")):
        return None, "the spec has comments, which the canonical text would lose"
    if any(node.data == "block_def" for node in analysis.tree.children):
        return None, "the spec defines blocks, which the canonical text writes out as groups"
    try:
        canonical = to_spec_text({**analysis.ir, "source": None})
        again = _compile(canonical)
    except NetlangError as err:
        return None, f"the canonical text cannot be written ({err.message})"
    if _network(again) != _network(analysis.ir):
        return None, "the canonical text would not give the same network"
    if "\r\n" in text:  # keep the file's line endings
        canonical = canonical.replace("\n", "\r\n")
    return canonical, ""


def _compile(text: str) -> dict[str, Any]:
    value: Any = text
    for stage in SPEC_STAGES:
        value = stage(value, "<formatted>")
    return value


def _network(ir: dict[str, Any]) -> tuple:
    """What formatting must keep: the input, each layer's name, op, arguments and inputs, the sections."""
    layers = [(layer["name"], layer["op"], layer["args"], layer["inputs"]) for layer in ir["layers"]]
    sections = [{key: entry["value"] for key, entry in ir.get(name, {}).items()} for name in ("train", "search")]
    return ir["input"]["shape"], layers, sections
