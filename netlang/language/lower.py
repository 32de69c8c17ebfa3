"""Stage 2, lower: Lark parse tree -> IR dict: groups and block uses expanded, branches wired into a graph,
layers named, arguments matched to signatures.

Every layer names its `inputs` ("input" is the network's input), and layers come in a topological order. A
branch group `(a + b)` or `(a | b)` becomes its branches' layers, each branch reading the group's input, and a
merge layer (`add`, `concat`) reading the branches' ends; a branch that is just `identity` reads the group's
input directly. Layers record the groups they are in (`scope`, outermost first) for the report; a branch
group is known by its merge layer's name, and the merge layer is in it.

The number of layers a group or block use would make is counted before it is expanded, so a repeat such as
`(affine 10) * 99999999999` is refused at once (netlang/limits.py: MAX_LAYERS, MAX_NESTING).

The result is plain JSON data in the shape docs/ir.md describes, not yet validated or shape-inferred.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from lark import Token, Tree

from netlang.errors import SpecSyntaxError, did_you_mean
from netlang.language.parser import join_position
from netlang.language.signature import match_signature, pos_of
from netlang.language.trainfields import field_schemas, lower_setting
from netlang.limits import MAX_LAYERS_VARIABLE, MAX_NESTING, MAX_NUMBER_DIGITS, max_layers, raise_hint
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

IR_VERSION = 2
_MERGE_OPS = {"PLUS": "add", "BAR": "concat"}


@dataclass(frozen=True)
class _Scope:
    """Where a layer is being lowered: the name prefix and repeat suffix of its groups, the groups it is in,
    and the arguments of the block use it comes from (parameter name -> the token passed)."""

    prefix: str = ""
    suffix: str = ""
    groups: tuple[str, ...] = ()
    bindings: tuple[tuple[str, Token], ...] = ()
    blocks: tuple[str, ...] = ()  # the block uses being expanded, outermost first (to refuse recursion)
    depth: int = 0  # groups and block uses open around the layer: lowering recurses this deep


@dataclass
class _Block:
    name: Token
    params: list[Token]
    body: list[Tree]
    used: bool = False


def lower(tree: Tree, filename: str = "<spec>") -> dict[str, Any]:
    """Turn a parse tree into an IR dict; raises SpecSyntaxError for misplaced statements and bad arguments."""
    lowering = _Lowering(filename)
    statements = [node for node in tree.children if node.data != "block_def"]
    for node in tree.children:
        if node.data == "block_def":
            lowering.define_block(node)
    for statement in statements:
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
        self.blocks: dict[str, _Block] = {}
        self.current = NETWORK_INPUT  # the value the next top-level pipeline continues from
        self.max_layers = max_layers()
        self.block_sizes: dict[tuple, int] = {}  # (block, its arguments) -> the layers one use makes

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
            self.current = self.pipeline(node, _Scope(), self.current)
        elif node.data == "train_section":
            self.train_section(node)
        else:
            self.search_section(node)

    def input_statement(self, dims: Token) -> None:
        if self.input is not None:
            raise self.error(f"a second 'input' line; the first is on line {self.input['pos']['line']}", dims)
        if self.layers:
            raise self.error("'input' must come before the layers", dims)
        shape = [self.whole_number(part, dims) for part in re.split("[xX]", str(dims))]
        if len(shape) not in (1, 3):
            raise self.error(
                f"the input shape must be CxHxW (like 1x28x28) or a vector size (like 784); got {dims}", dims
            )
        self.input = {"shape": shape, "pos": pos_of(dims)}

    # The network: pipelines, groups, branches, layers and block uses. Each returns the name of the value it
    # ends with, which the next stage reads.

    def pipeline(self, node: Tree, scope: _Scope, source: str) -> str:
        current = source
        for stage in node.children:
            if isinstance(stage, Token):  # the arrows between stages
                continue
            if stage.data == "layer":
                current = self.layer(stage, scope, current)
            else:
                current = self.group(stage, scope, current)
        return current

    def group(self, node: Tree, scope: _Scope, source: str) -> str:
        label, branches, repeat = node.children
        times = self.whole_number(str(repeat)[1:].strip(), repeat) if repeat is not None else 1
        if times < 1:
            raise self.error(f"a group must repeat at least once; got * {times}", repeat)
        self.check_depth(scope, node)
        self.check_room(times * self.count_branches(branches, scope, scope.depth + 1), repeat or node, "this group")
        group_name = _label_name(label)
        current = source
        for index in range(1, times + 1):
            inner = replace(scope, depth=scope.depth + 1)
            if group_name:
                path = f"{scope.prefix}{group_name}{scope.suffix}{f'.{index}' if times > 1 else ''}"
                inner = replace(inner, prefix=f"{path}.", suffix="", groups=(*scope.groups, path))
            elif times > 1:
                inner = replace(inner, suffix=f"{scope.suffix}.{index}")
            current = self.branches(branches, node, inner, current)
        return current

    def branches(self, node: Tree, group: Tree, scope: _Scope, source: str) -> str:
        pipelines = [child for child in node.children if isinstance(child, Tree)]
        joins = [child for child in node.children if isinstance(child, Token)]
        if not joins:
            return self.pipeline(pipelines[0], scope, source)
        mixed = next((join for join in joins if join.type != joins[0].type), None)
        if mixed is not None:
            raise self.error(
                "one group mixes '+' (sum) and '|' (concatenation); put parentheses around the branches that "
                "go together, like ((a + b) | c) or ((a | b) + c)",
                join_position(mixed),
            )
        op = OPS[_MERGE_OPS[joins[0].type]]
        self.counters[op.name] += 1
        name = f"{scope.prefix}{op.name}{self.counters[op.name]}"
        inner = replace(scope, groups=(*scope.groups, name))
        ends = [source if _is_identity(branch) else self.pipeline(branch, inner, source) for branch in pipelines]
        pos = {"line": group.meta.line, "col": group.meta.column, "span": 1}
        return self.add_layer(name, op.name, {}, ends, pos, inner, first_pos=pos)

    def layer(self, node: Tree, scope: _Scope, source: str) -> str:
        label, keyword, *arg_tokens = node.children
        keyword, arg_tokens = self.substitute(keyword, scope), [self.substitute(t, scope) for t in arg_tokens]
        if str(keyword) in self.blocks:
            return self.use_block(label, keyword, arg_tokens, scope, source)
        op = OPS.get(str(keyword))
        if op is None or op.merge:
            known = [name for name, candidate in OPS.items() if not candidate.merge] + list(self.blocks)
            if op is not None:
                joined = "+" if op.name == "add" else "|"
                raise self.error(f"'{op.name}' is written as '{joined}' between branches in parentheses, "
                                 f"like (conv 16 3x3 pad 1 {joined} identity)", keyword)
            raise self.error(f"unknown layer '{keyword}'{did_you_mean(str(keyword), known)}", keyword)
        args, arg_pos = match_signature(op, keyword, arg_tokens, self.error)
        self.counters[op.name] += 1
        if label is not None:
            name = f"{scope.prefix}{_label_name(label)}{scope.suffix}"
        else:
            name = f"{scope.prefix}{op.name}{self.counters[op.name]}"
        return self.add_layer(name, op.name, args, [source], pos_of(keyword), scope, arg_pos, label or keyword)

    def add_layer(
        self,
        name: str,
        op: str,
        args: dict[str, Any],
        inputs: list[str],
        pos: dict[str, int],
        scope: _Scope,
        arg_pos: dict[str, dict[str, int]] | None = None,
        first_pos: Token | dict[str, int] | None = None,
    ) -> str:
        self.check_room(1, pos, "this layer")
        if name in self.names:
            first = self.names[name]
            raise self.error(
                f"the layer name '{name}' is already used on line {first['line']}; names must be unique",
                first_pos if first_pos is not None else pos,
            )
        self.names[name] = pos
        layer: dict[str, Any] = {"name": name, "op": op, "args": args, "inputs": inputs, "pos": pos}
        if arg_pos:
            layer["arg_pos"] = arg_pos
        if scope.groups:
            layer["scope"] = list(scope.groups)
        self.layers.append(layer)
        return name

    # Blocks: `block NAME PARAM... { pipeline lines }`, used like a layer: `NAME ARG...`.

    def define_block(self, node: Tree) -> None:
        name, *params = [child for child in node.children if isinstance(child, Token)]
        body = [child for child in node.children if isinstance(child, Tree)]
        if str(name) in OPS:
            raise self.error(f"'{name}' is a layer of netlang's; give the block another name", name)
        if str(name) in self.blocks:
            first = self.blocks[str(name)].name.line
            raise self.error(f"the block '{name}' is defined twice (first on line {first})", name)
        seen: set[str] = set()
        for param in params:
            if str(param) in OPS:
                raise self.error(f"the parameter '{param}' of block '{name}' is a layer's name; rename it", param)
            if str(param) in seen:
                raise self.error(f"block '{name}' names its parameter '{param}' twice", param)
            seen.add(str(param))
        if not body:
            raise self.error(f"the block '{name}' has no layers between its braces", name)
        self.blocks[str(name)] = _Block(name, params, body)

    def use_block(self, label: Token | None, keyword: Token, args: list[Token], scope: _Scope, source: str) -> str:
        block = self.blocks[str(keyword)]
        block.used = True
        if str(keyword) in scope.blocks:
            chain = " -> ".join((*scope.blocks[scope.blocks.index(str(keyword)) :], str(keyword)))
            raise self.error(f"the block '{keyword}' uses itself ({chain}); blocks cannot recurse", keyword)
        if len(args) != len(block.params):
            wanted = " ".join(str(param) for param in block.params)
            got = " ".join(str(arg) for arg in args) or "none"
            raise self.error(
                f"block '{keyword}' takes {len(block.params)} argument{'s' if len(block.params) != 1 else ''}"
                f"{f' ({wanted})' if wanted else ''}, got {len(args)} ({got})",
                args[len(block.params)] if len(args) > len(block.params) else keyword,
            )
        self.check_depth(scope, keyword)
        self.check_room(self.count_block(block, args, scope, scope.depth + 1), keyword, f"this use of '{keyword}'")
        self.counters[str(keyword)] += 1
        use = f"{scope.prefix}{_label_name(label)}{scope.suffix}" if label else (
            f"{scope.prefix}{keyword}{self.counters[str(keyword)]}")
        if use in self.names:
            raise self.error(f"the name '{use}' is already used on line {self.names[use]['line']}", label or keyword)
        self.names[use] = pos_of(keyword)
        inner = _Scope(
            prefix=f"{use}.",
            groups=(*scope.groups, use),
            bindings=tuple(zip((str(param) for param in block.params), args, strict=True)),
            blocks=(*scope.blocks, str(keyword)),
            depth=scope.depth + 1,
        )
        current = source
        for pipeline in block.body:
            current = self.pipeline(pipeline, inner, current)
        return current

    # Counting the layers a group or block use would make, without making them.

    def check_room(self, adding: int, where: Token | Tree | dict[str, int], what: str) -> None:
        """Refuse `adding` more layers when the network would pass max_layers(), before making any."""
        total = len(self.layers) + adding
        if total > self.max_layers:
            made = f"{adding:,}" if adding < 10**15 else f"about 10^{len(str(adding)) - 1}"
            hint = raise_hint(MAX_LAYERS_VARIABLE)
            if adding == 1:
                raise self.error(f"the network passes {self.max_layers:,} layers here, its limit ({hint})", where)
            raise self.error(  # counting stops once past the limit: `adding` is at least what it would make
                f"{what} would make {made} layers or more, and a network may have at most {self.max_layers:,} "
                f"({hint})",
                where,
            )

    def check_depth(self, scope: _Scope, where: Token | Tree) -> None:
        if scope.depth >= MAX_NESTING:
            raise self.error(
                f"groups and block uses nest more than {MAX_NESTING} deep here; netlang's limit is {MAX_NESTING}",
                where,
            )

    # Each count_* takes the depth the lowering would be at, and stops counting past MAX_NESTING (where the
    # lowering refuses the spec), so counting recurses no deeper than lowering.

    def count_pipeline(self, node: Tree, scope: _Scope, depth: int) -> int:
        total = 0
        for stage in node.children:
            if isinstance(stage, Token):
                continue
            if stage.data == "layer":
                total += self.count_layer(stage, scope, depth)
            elif depth < MAX_NESTING:
                _, branches, repeat = stage.children
                times = self.whole_number(str(repeat)[1:].strip(), repeat) if repeat is not None else 1
                total += max(times, 0) * self.count_branches(branches, scope, depth + 1)
            if total > self.max_layers:  # enough to refuse; stop before the numbers grow without bound
                return total
        return total

    def count_branches(self, node: Tree, scope: _Scope, depth: int) -> int:
        pipelines = [child for child in node.children if isinstance(child, Tree)]
        merge = 1 if len(pipelines) > 1 else 0
        return merge + sum(0 if merge and _is_identity(branch) else self.count_pipeline(branch, scope, depth)
                           for branch in pipelines)

    def count_layer(self, node: Tree, scope: _Scope, depth: int) -> int:
        _, keyword, *arg_tokens = node.children
        keyword = self.substitute(keyword, scope)
        block = self.blocks.get(str(keyword))
        if block is None:
            return 1
        if str(keyword) in scope.blocks or depth >= MAX_NESTING:
            return 1  # lowering refuses it, where it knows the chain of uses
        args = [self.substitute(token, scope) for token in arg_tokens]
        return self.count_block(block, args, scope, depth + 1)

    def count_block(self, block: _Block, args: list[Token], scope: _Scope, depth: int) -> int:
        """The layers one use of a block makes with these arguments (remembered: uses of uses multiply)."""
        key = (str(block.name), tuple(str(arg) for arg in args))
        if key not in self.block_sizes:
            inner = _Scope(
                bindings=tuple(zip((str(param) for param in block.params), args, strict=False)),
                blocks=(*scope.blocks, str(block.name)),
            )
            self.block_sizes[key] = sum(self.count_pipeline(pipeline, inner, depth) for pipeline in block.body)
        return self.block_sizes[key]

    def whole_number(self, text: str, token: Token | Tree | None) -> int:
        """A whole number written in the spec; refused past MAX_NUMBER_DIGITS digits."""
        if len(text.lstrip("+-")) > MAX_NUMBER_DIGITS:
            raise self.error(f"a number of more than {MAX_NUMBER_DIGITS} digits; no size or count needs one", token)
        return int(text)

    def substitute(self, token: Token, scope: _Scope) -> Token:
        """A block parameter's argument in place of the parameter, written where the block is used."""
        if isinstance(token, Token) and token.type == "WORD":
            for name, value in scope.bindings:
                if str(token) == name:
                    return value
        return token

    def train_section(self, node: Tree) -> None:
        if self.train is not None:
            raise self.error("a second 'train' section; merge it into the first", node)
        self.train = {}
        for setting in node.children:
            self.train_setting(*setting.children)

    def train_setting(self, key: Token, value: Token) -> None:
        if str(key) in self.train:
            first = self.train[str(key)]["pos"]["line"]
            raise self.error(f"'{key}' is set twice in the training section (first on line {first})", key)
        self.train[str(key)] = lower_setting(key, value, self.filename)

    def search_section(self, node: Tree) -> None:
        if self.search is not None:
            raise self.error("a second 'search' section; merge it into the first", node)
        self.search = {}
        for setting in node.children:
            self.search_setting(*setting.children)

    def search_setting(self, key: Token, value: Token) -> None:
        fields = field_schemas()
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
        unused = next((block for block in self.blocks.values() if not block.used), None)
        if unused is not None:
            raise self.error(f"the block '{unused.name}' is defined but never used", unused.name)
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


def _is_identity(branch: Tree) -> bool:
    """Whether a branch is the skip connection: one unnamed `identity` layer."""
    stages = [stage for stage in branch.children if isinstance(stage, Tree)]
    if len(stages) != 1 or stages[0].data != "layer":
        return False
    label, keyword, *args = stages[0].children
    return label is None and str(keyword) == "identity" and not args
