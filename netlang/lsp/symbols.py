"""Document symbols (the input, layers, groups, block uses, blocks and sections, nested as written) and go to
definition (of a block, from a use; of a block's parameter, from inside its body), from the parse tree."""

from __future__ import annotations

from typing import Any

from lark import Token, Tree
from lsprotocol import types

from netlang.language.diagnostics import Analysis
from netlang.lsp.positions import Lines

Kind = types.SymbolKind


def document_symbols(analysis: Analysis, lines: Lines) -> list[types.DocumentSymbol]:
    """The spec's outline."""
    names = {}
    for layer in analysis.layers:
        pos = layer.get("pos") or {}
        if not layer.get("implicit"):
            names.setdefault((pos.get("line"), pos.get("col")), layer["name"])
    builder = _Outline(analysis, lines, names)
    symbols: list[types.DocumentSymbol] = []
    for node in analysis.tree.children:
        symbols += builder.statement(node)
    return symbols


class _Outline:
    def __init__(self, analysis: Analysis, lines: Lines, names: dict[tuple[Any, Any], str]) -> None:
        self.analysis = analysis
        self.lines = lines
        self.names = names

    def statement(self, node: Tree) -> list[types.DocumentSymbol]:
        if node.data == "input":
            return [self.symbol("input", Kind.Variable, node, node.children[0], str(node.children[0]))]
        if node.data == "pipeline":
            return self.stages(node)
        if node.data == "block_def":
            name, *params = [child for child in node.children if isinstance(child, Token)]
            children = [symbol for body in node.children if isinstance(body, Tree) for symbol in self.stages(body)]
            return [self.symbol(str(name), Kind.Class, node, name, " ".join(["block", name, *params]), children)]
        section = node.data.removesuffix("_section")
        fields = [self.symbol(str(key), Kind.Property, setting, key, str(value))
                  for setting in node.children for key, value in [setting.children]]
        return [self.symbol(section, Kind.Struct, node, None, f"{section} {{ ... }}", fields)]

    def stages(self, pipeline: Tree) -> list[types.DocumentSymbol]:
        symbols = []
        for stage in pipeline.children:
            if not isinstance(stage, Tree):
                continue
            if stage.data == "layer":
                label, keyword = stage.children[0], stage.children[1]
                words = " ".join(str(child) for child in stage.children[1:] if child is not None)
                use = self.analysis.groups.get((keyword.line, keyword.column))
                if use is not None:
                    symbols.append(self.symbol(use, Kind.Module, stage, label or keyword, words))
                    continue
                name = self.names.get((keyword.line, keyword.column)) or str(label or keyword).rstrip(": ")
                symbols.append(self.symbol(name, Kind.Function, stage, label or keyword, words))
            else:
                label, branches, repeat = stage.children
                children = [symbol for branch in branches.children if isinstance(branch, Tree)
                            for symbol in self.stages(branch)]
                name = self.analysis.groups.get((label.line, label.column)) if label is not None else None
                name = name or (str(label).rstrip(": \t") if label is not None else "( ... )")
                detail = f"× {str(repeat)[1:].strip()}" if repeat is not None else ""
                symbols.append(self.symbol(name, Kind.Namespace, stage, label, detail, children))
        return symbols

    def symbol(self, name: str, kind: Kind, node: Tree, token: Token | None, detail: str = "",
               children: list[types.DocumentSymbol] | None = None) -> types.DocumentSymbol:
        meta = node.meta
        whole = types.Range(start=self.lines.position(meta.line, meta.column),
                            end=self.lines.position(meta.end_line, meta.end_column))
        chosen = whole if token is None else types.Range(
            start=self.lines.position(token.line, token.column),
            end=self.lines.position(token.line, token.column + len(str(token).rstrip())))
        return types.DocumentSymbol(name=name or "?", kind=kind, range=whole, selection_range=chosen,
                                    detail=detail or None, children=children or None)


def definition(analysis: Analysis, line: int, col: int) -> Token | None:
    """The token defining the block (or the block parameter) named by the word at netlang's (line, col)."""
    for block in analysis.tree.children:
        if block.data != "block_def":
            continue
        name, *params = [child for child in block.children if isinstance(child, Token)]
        meta = block.meta
        inside = (meta.line, meta.column) <= (line, col) <= (meta.end_line, meta.end_column)
        for node in block.iter_subtrees():
            if node.data != "layer" or not inside:
                continue
            for token in node.children[1:]:
                param = next((param for param in params if str(param) == str(token)), None)
                if param is not None and _under(token, line, col):
                    return param
    blocks = {str(block.children[0]): block.children[0] for block in analysis.tree.children
              if block.data == "block_def"}
    for node in analysis.tree.iter_subtrees():
        if node.data == "layer" and _under(node.children[1], line, col):
            return blocks.get(str(node.children[1]))
    return None


def _under(token: Any, line: int, col: int) -> bool:
    return (isinstance(token, Token) and token.line == line
            and token.column <= col <= token.column + len(str(token)))
