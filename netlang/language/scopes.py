"""Branch groups of a graph that has none marked: the layer order and `scope`s that make it printable as a spec.

A graph read from elsewhere (an ONNX file) names each layer's inputs but says nothing of netlang's branch groups.
The spec-text printer (printer.py) needs them: a group is its branches' layers, in order, then its merge layer,
and each of those layers has the merge layer's name in its `scope`. That is possible exactly when the graph is
series-parallel as netlang's groups are: each merge's branches start at one fork (the merge's immediate
dominator), each branch is a pipeline of its own, possibly holding groups, and no layer of one branch is read
outside it. `group_layers` finds that structure, walking back from the last layer, and `default_names` gives the
names lowering would give the layers of such a spec.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from netlang.errors import ShapeError
from netlang.limits import MAX_NESTING
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

Layer = dict[str, Any]


def group_layers(layers: list[Layer]) -> list[tuple[Layer, list[str]]]:
    """Layers in topological order (each with "name", "op", "inputs"), the last the output -> the layers the
    output depends on, ordered as a spec writes them, each with its scope (merge layers' names, outermost
    first); ShapeError when the graph is not series-parallel. Layers the output does not read are left out."""
    by_name = {layer["name"]: layer for layer in layers}
    index = {NETWORK_INPUT: -1} | {layer["name"]: position for position, layer in enumerate(layers)}
    dominator = _immediate_dominators(layers, index)
    placed: set[str] = set()

    def pipeline(source: str, end: str, depth: int) -> list[tuple[str, list[str]]]:
        """The layers from after `source` to `end`, with scopes relative to the enclosing group."""
        if depth > MAX_NESTING:
            raise ShapeError(f"the graph's branch groups nest more than {MAX_NESTING} deep")
        parts: list[list[tuple[str, list[str]]]] = []
        name = end
        while name != source:
            if name == NETWORK_INPUT or index[name] < index[source]:
                raise _not_series_parallel(name, source)
            if name in placed:
                raise _not_series_parallel(name, source)
            placed.add(name)
            layer = by_name[name]
            if not OPS[layer["op"]].merge:
                parts.append([(name, [])])
                name = layer["inputs"][0]
                continue
            fork = dominator[name]
            members = [member for branch in layer["inputs"] for member in pipeline(fork, branch, depth + 1)]
            parts.append([(member, [name, *scope]) for member, scope in members] + [(name, [name])])
            name = fork
        return [entry for part in reversed(parts) for entry in part]

    return [(by_name[name], scope) for name, scope in pipeline(NETWORK_INPUT, layers[-1]["name"], 0)]


def _immediate_dominators(layers: list[Layer], index: dict[str, int]) -> dict[str, str]:
    """Each layer's immediate dominator: the last layer (or the input) every path from the input to it passes.
    In topological order one pass suffices (Cooper, Harvey and Kennedy's intersection of dominator chains)."""
    dominator: dict[str, str] = {}
    for layer in layers:
        found = layer["inputs"][0]
        for other in layer["inputs"][1:]:
            first, second = found, other
            while first != second:
                while index[first] > index[second]:
                    first = dominator[first]
                while index[second] > index[first]:
                    second = dominator[second]
            found = first
        dominator[layer["name"]] = found
    return dominator


def _not_series_parallel(name: str, source: str) -> ShapeError:
    return ShapeError(
        f"the graph is not made of netlang's branch groups: '{name}' is read across branches (or from outside "
        f"the group forking at '{source}'); netlang's groups, (a + b) and (a | b), need every branch to start at "
        "the group's input and be read only by the group's sum or concatenation"
    )


def default_names(
    grouped: list[tuple[Layer, list[str]]], keep: Callable[[Layer], str | None]
) -> dict[str, str]:
    """The name of each layer of `group_layers`'s result: lowering's default names (op and running count, a
    group's merge numbered when the group starts, before its branches), or `keep(layer)` where that gives one
    (a labelled layer still takes its number, as lowering counts it)."""
    counters: Counter[str] = Counter()
    names: dict[str, str] = {}
    by_name = {layer["name"]: layer for layer, _ in grouped}
    previous: list[str] = []
    for layer, scope in grouped:
        common = 0
        while common < min(len(previous), len(scope)) and previous[common] == scope[common]:
            common += 1
        for merge in scope[common:]:  # groups entered at this layer, outermost first
            op = by_name[merge]["op"]
            counters[op] += 1
            names[merge] = f"{op}{counters[op]}"
        previous = scope
        if OPS[layer["op"]].merge:
            continue
        counters[layer["op"]] += 1
        names[layer["name"]] = keep(layer) or f"{layer['op']}{counters[layer['op']]}"
    return names
