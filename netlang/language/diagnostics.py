"""Every error of a spec, not only the first, and what can still be known about its network: the front end run
so that it goes on past each error (the editor's diagnostics and hovers, netlang/lsp).

    spec text --parse (runs of statements, split where they fail: statements.py)--> tree
              --lower, going on past a bad statement, group, layer, block or setting--> IR
              --validate (every schema problem; the layers it finds bad are left out)--> IR
              --connect_layers, check_last_only (the first problem of each), check_settings (on each
                init scheme, training field and the search section on its own)--> IR
              --infer, layer by layer (a layer that reads a failed one is skipped)--> layers with shapes

A spec this finds no error in is compiled by the compiler's own stages (compiler.py: SPEC_STAGES), so its IR
is exactly `netlang compile`'s. When the stages refuse a spec past parsing, their error is always among those
reported; a syntax error is told by its statement's own parse, which can word it (or place it) a little
differently from the parse of the whole file (tests/frontend/test_diagnostics.py checks both).

Lowering going on past errors is a subclass of lower.py's own _Lowering: the same code makes the IR, and the
subclass only decides what to do with each error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from lark import Token, Tree

from netlang.errors import NetlangError, SpecSyntaxError
from netlang.language.compiler import PASSES
from netlang.language.infer import annotate, infer
from netlang.language.lower import _Lowering
from netlang.language.rewrites import check_last_only, check_settings, check_sizes, connect_layers
from netlang.language.schema import schema_problems, validate
from netlang.language.statements import parse_statements
from netlang.limits import MAX_DIAGNOSTICS
from netlang.ops.base import NETWORK_INPUT


@dataclass
class Analysis:
    """What the front end found in a spec: its errors (in the order of their positions), the compiled IR when
    there are none, the layers lowering made (with shapes, parameters and MACs where inference reached them),
    the statements that parsed, and the layer names of block uses and named groups by where they are written."""

    errors: list[NetlangError]
    ir: dict[str, Any] | None
    layers: list[dict[str, Any]]
    tree: Tree
    groups: dict[tuple[int, int], str] = field(default_factory=dict)


class _TooMany(Exception):
    """MAX_DIAGNOSTICS errors were found: stop looking."""


def analyze(text: str, filename: str = "<spec>") -> Analysis:
    """Every error of spec text (at most MAX_DIAGNOSTICS), and the network as far as it could be made."""
    found = _Found()
    tree, syntax_errors = parse_statements(text, filename, MAX_DIAGNOSTICS)  # a valid spec: one parse, as parse()
    if len(syntax_errors) >= MAX_DIAGNOSTICS:
        return Analysis(syntax_errors, None, [], tree)
    for error in syntax_errors:
        found.add(error)
    groups: dict[tuple[int, int], str] = {}
    layers: list[dict[str, Any]] = []
    try:
        lowering = _RecoveringLowering(filename, found)
        groups = lowering.group_names
        ir = lowering.run(tree)
        if ir is not None and not found.errors:
            compiled = ir
            try:
                for stage in (validate, *PASSES):  # the compiler's own stages, after lower
                    compiled = stage(compiled, filename)
                return Analysis([], compiled, compiled["layers"], tree, groups)
            except NetlangError as err:
                found.add(err)
        layers = _check(ir, filename, found) if ir is not None else []
    except _TooMany:
        pass
    except NetlangError as err:  # not one statement's fault (a bad NETLANG_MAX_LAYERS setting)
        found.errors.append(err)
    return Analysis(found.sorted(), None, layers, tree, groups)


class _Found:
    """The errors found so far, each once (a bad layer in a block used twice is one error)."""

    def __init__(self) -> None:
        self.errors: list[NetlangError] = []
        self.seen: set[tuple] = set()

    def add(self, error: NetlangError) -> None:
        key = (error.line, error.col, error.message)
        if key in self.seen:
            return
        self.seen.add(key)
        self.errors.append(error)
        if len(self.errors) >= MAX_DIAGNOSTICS:
            raise _TooMany

    def sorted(self) -> list[NetlangError]:
        return sorted(self.errors, key=lambda error: (error.line or 0, error.col or 0))


class _RecoveringLowering(_Lowering):
    """Lowering that notes an error and goes on: a bad statement, group or layer is left out (the next stage
    reads what it would have read), a bad block definition or setting is skipped."""

    def __init__(self, filename: str, found: _Found) -> None:
        super().__init__(filename)
        self.found = found
        self.group_names: dict[tuple[int, int], str] = {}  # (line, col) of a block use or group label -> name
        self.missing_input_noted = False

    def run(self, tree: Tree) -> dict[str, Any] | None:
        """The IR of the statements that lower, or None when there is no network to make."""
        for node in tree.children:
            if node.data == "block_def":
                self.attempt(self.define_block, node)
        for node in tree.children:
            if node.data != "block_def":
                self.statement(node)
        for block in self.blocks.values():
            if not block.used:
                self.found.add(self.error(f"the block '{block.name}' is defined but never used", block.name))
                block.used = True
        try:
            return self.finish()
        except SpecSyntaxError as err:  # no input or no layers: news only when no error explains it
            if not self.found.errors:
                self.found.add(err)
            return None

    def attempt(self, method, *args) -> bool:
        """Call a lowering method; a SpecSyntaxError is noted, and what the call added undone."""
        layers, names = len(self.layers), len(self.names)
        try:
            method(*args)
            return True
        except SpecSyntaxError as err:
            self.found.add(err)
            if len(self.layers) >= self.max_layers:  # the network is full: every later layer would say so
                raise _TooMany from None
            del self.layers[layers:]
            for name in list(islice(self.names, names, None)) if len(self.names) > names else []:
                del self.names[name]
            return False

    def statement(self, node: Tree) -> None:
        if node.data == "pipeline" and self.input is None:
            if not self.missing_input_noted:  # once, not at every line of a spec without its input line
                self.missing_input_noted = True
                self.found.add(self.error("the spec must start with 'input', like: input 1x28x28", node))
            return
        self.attempt(super().statement, node)

    def group(self, node: Tree, scope, source: str) -> str:
        result = [source]
        label = node.children[0]
        if self.attempt(lambda: result.append(super(_RecoveringLowering, self).group(node, scope, source))):
            if label is not None:
                self.group_names[(label.line, label.column)] = f"{scope.prefix}{str(label).rstrip(': ')}"
        return result[-1]

    def layer(self, node: Tree, scope, source: str) -> str:
        result = [source]
        self.attempt(lambda: result.append(super(_RecoveringLowering, self).layer(node, scope, source)))
        return result[-1]

    def use_block(self, label, keyword: Token, args, scope, source: str) -> str:
        before = len(self.names)
        end = super().use_block(label, keyword, args, scope, source)
        use = next(islice(self.names, before, None))  # the use's own name comes first
        self.group_names[(keyword.line, keyword.column)] = use
        if label is not None:
            self.group_names[(label.line, label.column)] = use
        return end

    def train_section(self, node: Tree) -> None:
        if self.train is not None:
            self.attempt(super().train_section, node)  # the error of a second section
            return
        self.train = {}
        for setting in node.children:
            self.attempt(self.train_setting, *setting.children)

    def search_section(self, node: Tree) -> None:
        if self.search is not None:
            self.attempt(super().search_section, node)
            return
        self.search = {}
        for setting in node.children:
            self.attempt(self.search_setting, *setting.children)


def _check(ir: dict[str, Any], filename: str, found: _Found) -> list[dict[str, Any]]:
    """The checks after lowering, each going on past its errors -> the layers, inferred where possible."""
    bad_layers: set[int] = set()
    for path, problem in schema_problems(ir, filename):
        found.add(problem)
        if path[:1] == ["layers"] and len(path) > 1:
            bad_layers.add(path[1])
        elif path[:1] in (["train"], ["search"]) and len(path) > 1:
            ir[path[0]].pop(path[1], None)
        elif path[:1] == ["input"]:
            return ir["layers"]
    ir = {**ir, "layers": _without(ir["layers"], bad_layers)}
    try:
        ir = connect_layers(ir, filename)
    except NetlangError as err:
        found.add(err)
        return ir["layers"]
    _note(found, check_last_only, ir, filename)
    _check_settings_each(ir, filename, found)
    try:
        infer({**ir, "layers": []}, filename)  # the input's own shape
    except NetlangError as err:
        found.add(err)
        return ir["layers"]
    layers = [dict(layer) for layer in ir["layers"]]
    shapes = {NETWORK_INPUT: list(ir["input"]["shape"])}
    for layer in layers:
        if all(name in shapes for name in layer["inputs"]):  # a layer after a failed one is left unknown
            try:
                shapes[layer["name"]] = annotate(layer, [shapes[name] for name in layer["inputs"]], filename)
            except NetlangError as err:
                found.add(err)
    if len(shapes) == len(layers) + 1:
        try:
            check_sizes({**ir, "layers": layers}, filename)
        except NetlangError as err:
            found.add(err)
    return layers


def _note(found: _Found, check, ir: dict[str, Any], filename: str) -> bool:
    """Run a check pass; its error is noted. Whether it passed."""
    try:
        check(ir, filename)
        return True
    except NetlangError as err:
        found.add(err)
        return False


def _check_settings_each(ir: dict[str, Any], filename: str, found: _Found) -> None:
    """check_settings stops at its first problem: each layer's init scheme and each training field are checked
    on their own, then the fields that pass together (for combinations), then the search section."""
    for layer in ir["layers"]:
        if "init" in layer["args"]:
            _note(found, check_settings, {**ir, "layers": [layer], "train": {}, "search": {}}, filename)
    fine = {name: entry for name, entry in ir.get("train", {}).items()
            if _note(found, check_settings, {**ir, "layers": [], "train": {name: entry}, "search": {}}, filename)}
    _note(found, check_settings, {**ir, "layers": [], "train": fine, "search": {}}, filename)
    if ir.get("search"):
        _note(found, check_settings, {**ir, "layers": [], "train": {}}, filename)


def _without(layers: list[dict[str, Any]], bad: set[int]) -> list[dict[str, Any]]:
    """The layers without those at the indices `bad`; a layer that read a left-out one reads what it read."""
    if not bad:
        return layers
    instead: dict[str, str] = {}
    kept = []
    for index, layer in enumerate(layers):
        inputs = [instead.get(name, name) for name in layer["inputs"]]
        if index in bad:
            instead[layer["name"]] = inputs[0]
        else:
            kept.append({**layer, "inputs": inputs})
    return kept
