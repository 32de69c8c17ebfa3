"""Repeats folded: successive copies of the same nodes along a pipeline, drawn once with ×N.

Every node has two keys, interned to small whole numbers: its structure (ops and their arguments, the kinds
of groups, how they nest and connect) and everything drawn (with shapes, parameters and MACs). Along a
pipeline, the longest run of copies of one unit is found by structure, so a run starts where the spec's
`* N` starts even when its first copy differs (DeepConvNet's first conv reads 1 channel, the second 16). The
copies are then split into runs identical in everything drawn: each run of two or more becomes one Repeat,
and a copy alike to none of its neighbours stays as it is. So every number in a drawing holds for every copy
it stands for.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from netlang.draw.nodes import Box, Branches, Frame, Node, Repeat, Row

MAX_UNITS_TRIED = 64  # units tried at each position: bounds the search on long pipelines without repeats


class Keys:
    """The (structure, everything drawn) keys of nodes, each interned to an int."""

    def __init__(self, rows: list[Row], depth: int | None) -> None:
        self.ids: dict[Any, int] = {}
        self.memo: dict[int, tuple[tuple[int, int], Node]] = {}
        self.members: dict[str, list[Row]] = {}  # a folded group's layers
        if depth is not None:
            for row in rows:
                if len(row["scope"]) > depth:
                    self.members.setdefault(row["scope"][depth], []).append(row)
        self.depth = depth or 0

    def intern(self, value: Any) -> int:
        return self.ids.setdefault(value, len(self.ids))

    def of(self, node: Node) -> tuple[int, int]:
        """(structure key, full key) of a node whose inner pipelines are final."""
        found = self.memo.get(id(node))
        if found is not None:
            return found[0]
        if isinstance(node, Box):
            shape, full = self.box(node)
        elif isinstance(node, Frame):
            inner = [self.of(child) for child in node.body]
            shape = ("frame", group_kind(node.name), tuple(key[0] for key in inner))
            full = ("frame", group_kind(node.name), tuple(key[1] for key in inner))
        elif isinstance(node, Branches):
            merge = self.of(node.merge)
            branches = [None if branch is None else [self.of(child) for child in branch] for branch in node.branches]
            shape = ("branches", merge[0], tuple(None if b is None else tuple(k[0] for k in b) for b in branches))
            full = ("branches", merge[1], tuple(None if b is None else tuple(k[1] for k in b) for b in branches))
        else:
            inner = [self.of(child) for child in node.body]
            shape = ("repeat", node.count, tuple(key[0] for key in inner))
            full = ("repeat", node.count, tuple(key[1] for key in inner))
        keys = (self.intern(shape), self.intern(full))
        self.memo[id(node)] = (keys, node)  # the node is kept, so its id is not reused
        return keys

    def box(self, box: Box) -> tuple[tuple, tuple]:
        row = box.row
        if not box.folded:
            return ("layer", row["text"]), ("layer", row["text"], *_numbers(row))
        members = self.members.get(row["name"], [])
        index = {member["name"]: position for position, member in enumerate(members)}
        wiring = tuple(
            (member["text"], len(member["scope"]) - self.depth,
             tuple(index[name] - position if name in index else None for name in member["inputs"]))
            for position, member in enumerate(members)
        )
        numbers = tuple(_numbers(member) for member in members)
        return ("folded", group_kind(row["name"]), wiring), ("folded", group_kind(row["name"]), wiring, numbers)


def _numbers(row: Row) -> tuple:
    """A layer's shapes and costs, as a hashable tuple."""
    if "in_shape" in row:
        in_shapes: tuple = (tuple(row["in_shape"]),)
    else:
        in_shapes = tuple(tuple(shape) for shape in row.get("in_shapes", ()))
    return in_shapes, tuple(row["out_shape"]), row["params"], row["macs"]


def group_kind(name: str) -> str:
    """What a group's name says of its kind, without the numbers that tell its uses apart: `basic3` and
    `down1.add2` give `basic` and `add`, a repeat of a named group `hidden.4` gives `hidden`."""
    parts = name.split(".")
    while len(parts) > 1 and parts[-1].isdigit():
        parts.pop()
    return parts[-1].rstrip("0123456789") or parts[-1]


def fold_repeats(nodes: list[Node], keys: Keys) -> list[Node]:
    """A pipeline's nodes with runs of identical copies of a unit (inside groups and branches too) folded
    into Repeats."""
    for node in nodes:
        if isinstance(node, Frame):
            node.body = fold_repeats(node.body, keys)
        elif isinstance(node, Branches):
            node.branches = [None if branch is None else fold_repeats(branch, keys) for branch in node.branches]
    pairs = [keys.of(node) for node in nodes]
    shapes = [pair[0] for pair in pairs]
    fulls = [pair[1] for pair in pairs]
    where: dict[int, list[int]] = {}
    for position, key in enumerate(shapes):
        where.setdefault(key, []).append(position)
    folded: list[Node] = []
    start = 0
    while start < len(nodes):
        length, count = _longest_run(shapes, start, where[shapes[start]])
        if count < 2:
            folded.append(nodes[start])
            start += 1
            continue
        units = [nodes[start + copy * length : start + (copy + 1) * length] for copy in range(count)]
        unit_keys = [tuple(fulls[start + copy * length : start + (copy + 1) * length]) for copy in range(count)]
        copy = 0
        while copy < count:
            same = copy + 1
            while same < count and unit_keys[same] == unit_keys[copy]:
                same += 1
            if same - copy == 1:
                folded.extend(units[copy])
            else:
                folded.append(Repeat(same - copy, units[copy], first_name(units[copy][0]),
                                     last_name(units[same - 1][-1])))
            copy = same
        start += length * count
    return folded


def _longest_run(keys: list[int], start: int, occurrences: list[int]) -> tuple[int, int]:
    """(unit length, copies) of the run of copies starting at `start` that covers the most nodes (the
    shortest unit among equals); (0, 1) when none repeats there."""
    best = (0, 1)
    room = len(keys) - start
    first = bisect_right(occurrences, start)
    for position in occurrences[first : first + MAX_UNITS_TRIED]:
        length = position - start
        if 2 * length > room or best[0] * best[1] == room:
            break
        unit = keys[start:position]
        count = 1
        while (count + 1) * length <= room and keys[start + count * length : start + (count + 1) * length] == unit:
            count += 1
        if count >= 2 and count * length > best[0] * best[1]:
            best = (length, count)
    return best


def first_name(node: Node) -> str:
    """The name of the first layer or group a node draws."""
    if isinstance(node, Box):
        return node.row["name"]
    if isinstance(node, Frame):
        return node.name
    if isinstance(node, Repeat):
        return node.first
    first = next((branch for branch in node.branches if branch), None)
    return first_name(first[0]) if first else node.merge.row["name"]


def last_name(node: Node) -> str:
    """The name of the last layer or group a node draws (a branch group: its merge)."""
    if isinstance(node, Box):
        return node.row["name"]
    if isinstance(node, Frame):
        return node.name
    if isinstance(node, Repeat):
        return node.last
    return node.merge.row["name"]
