"""Writing a configuration back out as a spec: the original text, its network lines untouched, with the
train { } section replaced (or added at the end).

The train section is found in the text itself (the IR keeps positions of its values, not of its braces):
the word `train` at the start of a statement, then everything up to the matching `}` outside comments and
quoted strings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from netlang.errors import UsageError

TRAIN_START = re.compile(r"^[ \t]*train[ \t]*\{", re.MULTILINE)


def read_spec(path: str) -> tuple[dict[str, Any], str | None]:
    """A SPEC argument -> (inferred IR, spec text); the text is None for an IR .json file."""
    import sys

    from netlang.language.compiler import compile_ir

    if path == "-":
        text = sys.stdin.read()
        return compile_ir(text, filename="<stdin>"), text
    spec = Path(path)
    if not spec.is_file():
        raise UsageError(f"{path}: no such file")
    ir = compile_ir(spec)
    if spec.suffix == ".json":
        return ir, None
    return ir, spec.read_text(encoding="utf-8")


def train_section_span(text: str) -> tuple[int, int] | None:
    """(start, end) character offsets of the train section (end just past its `}`), or None if absent."""
    for match in TRAIN_START.finditer(text):
        if _in_comment(text, match.start()):
            continue
        end = _closing_brace(text, match.end())
        if end is not None:
            return match.start(), end
    return None


def _in_comment(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return "#" in text[line_start:offset]


def _closing_brace(text: str, offset: int) -> int | None:
    quoted = False
    index = offset
    while index < len(text):
        char = text[index]
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            continue
        elif char == "}" and not quoted:
            return index + 1
        index += 1
    return None


def format_train_section(values: dict[str, Any]) -> str:
    """`train { ... }` with one `field value` line per entry, values quoted when they hold spaces."""
    width = max((len(name) for name in values), default=0)
    lines = ["train {"]
    for name, value in values.items():
        text = str(value)
        if any(char.isspace() for char in text) or "#" in text:
            text = '"' + text.replace('"', "") + '"'
        lines.append(f"  {name:<{width}} {text}")
    lines.append("}")
    return "\n".join(lines)


def spec_with_training(text: str, values: dict[str, Any], comment: str = "") -> str:
    """The spec text with its train section replaced by `values` (added at the end if it had none).

    `comment` (one or more lines, without '#') is written just above the new section.
    """
    section = format_train_section(values)
    if comment:
        section = "".join(f"# {line}\n" for line in comment.splitlines()) + section
    span = train_section_span(text)
    if span is None:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    start, end = span
    rest = text[end:]
    return text[:start] + section + ("" if rest.startswith("\n") else "\n") + rest


def ir_with_training(ir: dict[str, Any], config: dict[str, Any]) -> str:
    """For an IR file given as the spec: the IR as JSON text with every training field set from `config`."""
    from netlang.train.session import with_training

    return json.dumps(with_training(ir, config), indent=2) + "\n"


def spec_fields(ir: dict[str, Any]) -> list[str]:
    """The training fields the spec itself sets, in its order."""
    return list(ir.get("train", {}))


def default_out_dir(kind: str, spec: str) -> Path:
    """runs/<kind>-<spec name>: where an experiment on `spec` writes when no --out is given."""
    name = "stdin" if spec == "-" else Path(spec).stem
    return Path("runs") / f"{kind}-{name}"


def spec_label(spec: str) -> str:
    """How a picture's title names the spec: its file name, or 'stdin' for -."""
    return "stdin" if spec == "-" else Path(spec).name
