"""A layer's argument tokens matched against its op's signature (netlang/ops): positional arguments, then
`option value` pairs, with defaults filled in; errors say what was expected where."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark import Token

from netlang.errors import SpecSyntaxError, did_you_mean
from netlang.limits import MAX_NUMBER_DIGITS
from netlang.ops import OPS, Arg, Op

_INTEGER = re.compile(r"[+-]?[0-9]+$")

Error = Callable[[str, Any], SpecSyntaxError]


def pos_of(token: Token) -> dict[str, int]:
    """The IR position of a token: 1-based line and column, and its width for the caret."""
    return {"line": token.line, "col": token.column, "span": max(1, len(str(token).rstrip()))}


def match_signature(
    op: Op, keyword: Token, tokens: list[Token], error: Error
) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Match a layer's argument tokens against its signature -> (args with defaults, where each was written)."""
    args: dict[str, Any] = {}
    arg_pos: dict[str, dict[str, int]] = {}
    index = 0
    skipped: list[Arg] = []
    for arg in op.positional:
        token = tokens[index] if index < len(tokens) else None
        if token is not None and _fits(arg, token):
            args[arg.name] = _convert(arg, token, args, error)
            arg_pos[arg.name] = pos_of(token)
            index += 1
            skipped.clear()
        elif not arg.required:
            args[arg.name] = arg.default_for(args)
            skipped.append(arg)
        else:
            wanted = " or ".join(_describe(a) for a in (*skipped, arg))
            said = " ".join(str(t) for t in [keyword, *tokens[:index]])
            if token is None:
                last = tokens[index - 1] if index else keyword
                raise error(f"expected {wanted} after '{said}'", _after(last))
            hint = did_you_mean(str(token), [c for a in skipped for c in a.choices]) if token.type == "WORD" else ""
            raise error(f"expected {wanted} after '{said}', got '{token}'{hint}", token)
    options = {arg.name: arg for arg in op.options}
    while index < len(tokens):
        token = tokens[index]
        said = " ".join(str(t) for t in [keyword, *tokens[:index]])
        option = options.get(str(token)) if token.type == "WORD" else None
        if option is None:
            raise error(_unexpected_argument(op, token, said), token)
        if option.name in args:
            raise error(f"'{option.name}' is given twice for '{op.name}'", token)
        value = tokens[index + 1] if index + 1 < len(tokens) else None
        if value is None or not _fits(option, value):
            got = f", got '{value}'" if value is not None else ""
            raise error(f"expected {_describe(option)} after '{token}'{got}", value or _after(token))
        args[option.name] = _convert(option, value, args, error)
        arg_pos[option.name] = pos_of(value)
        index += 2
    # Constant defaults first, then those computed from the other arguments (a pool's stride is its kernel).
    for option in sorted(op.options, key=lambda option: callable(option.default)):
        if option.name not in args and option.default is not None:
            args[option.name] = option.default_for(args)
    return args, arg_pos


def _unexpected_argument(op: Op, token: Token, said: str) -> str:
    if str(token) in {"input", "train", "search"}:
        return f"'{token}' must start a line of its own, before the layers (input) or after them (train, search)"
    if token.type == "WORD" and str(token) in OPS:
        return f"'{token}' is a layer of its own: join layers with '->', as in '{said} -> {token}'"
    takes = ", ".join(f"{a.name} {a.kind.upper()}" for a in op.options)
    if token.type == "WORD":
        hint = did_you_mean(str(token), [a.name for a in op.options])
        if hint:
            return f"unknown option '{token}' for '{op.name}'{hint}"
        return f"unknown option '{token}' for '{op.name}'" + (f"; it takes: {takes}" if takes else "")
    if not op.positional and not op.options:
        return f"'{op.name}' takes no arguments; got '{token}' after '{said}'"
    return f"unexpected '{token}' after '{said}'" + (f"; '{op.name}' takes options: {takes}" if takes else "")


def _describe(arg: Arg) -> str:
    if arg.kind == "choice":
        return f"{arg.what} ({' or '.join(arg.choices)})"
    return arg.what


def _after(token: Token) -> dict[str, int]:
    return {"line": token.end_line or token.line, "col": token.end_column or token.column + 1, "span": 1}


def _fits(arg: Arg, token: Token) -> bool:
    text = str(token)
    if arg.accepts_word(token.type, text):  # `pad same`
        return True
    if arg.kind == "int":
        return token.type in {"DIMS", "NUMBER"} and bool(_INTEGER.match(text))
    if arg.kind == "real":
        return token.type in {"DIMS", "NUMBER"} and "x" not in text.lower()
    if arg.kind == "size":
        return (token.type == "DIMS" and len(re.split("[xX]", text)) <= 2) or (
            token.type == "NUMBER" and bool(_INTEGER.match(text))
        )
    if arg.kind == "choice":
        return token.type == "WORD" and text in arg.choices
    return token.type == "WORD"


def _convert(arg: Arg, token: Token, args: dict[str, Any], error: Error) -> Any:
    text = str(token)
    if arg.accepts_word(token.type, text):  # the word's value follows from the arguments matched so far
        try:
            return arg.word_value(text, args)
        except SpecSyntaxError as err:
            raise error(err.message, token) from None
    if arg.kind in {"int", "size"} and max(map(len, re.split("[xX+-]", text))) > MAX_NUMBER_DIGITS:
        raise error(f"a number of more than {MAX_NUMBER_DIGITS} digits; no size or count needs one", token)
    if arg.kind == "int":
        return int(text)
    if arg.kind == "real":
        return float(text)
    if arg.kind == "size":
        parts = [int(part) for part in re.split("[xX]", text)]
        return parts * 2 if len(parts) == 1 else parts
    return text
