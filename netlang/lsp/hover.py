"""Hover: what a layer, a group, a block use, the input or a training field under the cursor is, from the
network as far as it compiled: input and output shapes, parameters and MACs."""

from __future__ import annotations

from typing import Any

from lark import Token, Tree

from netlang.language.diagnostics import Analysis
from netlang.language.trainfields import field_schemas
from netlang.ops import OPS
from netlang.ops.base import layer_text

MAX_SHOWN_LAYERS = 8  # a layer of a block used many times: its first uses, then how many more


def hover_markdown(analysis: Analysis, line: int, col: int) -> tuple[str, tuple[int, int, int]] | None:
    """(Markdown, (line, col, span) it is about) for netlang's position (line, col), or None."""
    node, token = _innermost(analysis.tree, line, col)
    if node is None:
        return None
    if node.data == "layer":
        label, keyword = node.children[0], node.children[1]
        use = analysis.groups.get((keyword.line, keyword.column))
        if use is not None:
            return _group_text(analysis, use, f"`{_words(node)}`"), _where(label or keyword)
        layers = [layer for layer in analysis.layers if _at(layer, keyword) and not layer.get("implicit")]
        if not layers:
            return f"`{_words(node)}`: not made, because of an error in this or an earlier statement", _where(keyword)
        return _layers_text(layers), _where(keyword)
    if node.data == "group":
        label = node.children[0]
        if label is not None and token is label:
            name = analysis.groups.get((label.line, label.column))
            if name is not None:
                return _group_text(analysis, name, "group"), _where(label)
        merges = [layer for layer in analysis.layers if layer.get("pos", {}).get("line") == node.meta.line
                  and layer["pos"].get("col") == node.meta.column and OPS[layer["op"]].merge]
        if merges:
            return _layers_text(merges), (node.meta.line, node.meta.column, 1)
        return None
    if node.data == "input":
        shape = "x".join(str(node.children[0]).lower().split("x"))
        return f"**input** `{shape}`: one sample's shape (no batch dimension)", _where(node.children[0])
    if node.data == "setting":
        key, value = node.children
        schema = field_schemas().get(str(key))
        if schema is None:
            return None
        default = schema.get("default")
        text = f"**{key}**: {schema.get('description', '')}" + (f" (default `{default}`)" if default is not None
                                                                 else "")
        choices = schema.get("enum") or schema.get("examples")
        if choices:
            text += "\n\none of: " + ", ".join(f"`{choice}`" for choice in choices)
        return text, _where(key)
    if node.data == "block_def":
        name = node.children[0]
        uses = sorted({use for use in analysis.groups.values() if _use_of(use, str(name))})
        return (f"**block {name}**" + (f": used as {', '.join(uses)}" if uses else ": never used"), _where(name))
    return None


def _innermost(tree: Tree, line: int, col: int) -> tuple[Tree | None, Token | None]:
    """The innermost node of interest around (line, col), and the token there, if any."""
    best, best_token = None, None
    for node in tree.iter_subtrees_topdown():
        if node.data not in {"layer", "group", "input", "setting", "block_def"}:
            continue
        meta = node.meta
        if getattr(meta, "empty", True) or not (meta.line, meta.column) <= (line, col) < (
                meta.end_line, meta.end_column + 1):
            continue
        token = next((child for child in node.children if isinstance(child, Token) and child.line == line
                      and child.column <= col <= child.column + len(str(child).rstrip())), None)
        if node.data == "block_def" and token is not node.children[0]:
            continue  # inside a block's body: the layer there, or nothing
        best, best_token = node, token
    return best, best_token


def _at(layer: dict[str, Any], token: Token) -> bool:
    pos = layer.get("pos") or {}
    return pos.get("line") == token.line and pos.get("col") == token.column


def _where(token: Token) -> tuple[int, int, int]:
    return token.line, token.column, max(1, len(str(token).rstrip()))


def _words(node: Tree) -> str:
    return " ".join(str(child) for child in node.children if isinstance(child, Token))


def _use_of(name: str, block: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith(block) and last[len(block):].isdigit()


def _in_group(scope: str, name: str) -> bool:
    """Whether a layer's scope entry is the group `name` or one of its repeats (`res.1`, `res.2`, ...)."""
    return scope == name or scope.startswith(f"{name}.") and scope[len(name) + 1:].isdigit()


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], list):
        return " + ".join(_shape(one) for one in shape)
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _layers_text(layers: list[dict[str, Any]]) -> str:
    parts = []
    for layer in layers[:MAX_SHOWN_LAYERS]:
        op = OPS[layer["op"]]
        head = f"**{layer['name']}** `{layer_text(op, layer['args'], compact=True)}` — {op.summary}"
        if "out_shape" not in layer:
            parts.append(head + "\n\nshape unknown: an error before it (or in it) stops inference")
            continue
        in_shape = layer.get("in_shapes", layer.get("in_shape"))
        costs = f"parameters {layer['params']:,}"
        if layer.get("non_trainable"):
            costs += f" (+ {layer['non_trainable']:,} non-trainable)"
        parts.append(f"{head}\n\n{_shape(in_shape)} → {_shape(layer['out_shape'])} · {costs} · "
                     f"MACs {layer['macs']:,}")
    if len(layers) > MAX_SHOWN_LAYERS:
        parts.append(f"… and {len(layers) - MAX_SHOWN_LAYERS:,} more uses")
    return "\n\n---\n\n".join(parts)


def _group_text(analysis: Analysis, name: str, what: str) -> str:
    members = [layer for layer in analysis.layers if any(_in_group(scope, name) for scope in layer.get("scope", ()))]
    if not members:
        return f"**{name}** ({what}): not made, because of an error"
    known = [layer for layer in members if "out_shape" in layer]
    first, last = members[0], members[-1]
    text = f"**{name}** ({what}): {len(members):,} layers"
    if len(known) == len(members):
        in_shape = first.get("in_shape") or (first.get("in_shapes") or [None])[0]
        params = sum(layer["params"] + layer["non_trainable"] for layer in members)
        macs = sum(layer["macs"] for layer in members)
        text += f"\n\n{_shape(in_shape)} → {_shape(last['out_shape'])} · parameters {params:,} · MACs {macs:,}"
    else:
        text += "\n\nshapes unknown: an error stops inference in it"
    return text
