"""Stage 1, parse: spec text -> Lark parse tree, with Lark's errors translated into the spec's own terms."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netlang.errors import SpecSyntaxError
from netlang.limits import MAX_NESTING

# What the nesting scan looks at: comments and quoted values (skipped whole), and the brackets.
_BRACKET = re.compile(r'#[^\n]*|"[^"\n]*"|[(){}]')

# What each terminal is, in words a user knows.
_TERMINAL_WORDS = {
    "ARROW": "'->'",
    "PLUS": "'+'",
    "BAR": "'|'",
    "BLOCK": "'block'",
    "_NL": "a line break",
    "WORD": "a layer name",
    "DIMS": "a size (like 1x28x28 or 784)",
    "NUMBER": "a number",
    "LABEL": "a name followed by ':'",
    "LPAR": "'('",
    "RPAR": "')'",
    "REPEAT": "a repeat count like '* 2'",
    "VALUE": "a value",
    "INPUT": "'input'",
    "TRAIN": "'train'",
    "SEARCH": "'search'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "$END": "the end of the file",
}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "grammar" / "netlang.lark", package.parent / "grammar" / "netlang.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("netlang's grammar file netlang.lark is missing from the installation")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse(text: str, filename: str = "<spec>") -> Tree:
    """Parse spec text into a Lark tree; raises SpecSyntaxError located at the offending spot."""
    if not text.endswith("\n"):
        text += "\n"
    check_nesting(text, filename)
    try:
        return _parser().parse(text)
    except UnexpectedInput as err:
        raise _translate(err, text, filename) from None


def check_nesting(text: str, filename: str = "<spec>") -> None:
    """Refuse parentheses and braces open more than MAX_NESTING deep, at the one that opens too many, before
    the parse tree and the passes that walk it recursively are built."""
    depth = 0
    for match in _BRACKET.finditer(text):
        bracket = match.group()
        if bracket in "({":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, match.start()) + 1
                col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                raise SpecSyntaxError(
                    f"groups nest more than {MAX_NESTING} deep here; netlang's limit is {MAX_NESTING}",
                    file=filename, line=line, col=col,
                ).with_source(text)
        elif bracket in ")}":
            depth = max(0, depth - 1)


def _translate(err: UnexpectedInput, text: str, filename: str) -> SpecSyntaxError:
    line, col = err.line, err.column
    if isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        message = _unexpected_character(char, err.allowed or set())
        span = 1
    elif isinstance(err, UnexpectedToken):
        message, span = _unexpected_token(err)
        if err.token.type == "$END":
            line, col = _end_position(text)
        elif err.token.type in {"PLUS", "BAR"}:  # the token took in the spaces and line breaks around it
            where = join_position(err.token)
            line, col, span = where["line"], where["col"], 1
    elif isinstance(err, UnexpectedEOF):
        message, span = "the spec ended too early", 1
        line, col = _end_position(text)
    else:  # pragma: no cover - Lark has no other kinds today
        message, span = str(err).splitlines()[0], 1
    error = SpecSyntaxError(message, file=filename, line=line, col=col, span=span)
    return error.with_source(text)


def _unexpected_character(char: str, allowed: set[str]) -> str:
    if char == "-" and "ARROW" in allowed:
        return "expected '->' between layers"
    if char in "=>" and "ARROW" in allowed:
        return f"unexpected '{char}': layers are joined with '->'"
    if char == "(":
        return "'(' may only start a group of layers, like (conv 16 3x3 -> relu) * 2"
    if char == ")":
        return "unmatched ')': no group is open here"
    if char == "{":
        return "'{' may only open the training section: train { ... }"
    if char == "}":
        return "unmatched '}': no training section is open here"
    if char == ":":
        return "a name before ':' must start with a letter and be followed by a layer, like c1: conv 30 5x5"
    if char == "*":
        return "a repeat count ('* 2') may only follow a group in parentheses"
    shown = repr(char) if char.strip() else "whitespace"
    expected = _expected_words(allowed)
    return f"unexpected character {shown}" + (f"; expected {expected}" if expected else "")


def _unexpected_token(err: UnexpectedToken) -> tuple[str, int]:
    token = err.token
    previous = _previous_token(err)
    expected = set(err.expected)
    got = {"$END": "the end of the file", "_NL": "the end of the line"}.get(token.type, f"'{token}'")
    span = max(1, len(str(token))) if token.type != "$END" else 1
    if previous is not None and previous.type == "INPUT":
        return f"expected the input shape after 'input' (like 1x28x28 or 784), got {got}", span
    if token.type == "INPUT":
        return "'input' must come first, once, on a line of its own", span
    if token.type in {"TRAIN", "SEARCH"}:
        return f"the section '{token} {{ ... }}' must start on a line of its own", span
    if previous is not None and previous.type == "ARROW":
        if token.type in {"_NL", "$END"}:
            return "expected a layer after '->'", 1
        return f"expected a layer after '->', got {got}", span
    if previous is not None and previous.type in {"PLUS", "BAR"}:
        join = str(previous).strip()
        return f"expected a branch after '{join}', like (conv 16 3x3 pad 1 {join} identity), got {got}", span
    if token.type in {"PLUS", "BAR"}:
        join = str(token).strip()
        return (f"'{join}' joins branches inside parentheses, like (conv 16 3x3 pad 1 {join} identity)",
                1 if "\n" in str(token) else span)
    if previous is not None and previous.type == "BLOCK":
        return f"expected the block's name after 'block', like: block basic C {{ ... }}; got {got}", span
    if "ARROW" in expected and str(token) in {"=>", ">", "-", "→", "=", "->>"}:
        return f"unexpected '{token}': layers are joined with '->'", span
    if expected == {"VALUE"}:
        return f"expected a value after '{previous}'", span
    if token.type == "REPEAT" or str(token).startswith("*"):
        return "a repeat count ('* 2') may only follow a group in parentheses", span
    if token.type == "RPAR":
        return "unmatched ')': no group is open here", span
    if token.type == "$END" and "RPAR" in expected:
        return "a group '(' is never closed: expected ')'", 1
    if token.type == "$END" and "RBRACE" in expected:
        return "a 'train' or 'search' section is never closed, or a block's braces: expected '}'", 1
    if token.type == "ARROW":
        if previous is None or previous.type in {"_NL", "LPAR"}:
            return "expected a layer before '->'", span
        return "expected a layer between '->' and '->'", span
    if token.type == "VALUE":  # a stray character, lexed by the fallback lexer as a value
        return f"unexpected character '{str(token)[0]}'; expected {_expected_words(expected)}", 1
    if token.type == "LABEL":
        return f"a layer name like {str(token).rstrip(': ')!r} must be followed by a layer keyword", span
    return f"unexpected {got}; expected {_expected_words(expected)}", span


def _previous_token(err: UnexpectedToken) -> Token | None:
    state = getattr(err, "state", None)
    stack = getattr(state, "value_stack", None) or []
    for value in reversed(stack):
        leaf = _last_leaf(value)
        if leaf is not None:
            return leaf
    return None


def _last_leaf(value: Tree | Token) -> Token | None:
    if isinstance(value, Token):
        return value
    for child in reversed(value.children):
        if child is not None:
            leaf = _last_leaf(child)
            if leaf is not None:
                return leaf
    return None


def _expected_words(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(name, name.lower()) for name in expected})
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").split("\n")
    return len(lines), len(lines[-1]) + 1


def join_position(token: Token) -> dict[str, int]:
    """The position of the '+' or '|' itself in a join token that swallowed line breaks around it."""
    text = str(token)
    offset = len(text) - len(text.lstrip())
    before = text[:offset]
    line = token.line + before.count("\n")
    col = (offset - before.rfind("\n")) if "\n" in before else token.column + offset
    return {"line": line, "col": col, "span": 1}
