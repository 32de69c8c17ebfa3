"""What a drawing shows: an inferred IR as nested nodes, read from the groups its layers' `scope`s record.

- Box: one row of the report (netlang/language/report.py): a layer, or a group folded into one row by
  `fold_layers` (the groups nested deeper than `depth`, as `netlang summary --depth` folds them).
- Frame: a named group or block use, around the nodes of its pipeline.
- Branches: a branch group: its branches side by side (None for an `identity` branch), then its merge layer.

Every edge of the graph is accounted for while the nodes are built: each node of a pipeline reads the one
before it (the first, the pipeline's source), and a branch group's merge reads its branches' ends in order. A
graph whose scopes do not describe it so (an IR file's own scopes, or none) gets its branch groups from
netlang/language/scopes.py; one that is not made of nested groups at all gives None (drawn as a column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netlang.errors import ShapeError
from netlang.language.report import fold_layers
from netlang.language.scopes import group_layers
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

Row = dict[str, Any]
ALL_DEPTHS = 1 << 30  # `depth` when nothing is folded


@dataclass
class Box:
    row: Row
    folded: bool = False  # a group folded into one row


@dataclass
class Frame:
    name: str
    body: list[Node]


@dataclass
class Branches:
    merge: Box
    branches: list[list[Node] | None]  # None: an `identity` branch


@dataclass
class Repeat:
    """`count` successive copies of `body`, identical in everything drawn but the names (first ... last)."""

    count: int
    body: list[Node]
    first: str = ""
    last: str = ""


Node = Box | Frame | Branches | Repeat


class NotNested(Exception):
    """The rows' scopes do not describe the graph as nested pipelines and branch groups."""


def network_nodes(rows: list[Row], depth: int | None = None) -> tuple[list[Node], list[Row]] | None:
    """The report's rows of an inferred IR (summary_data's `layers`) -> the nodes of its top-level pipeline
    (reading the network's input), with the groups nested deeper than `depth` folded into boxes, and the rows
    (with the scopes) they were read from; None when the graph is not made of nested groups."""
    nodes = _nodes(rows, depth)
    if nodes is not None:
        return nodes, rows
    regrouped = _regrouped(rows)
    nodes = _nodes(regrouped, depth) if regrouped is not None else None
    return (nodes, regrouped) if nodes is not None else None


def _nodes(rows: list[Row], depth: int | None) -> list[Node] | None:
    """The nodes the rows' scopes describe; None when they do not describe the graph."""
    folded = fold_layers(rows, ALL_DEPTHS if depth is None else depth)
    try:
        nodes, output = _pipeline(folded, 0, NETWORK_INPUT, set())
    except NotNested:
        return None
    return nodes if output == folded[-1]["name"] else None


def _regrouped(rows: list[Row]) -> list[Row] | None:
    """The rows with the scopes lowering would give a series-parallel graph (branch groups only), in spec
    order; None when the graph is not series-parallel."""
    by_name = {row["name"]: row for row in rows}
    try:
        grouped = group_layers(rows)
    except ShapeError:
        return None
    if len(grouped) != len(rows):
        return None
    return [{**by_name[layer["name"]], "scope": scope} for layer, scope in grouped]


def _pipeline(rows: list[Row], level: int, source: str, seen: set[str]) -> tuple[list[Node], str]:
    """The nodes of a pipeline of `rows` (all in the same groups down to `level`) reading `source`, and the name
    of the value it ends with; NotNested where a node reads anything but the node before it."""
    nodes: list[Node] = []
    current = source
    index = 0
    while index < len(rows):
        row = rows[index]
        scope = row["scope"]
        if len(scope) <= level:
            if row["inputs"] != [current] or (not row.get("group") and OPS[row["op"]].merge):
                raise NotNested
            nodes.append(Box(row, folded=bool(row.get("group"))))
            current = row["name"]
            index += 1
            continue
        group = scope[level]
        end = index
        while end < len(rows) and len(rows[end]["scope"]) > level and rows[end]["scope"][level] == group:
            end += 1
        if group in seen:
            raise NotNested  # a group's layers are not together
        seen.add(group)
        members = rows[index:end]
        last = members[-1]
        is_merge = not last.get("group") and OPS[last["op"]].merge
        if is_merge and last["name"] == group and len(last["scope"]) == level + 1:
            node: Node = _branches(members[:-1], last, level + 1, current, seen)
            current = last["name"]
        else:
            body, current = _pipeline(members, level + 1, current, seen)
            node = Frame(group, body)
        nodes.append(node)
        index = end
    return nodes, current


def _branches(members: list[Row], merge: Row, level: int, source: str, seen: set[str]) -> Branches:
    """A branch group: `members` split into its branches at the merge's inputs, in their order."""
    branches: list[list[Node] | None] = []
    start = 0
    for end_name in merge["inputs"]:
        if end_name == source:
            branches.append(None)
            continue
        end = next((i for i in range(start, len(members)) if members[i]["name"] == end_name), None)
        if end is None:
            raise NotNested
        body, output = _pipeline(members[start : end + 1], level, source, seen)
        if output != end_name:
            raise NotNested
        branches.append(body)
        start = end + 1
    if start != len(members):
        raise NotNested
    return Branches(Box(merge), branches)
