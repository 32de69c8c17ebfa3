"""Spec text cut into its top-level statements by a lexical scan, so that a tool can parse each on its own and go
on past a syntax error (the editor's diagnostics, netlang/language/diagnostics.py).

A statement ends at a line break, except where the grammar lets a line break stand inside one: after or before
an arrow, a `+` or a `|` (which swallow the line breaks around them), after a `(` or before a `)`, and between
the braces of a block, training or search section. Blank and comment lines between statements belong to none.
A line that can only start a statement (`input ...`, `train {`, `search {`, `block NAME`) always starts one,
so a brace never closed or an arrow left dangling while typing costs one statement, not the rest of the file.

For a valid spec the statements parse to the same statements as the whole text (a test checks it on every
example spec); on an invalid one they are a best guess that keeps each error inside its own statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token, Tree

from netlang.errors import SpecSyntaxError
from netlang.language.parser import parse

# A line's pieces: a quoted value (kept whole: it may hold '#', '{' or '}'), a comment, or anything else.
_PIECE = re.compile(r'"[^"\n]*"|#.*|[^"#]+|"')
_STARTS_STATEMENT = re.compile(r"(input\s|train\s*\{|search\s*\{|block\s+[A-Za-z_])")
_CONTINUES_AFTER = ("->", "+", "|", "(")
_CONTINUES_BEFORE = re.compile(r"(->|\+(?![0-9.])|\||\))")


@dataclass(frozen=True)
class Statement:
    """Lines `first` to `last` (0-based, inclusive) of the text, and what the statement opens with."""

    first: int
    last: int
    keyword: str  # "input", "train", "search", "block" or "" (a pipeline, or something broken)


def code_of(line: str) -> str:
    """A line without its comment (a '#' inside a quoted value is kept), stripped of what the grammar ignores
    (spaces, tabs, carriage returns) and nothing more: other whitespace, such as a no-break space, is a syntax
    error to the parser, and the line must reach it."""
    kept = []
    for piece in _PIECE.findall(line):
        if piece.startswith("#"):
            break
        kept.append(piece)
    return "".join(kept).strip(" \t\r")


def _brace_change(code: str, depth: int) -> int:
    """The brace depth after a line's code, quoted values skipped; a '}' with none open is ignored."""
    for piece in _PIECE.findall(code):
        if piece.startswith('"') and len(piece) > 1:
            continue
        for char in piece:
            if char == "{":
                depth += 1
            elif char == "}" and depth > 0:
                depth -= 1
    return depth


def split_statements(text: str) -> list[Statement]:
    """The top-level statements of spec text, in order, as line ranges (lines split at '\\n' only, as Lark
    counts them)."""
    statements: list[Statement] = []
    first = last = None
    depth = 0
    continues = False
    keyword = ""
    for number, line in enumerate(text.split("\n")):
        code = code_of(line)
        if not code:
            continue
        opens = _STARTS_STATEMENT.match(code)
        joined = first is not None and not opens and (
            depth > 0 or continues or _CONTINUES_BEFORE.match(code)
        )
        if not joined:
            if first is not None:
                statements.append(Statement(first, last, keyword))
            first, depth = number, 0
            keyword = opens.group().split()[0].rstrip("{") if opens else ""
        last = number
        depth = _brace_change(code, depth)
        continues = code.endswith(_CONTINUES_AFTER)
    if first is not None:
        statements.append(Statement(first, last, keyword))
    return statements


def parse_statements(text: str, filename: str = "<spec>", max_errors: int | None = None,
                     ) -> tuple[Tree, list[SpecSyntaxError]]:
    """Parse the statements on their own -> (a tree of the statements that parse, as parse() would give them,
    with their real positions; the syntax error of each statement that does not), stopping after
    `max_errors` errors.

    Runs of statements are parsed together and split where they fail (a parse stops at its first error), so
    a long spec with a few errors costs a few parses of it, not one per statement."""
    lines = text.split("\n")
    statements = split_statements(text)
    children: list[Tree] = []
    errors: list[SpecSyntaxError] = []
    runs = [(0, len(statements))] if statements else []  # a stack: the first run in the text on top
    while runs and (max_errors is None or len(errors) < max_errors):
        low, high = runs.pop()
        first, last = statements[low].first, statements[high - 1].last
        try:
            tree = parse("\n".join(lines[first : last + 1]) + "\n", filename)
        except SpecSyntaxError as err:
            if high - low > 1:
                runs += _split_at(statements, low, high, first + (err.line or 1) - 1)
                continue
            if err.line is not None:
                err.line += first
            err.source_line = None
            errors.append(err.with_source(text))
            continue
        _shift_lines(tree, first)
        children += tree.children
    return Tree("start", children), errors


def _split_at(statements: list[Statement], low: int, high: int, line: int) -> list[tuple[int, int]]:
    """A failed run of statements low..high-1 split around the statement holding the error's line (0-based):
    the statements before it (which an LALR parse read without error), it alone, the rest; or in halves when
    the line is in none of them. In the order of a stack: the first run last."""
    bad = next((index for index in range(low, high) if statements[index].first <= line <= statements[index].last),
               None)
    if bad is None:
        middle = (low + high) // 2
        return [(middle, high), (low, middle)]
    return [run for run in ((bad + 1, high), (bad, bad + 1), (low, bad)) if run[0] < run[1]]


def _shift_lines(tree: Tree, offset: int) -> None:
    """Move every position in a parse tree `offset` lines down."""
    if offset == 0:
        return
    for subtree in tree.iter_subtrees():
        meta = subtree.meta
        if not getattr(meta, "empty", True):
            meta.line += offset
            meta.end_line += offset
        for child in subtree.children:
            if isinstance(child, Token):
                if child.line is not None:
                    child.line += offset
                if child.end_line is not None:
                    child.end_line += offset
