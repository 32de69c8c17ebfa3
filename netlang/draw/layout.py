"""Where everything goes: the nodes of a network (nodes.py) -> a drawing as plain data, top to bottom.

A drawing is {"width", "height", "shapes"}, each shape a dict: a `box` (a layer or a folded group: its two
lines of text, a style and a tooltip), a `frame` (a named group, a block use, or a repeat's ×N) drawn
behind what it holds, an `edge` (a polyline, with an arrowhead where it enters a box), a `dot` (where a value
forks into branches) or a `text`. Every node is centred on its pipeline's vertical line, so a pipeline's edges
are straight; a branch group puts its branches side by side between a fork and a join, then its merge layer.

Text is measured as monospace (the SVG asks for a monospace font), at a width per character a little above
DejaVu Sans Mono's, Menlo's and Consolas' 0.6 em, so no text leaves its box.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from netlang.draw.nodes import Box, Branches, Frame, Node, Repeat, Row
from netlang.ops import OPS
from netlang.ops.base import layer_text

Shape = dict[str, Any]

HEAD_SIZE, INFO_SIZE, LABEL_SIZE, TITLE_SIZE = 13, 12, 12, 15  # font sizes, px
EM = 0.62  # width of a monospace character, in em
BOX_HEIGHT, BOX_PAD, MIN_BOX_WIDTH = 44, 12, 100
GAP = 22  # between the nodes of a pipeline: room for the arrow
FRAME_TOP, FRAME_PAD = 24, 12  # a frame's label band, and its padding on the other sides
FORK, JOIN, BRANCH_GAP, SKIP_WIDTH = 20, 20, 20, 16
MARGIN, TITLE_HEIGHT = 16, 30
LANE = 10  # between the side lanes of the edges of a graph drawn as a column

# Box styles by op; an op not named here is styled by what the registry says of it (see _style).
_STYLES = {"conv": "conv", "upsample": "conv", "pool": "pool", "global_pool": "pool", "affine": "affine",
           "batchnorm": "norm", "dropout": "norm"}


def text_width(text: str, size: float) -> float:
    """The width of a line of monospace text at a font size, in px (an upper bound)."""
    return len(text) * size * EM


def box_text(row: Row, folded: bool = False) -> tuple[str, str]:
    """A box's two lines: the op as a spec writes it (a folded group: its name and layer count), then the name,
    output shape and parameters."""
    shape = "×".join(map(str, row["out_shape"]))
    info = [shape] if folded or row["name"] == "input" else [row["name"], shape]
    if row["params"]:
        info.append(f"{row['params']:,} param{'s' if row['params'] != 1 else ''}")
    return _head(row, folded), " · ".join(info)


def _head(row: Row, folded: bool) -> str:
    """A folded group's name and layer count; a merge's text; any other layer as a spec writes it, compactly."""
    if folded:
        return f"{row['name']} {row['text']}"
    op = OPS.get(row["op"])
    if op is None or op.merge:
        return row["text"]
    return layer_text(op, row["args"], compact=True) + (" (implicit)" if row.get("implicit") else "")


def _tooltip(row: Row) -> str:
    shape = "×".join(map(str, row["out_shape"]))
    return f"{row['name']}: {row['text']}\noutput {shape}\n{row['params']:,} parameters, {row['macs']:,} MACs"


def _style(row: Row, folded: bool) -> str:
    if folded:
        return "folded"
    if row["name"] == "input" and row["op"] == "input":
        return "input"
    if row.get("implicit"):
        return "implicit"
    op = OPS[row["op"]]
    if op.merge:
        return "merge"
    if row["op"] in _STYLES:
        return _STYLES[row["op"]]
    if op.activation or op.last_only or not op.params:
        return "activation"
    return "conv"


class _Layout:
    def __init__(self) -> None:
        self.shapes: list[Shape] = []
        self.sizes: dict[int, tuple[float, float]] = {}

    # Sizes: (width, height) of each node, remembered.

    def size(self, node: Node) -> tuple[float, float]:
        found = self.sizes.get(id(node))
        if found is None:
            found = self.sizes[id(node)] = self._measure(node)
        return found

    def _measure(self, node: Node) -> tuple[float, float]:
        if isinstance(node, Box):
            head, info = box_text(node.row, node.folded)
            width = max(text_width(head, HEAD_SIZE), text_width(info, INFO_SIZE)) + 2 * BOX_PAD
            return _even(max(MIN_BOX_WIDTH, width)), BOX_HEIGHT
        if isinstance(node, (Frame, Repeat)):
            body_width, body_height = self.pipeline_size(node.body)
            label = text_width(_frame_label(node), LABEL_SIZE)
            # The label keeps to the left half, clear of the edge down the middle.
            return _even(max(body_width + 2 * FRAME_PAD, 2 * (label + 14))), FRAME_TOP + body_height + FRAME_PAD
        columns = self.columns(node)
        merge_width, merge_height = self.size(node.merge)
        width = max(sum(width for width, _ in columns) + BRANCH_GAP * (len(columns) - 1), merge_width)
        return width, FORK + max(height for _, height in columns) + JOIN + merge_height

    def pipeline_size(self, nodes: list[Node]) -> tuple[float, float]:
        sizes = [self.size(node) for node in nodes]
        return max(width for width, _ in sizes), sum(height for _, height in sizes) + GAP * (len(sizes) - 1)

    def columns(self, node: Branches) -> list[tuple[float, float]]:
        return [(SKIP_WIDTH, 0.0) if branch is None else self.pipeline_size(branch) for branch in node.branches]

    # Placing: each node at its top centre, adding its shapes.

    def place(self, node: Node, centre: float, top: float) -> None:
        width, height = self.size(node)
        if isinstance(node, Box):
            head, info = box_text(node.row, node.folded)
            self.shapes.append({
                "type": "box", "x": centre - width / 2, "y": top, "w": width, "h": height,
                "head": head, "info": info, "style": _style(node.row, node.folded), "name": node.row["name"],
                "tooltip": _tooltip(node.row), "layers": node.row.get("layer_count", 1),
            })
        elif isinstance(node, (Frame, Repeat)):
            frame: Shape = {"type": "frame", "x": centre - width / 2, "y": top, "w": width, "h": height}
            if isinstance(node, Repeat):
                frame.update(style="repeat", badge=f"×{node.count}", label=f"{node.first} … {node.last}",
                             count=node.count)
            else:
                frame.update(style="group", badge="", label=node.name)
            self.shapes.append(frame)
            self.edge([(centre, top), (centre, top + FRAME_TOP)], arrow=isinstance(node.body[0], Box))
            bottom = self.place_pipeline(node.body, centre, top + FRAME_TOP)
            self.edge([(centre, bottom), (centre, top + height)])
        else:
            self.place_branches(node, centre, top, height)

    def place_pipeline(self, nodes: list[Node], centre: float, top: float) -> float:
        """Place a pipeline's nodes down from `top`, joined by arrows; returns its bottom."""
        for index, node in enumerate(nodes):
            if index:
                self.edge([(centre, top - GAP), (centre, top)], arrow=isinstance(node, Box))
            self.place(node, centre, top)
            top += self.size(node)[1] + GAP
        return top - GAP

    def place_branches(self, node: Branches, centre: float, top: float, height: float) -> None:
        columns = self.columns(node)
        left = centre - (sum(width for width, _ in columns) + BRANCH_GAP * (len(columns) - 1)) / 2
        centres = []
        for branch, (width, _) in zip(node.branches, columns, strict=True):
            centres.append(left + width / 2)
            if branch is None and abs(centres[-1] - centre) <= (SKIP_WIDTH + BRANCH_GAP) / 2:
                centres[-1] = centre  # an identity line next to the trunk goes straight down it instead
            left += width + BRANCH_GAP
        fork, merge_top = top + FORK / 2, top + height - self.size(node.merge)[1]
        join = merge_top - JOIN / 2
        self.edge([(centre, top), (centre, fork)])
        self.edge([(min(centres), fork), (max(centres), fork)])
        self.shapes.append({"type": "dot", "x": centre, "y": fork})
        for branch, branch_centre in zip(node.branches, centres, strict=True):
            if branch is None:
                self.edge([(branch_centre, fork), (branch_centre, join)])
                continue
            self.edge([(branch_centre, fork), (branch_centre, top + FORK)], arrow=isinstance(branch[0], Box))
            bottom = self.place_pipeline(branch, branch_centre, top + FORK)
            self.edge([(branch_centre, bottom), (branch_centre, join)])
        self.edge([(min(centres), join), (max(centres), join)])
        self.edge([(centre, join), (centre, merge_top)], arrow=True)
        self.place(node.merge, centre, merge_top)

    def edge(self, points: list[tuple[float, float]], arrow: bool = False) -> None:
        self.shapes.append({"type": "edge", "points": points, "arrow": arrow})


def _even(width: float) -> int:
    """A width rounded up to an even number of px, so that centres fall on whole px."""
    return 2 * math.ceil(width / 2)


def _frame_label(node: Frame | Repeat) -> str:
    return f"×{node.count}  {node.first} … {node.last}" if isinstance(node, Repeat) else node.name


def _input_row(ir: dict[str, Any]) -> Row:
    return {"name": "input", "op": "input", "text": "input", "out_shape": ir["input"]["shape"], "params": 0,
            "macs": 0, "inputs": []}


def title_text(ir: dict[str, Any]) -> str:
    """The drawing's title: the spec, its parameters and MACs."""
    totals = ir["totals"]
    return f"{ir.get('source') or '<spec>'} · {totals['params']:,} parameters · {totals['macs']:,} MACs"


def layout(ir: dict[str, Any], nodes: list[Node] | None, rows: list[Row]) -> dict[str, Any]:
    """Nodes of an inferred IR (None: a graph not made of nested groups, drawn as a column of its `rows` with
    the edges that skip ahead routed beside it) -> the drawing."""
    plan = _Layout()
    title = title_text(ir)
    pipeline: list[Node] = [Box(_input_row(ir)), *(nodes or [])]
    if nodes is not None:
        width, height = plan.pipeline_size(pipeline)
        centre = MARGIN + round(max(width, text_width(title, TITLE_SIZE)) / 2)
        plan.place_pipeline(pipeline, centre, MARGIN + TITLE_HEIGHT)
        lanes_width = 0.0
    else:
        width, height, lanes_width = _place_column(plan, [Box(_input_row(ir))] + [Box(row) for row in rows])
    content_width = max(width + lanes_width, text_width(title, TITLE_SIZE))
    plan.shapes.insert(0, {"type": "text", "x": MARGIN, "y": MARGIN + TITLE_SIZE, "text": title, "style": "title"})
    return {"width": content_width + 2 * MARGIN, "height": TITLE_HEIGHT + height + 2 * MARGIN,
            "shapes": plan.shapes}


def _place_column(plan: _Layout, boxes: list[Box]) -> tuple[float, float, float]:
    """Every layer in IR order, one column of boxes of one width; an edge to the next box goes straight down,
    any other along the lane on the right of the box it leaves (one lane per such box, reused once free).
    Returns (column width, height, lanes' width)."""
    width = max(plan.size(box)[0] for box in boxes)
    for box in boxes:
        plan.sizes[id(box)] = (width, BOX_HEIGHT)
    top = MARGIN + TITLE_HEIGHT
    centre = MARGIN + width / 2
    plan.place_pipeline(boxes, centre, top)  # the straight edges are drawn for every pair; see below
    plan.shapes = [shape for shape in plan.shapes if shape["type"] != "edge"]
    index = {box.row["name"]: position for position, box in enumerate(boxes)}
    readers: dict[int, list[int]] = {}  # box position -> the positions further down that read it
    for position, box in enumerate(boxes[1:], start=1):
        box_top = top + position * (BOX_HEIGHT + GAP)
        for source in box.row["inputs"]:
            if index[source] == position - 1:
                plan.edge([(centre, box_top - GAP), (centre, box_top)], arrow=True)
            else:
                readers.setdefault(index[source], []).append(position)
    right, lanes = MARGIN + width, 0
    busy: list[tuple[int, int]] = []  # (last position reached, lane), a heap
    free: list[int] = []  # lanes free again, a heap
    for start in sorted(readers):
        while busy and busy[0][0] < start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        lane = heapq.heappop(free) if free else lanes
        lanes = max(lanes, lane + 1)
        heapq.heappush(busy, (max(readers[start]), lane))
        x = right + LANE * (lane + 1)
        source_y = top + start * (BOX_HEIGHT + GAP) + BOX_HEIGHT / 2
        for position in readers[start]:
            target_y = top + position * (BOX_HEIGHT + GAP) + BOX_HEIGHT / 2
            plan.edge([(right, source_y), (x, source_y), (x, target_y), (right, target_y)], arrow=True)
    height = len(boxes) * (BOX_HEIGHT + GAP) - GAP
    return width, height, LANE * (lanes + 1)
