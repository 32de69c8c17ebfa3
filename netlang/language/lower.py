"""Stage 2, lower: Lark parse tree -> IR dict (groups expanded, layers named, arguments matched to signatures).

The result is plain JSON data in the shape docs/ir.md describes, not yet validated or shape-inferred.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from lark import Token, Tree

from netlang.errors import SpecSyntaxError, did_you_mean
from netlang.language.trainfields import field_schemas, lower_setting
from netlang.ops import OPS, Arg, Op

IR_VERSION = 1
_INTEGER = re.compile(r"[+-]?[0-9]+$")


def pos_of(token: Token) -> dict[str, int]:
    """The IR position of a token: 1-based line and column, and its width for the caret."""
    return {"line": token.line, "col": token.column, "span": max(1, len(str(token).rstrip()))}


def lower(tree: Tree, filename: str = "<spec>") -> dict[str, Any]:
    """Turn a parse tree into an IR dict; raises SpecSyntaxError for misplaced statements and bad arguments."""
    lowering = _Lowering(filename)
    for statement in tree.children:
        lowering.statement(statement)
    return lowering.finish()


class _Lowering:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.input: dict[str, Any] | None = None
        self.layers: list[dict[str, Any]] = []
        self.train: dict[str, Any] | None = None
        self.search: dict[str, Any] | None = None
        self.counters: Counter[str] = Counter()
        self.names: dict[str, dict[str, int]] = {}

    def error(self, message: str, token: Token | Tree | dict[str, int]) -> SpecSyntaxError:
        if isinstance(token, Tree):
            pos = {"line": token.meta.line, "col": token.meta.column, "span": 1}
        else:
            pos = token if isinstance(token, dict) else pos_of(token)
        return SpecSyntaxError(message).at(pos, self.filename)

    def statement(self, node: Tree) -> None:
        if node.data == "input":
            self.input_statement(node.children[0])
        elif node.data == "pipeline":
            if self.input is None:
                raise self.error("the spec must start with 'input', like: input 1x28x28", node)
            self.pipeline(node, prefix="", repeat_suffix="")
        elif node.data == "train_section":
            self.train_section(node)
        else:
            self.search_section(node)

    def input_statement(self, dims: Token) -> None:
        if self.input is not None:
            raise self.error(f"a second 'input' line; the first is on line {self.input['pos']['line']}", dims)
        if self.layers:
            raise self.error("'input' must come before the layers", dims)
        shape = [int(part) for part in re.split("[xX]", str(dims))]
        if len(shape) not in (1, 3):
            raise self.error(
                f"the input shape must be CxHxW (like 1x28x28) or a vector size (like 784); got {dims}", dims
            )
        self.input = {"shape": shape, "pos": pos_of(dims)}

    def pipeline(self, node: Tree, prefix: str, repeat_suffix: str) -> None:
        for stage in node.children:
            if isinstance(stage, Token):  # the arrows between stages
                continue
            if stage.data == "layer":
                self.layer(stage, prefix, repeat_suffix)
            else:
                self.group(stage, prefix, repeat_suffix)

    def group(self, node: Tree, prefix: str, repeat_suffix: str) -> None:
        label, body, repeat = node.children
        times = int(str(repeat)[1:].strip()) if repeat is not None else 1
        if times < 1:
            raise self.error(f"a group must repeat at least once; got * {times}", repeat)
        group_name = _label_name(label)
        for index in range(1, times + 1):
            inner_prefix, inner_suffix = prefix, repeat_suffix
            if group_name:
                inner_prefix = f"{prefix}{group_name}{repeat_suffix}{f'.{index}' if times > 1 else ''}."
                inner_suffix = ""
            elif times > 1:
                inner_suffix = f"{repeat_suffix}.{index}"
            self.pipeline(body, inner_prefix, inner_suffix)

    def layer(self, node: Tree, prefix: str, repeat_suffix: str) -> None:
        label, keyword, *arg_tokens = node.children
        op = OPS.get(str(keyword))
        if op is None:
            raise self.error(f"unknown layer '{keyword}'{did_you_mean(str(keyword), OPS)}", keyword)
        args, arg_pos = _match_signature(op, keyword, arg_tokens, self)
        self.counters[op.name] += 1
        if label is not None:
            name = f"{prefix}{_label_name(label)}{repeat_suffix}"
        else:
            name = f"{prefix}{op.name}{self.counters[op.name]}"
        if name in self.names:
            first = self.names[name]
            raise self.error(
                f"the layer name '{name}' is already used on line {first['line']}; names must be unique",
                label if label is not None else keyword,
            )
        pos = pos_of(keyword)
        self.names[name] = pos
        layer = {"name": name, "op": op.name, "args": args, "pos": pos}
        if arg_pos:
            layer["arg_pos"] = arg_pos
        self.layers.append(layer)

    def train_section(self, node: Tree) -> None:
        if self.train is not None:
            raise self.error("a second 'train' section; merge it into the first", node)
        self.train = {}
        for setting in node.children:
            key, value = setting.children
            if str(key) in self.train:
                first = self.train[str(key)]["pos"]["line"]
                raise self.error(f"'{key}' is set twice in the training section (first on line {first})", key)
            self.train[str(key)] = lower_setting(key, value, self.filename)

    def search_section(self, node: Tree) -> None:
        if self.search is not None:
            raise self.error("a second 'search' section; merge it into the first", node)
        self.search = {}
        fields = field_schemas()
        for setting in node.children:
            key, value = setting.children
            if str(key) not in fields:
                raise self.error(f"unknown training field '{key}'{did_you_mean(str(key), fields)}", key)
            if str(key) in self.search:
                first = self.search[str(key)]["pos"]["line"]
                raise self.error(f"'{key}' has two ranges in the search section (first on line {first})", key)
            self.search[str(key)] = {"value": str(value).strip('"'), "pos": pos_of(value)}

    def finish(self) -> dict[str, Any]:
        if self.input is None:
            raise SpecSyntaxError("the spec has no 'input' line, like: input 1x28x28").at(
                {"line": 1, "col": 1}, self.filename
            )
        if not self.layers:
            raise SpecSyntaxError("the spec has no layers after 'input'").at(self.input["pos"], self.filename)
        ir: dict[str, Any] = {
            "netlang": IR_VERSION,
            "source": self.filename,
            "input": self.input,
            "layers": self.layers,
        }
        if self.train is not None:
            ir["train"] = self.train
        if self.search is not None:
            ir["search"] = self.search
        return ir


def _label_name(label: Token | None) -> str:
    return str(label).rstrip(": \t") if label is not None else ""


def _match_signature(
    op: Op, keyword: Token, tokens: list[Token], lowering: _Lowering
) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Match a layer's argument tokens against its signature -> (args with defaults, where each was written)."""
    args: dict[str, Any] = {}
    arg_pos: dict[str, dict[str, int]] = {}
    index = 0
    skipped: list[Arg] = []
    for arg in op.positional:
        token = tokens[index] if index < len(tokens) else None
        if token is not None and _fits(arg, token):
            args[arg.name] = _convert(arg, token)
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
                raise lowering.error(f"expected {wanted} after '{said}'", _after(last))
            hint = did_you_mean(str(token), [c for a in skipped for c in a.choices]) if token.type == "WORD" else ""
            raise lowering.error(f"expected {wanted} after '{said}', got '{token}'{hint}", token)
    options = {arg.name: arg for arg in op.options}
    while index < len(tokens):
        token = tokens[index]
        said = " ".join(str(t) for t in [keyword, *tokens[:index]])
        option = options.get(str(token)) if token.type == "WORD" else None
        if option is None:
            raise lowering.error(_unexpected_argument(op, token, said), token)
        if option.name in args:
            raise lowering.error(f"'{option.name}' is given twice for '{op.name}'", token)
        value = tokens[index + 1] if index + 1 < len(tokens) else None
        if value is None or not _fits(option, value):
            got = f", got '{value}'" if value is not None else ""
            raise lowering.error(f"expected {_describe(option)} after '{token}'{got}", value or _after(token))
        args[option.name] = _convert(option, value)
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


def _convert(arg: Arg, token: Token) -> Any:
    text = str(token)
    if arg.kind == "int":
        return int(text)
    if arg.kind == "real":
        return float(text)
    if arg.kind == "size":
        parts = [int(part) for part in re.split("[xX]", text)]
        return parts * 2 if len(parts) == 1 else parts
    return text
