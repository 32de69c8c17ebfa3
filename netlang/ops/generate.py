"""The files generated from the op registry: netlang/ir.schema.json (the whole IR schema, for other tools), the
op table of docs/ir.md and the editors' TextMate grammar (netlang/language/highlighting.py). `python -m
netlang.ops.generate` writes them; with --check it only says whether they are up to date (a test runs that
check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from netlang.language.highlighting import textmate_text
from netlang.language.schema import load_schema
from netlang.ops import OPS
from netlang.ops.base import Arg, Op

PACKAGE = Path(__file__).resolve().parents[1]
SCHEMA_FILE = PACKAGE / "ir.schema.json"
IR_DOC = PACKAGE.parent / "docs" / "ir.md"
TEXTMATE_FILE = PACKAGE.parent / "editors" / "vscode" / "syntaxes" / "netlang.tmLanguage.json"
TABLE_START = "<!-- op table: generated from netlang/ops by `python -m netlang.ops.generate`; do not edit -->"
TABLE_END = "<!-- end of the op table -->"


def schema_text() -> str:
    """netlang/ir.schema.json as it should read."""
    return json.dumps(load_schema(), indent=1, ensure_ascii=False) + "\n"


def op_table() -> str:
    """The Markdown table of every op: its args after defaults are filled in, and its tensors."""
    rows = ["| op | args | param_shapes / buffer_shapes | what it computes |", "|---|---|---|---|"]
    for op in OPS.values():
        rows.append(f"| {op.name} | {_args_cell(op)} | {_tensors_cell(op)} | {op.summary} |")
    return "\n".join(rows)


def _args_cell(op: Op) -> str:
    return ", ".join(_arg_words(arg) for arg in op.args) or "–"


def _arg_words(arg: Arg) -> str:
    words = arg.name
    if arg.kind == "size":
        words += " [H, W]"
    elif arg.kind == "choice":
        words += " " + "/".join(arg.choices)
    limits = [f"{_BOUND_WORDS[key]} {value:g}" for key, value in arg.bounds.items()]
    if limits and arg.kind in ("int", "real"):
        words += " " + ", ".join(limits)
    if callable(arg.default):
        words += f" (default: {arg.default.__doc__})"
    elif arg.default is not None:
        words += f" ({arg.default})"
    elif not arg.required:
        words = f"optional {words}"
    return words


_BOUND_WORDS = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}


def _tensors_cell(op: Op) -> str:
    tensors = [f"{param.name} {param.shape_doc}" for param in op.params]
    tensors += [f"buffer {buffer.name} {buffer.shape_doc}" for buffer in op.buffers]
    return ", ".join(tensors) or "–"


def ir_doc_text(current: str) -> str:
    """docs/ir.md with its op table replaced by the registry's."""
    before, rest = current.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    return f"{before}{TABLE_START}\n{op_table()}\n{TABLE_END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netlang.ops.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether the generated files are up to date")
    args = parser.parse_args(argv)
    wanted = {SCHEMA_FILE: schema_text(), IR_DOC: ir_doc_text(IR_DOC.read_text(encoding="utf-8")),
              TEXTMATE_FILE: textmate_text()}
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run python -m netlang.ops.generate", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
