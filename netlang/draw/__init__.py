"""`netlang draw`: a network as an SVG diagram, written by netlang itself (no graphviz, no matplotlib).

    inferred IR --network_nodes--> nested nodes --fold_repeats--> nodes with ×N --layout--> shapes --to_svg--> SVG

nodes.py reads the groups and branches from the layers' scopes (folding those deeper than `depth`, as
`netlang summary --depth` does), repeats.py folds identical successive copies into ×N, layout.py places
everything, svg.py writes it. None of them imports NumPy.
"""

from __future__ import annotations

from typing import Any

from netlang.draw.layout import layout
from netlang.draw.nodes import network_nodes
from netlang.draw.repeats import Keys, fold_repeats
from netlang.draw.svg import to_svg
from netlang.language.report import summary_data


def draw_svg(ir: dict[str, Any], depth: int | None = None) -> str:
    """An inferred IR -> an SVG document of the network, the groups nested deeper than `depth` folded."""
    return to_svg(drawing(ir, depth))


def drawing(ir: dict[str, Any], depth: int | None = None) -> dict[str, Any]:
    """An inferred IR -> the drawing as plain data (layout.py): {"width", "height", "shapes"}."""
    rows = summary_data(ir)["layers"]
    found = network_nodes(rows, depth)
    if found is None:
        return layout(ir, None, rows)
    nodes, rows = found
    return layout(ir, fold_repeats(nodes, Keys(rows, depth)), rows)
