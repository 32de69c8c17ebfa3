"""A drawing (layout.py) -> SVG text: plain SVG 1.1, one <g> per box, every piece of text escaped.

Text from a spec or an IR file (names, the source's file name) is escaped for XML, and characters XML cannot
hold at all (control characters, lone surrogates) become U+FFFD, so the file is always well-formed UTF-8.
Boxes carry data-name and data-layers (how many IR layers the box stands for); repeat frames data-repeat.
"""

from __future__ import annotations

import re
from typing import Any

from netlang.draw.layout import HEAD_SIZE, INFO_SIZE, LABEL_SIZE, TITLE_SIZE

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_STYLE = f"""
text {{ fill: #1d2329; }}
.head {{ font-size: {HEAD_SIZE}px; font-weight: bold; }}
.info {{ font-size: {INFO_SIZE}px; fill: #4b5560; }}
.label {{ font-size: {LABEL_SIZE}px; fill: #4b5560; }}
.badge {{ font-size: {LABEL_SIZE + 1}px; font-weight: bold; fill: #7a3e00; }}
.title {{ font-size: {TITLE_SIZE}px; font-weight: bold; }}
.edge {{ fill: none; stroke: #59636e; stroke-width: 1.4; }}
.dot {{ fill: #59636e; }}
.box {{ stroke-width: 1.3; }}
.input {{ fill: #ffffff; stroke: #1d2329; }}
.conv {{ fill: #dcebf7; stroke: #3f78b0; }}
.pool {{ fill: #def0da; stroke: #4f9443; }}
.affine {{ fill: #fde8d2; stroke: #c47a2c; }}
.norm {{ fill: #ece5f5; stroke: #7e62a6; }}
.activation {{ fill: #f3f4f5; stroke: #8a939c; }}
.implicit {{ fill: #fafafa; stroke: #8a939c; stroke-dasharray: 4 3; }}
.merge {{ fill: #fff5c4; stroke: #b0901a; }}
.folded {{ fill: #e6ecf1; stroke: #33475b; stroke-width: 2.2; }}
.group {{ fill: none; stroke: #7d8a96; stroke-dasharray: 5 4; }}
.repeat {{ fill: #fbf3e9; stroke: #c9a27a; }}
"""


def xml_text(text: str) -> str:
    """Text made safe inside an XML element or a double-quoted attribute."""
    text = _NOT_XML.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def to_svg(drawing: dict[str, Any]) -> str:
    """The SVG document of a drawing."""
    width, height = _number(drawing["width"]), _number(drawing["height"])
    title = next((shape["text"] for shape in drawing["shapes"] if shape["type"] == "text"), "")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace">',
        f"<title>{xml_text(title)}</title>",
        f"<style>{_STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#59636e"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    # Frames first (behind), then edges, then boxes on top.
    order = {"frame": 0, "edge": 1, "dot": 2, "box": 3, "text": 4}
    for shape in sorted(drawing["shapes"], key=lambda shape: order[shape["type"]]):
        out.append(_SHAPES[shape["type"]](shape))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _box(shape: dict[str, Any]) -> str:
    x, y, w, h = shape["x"], shape["y"], shape["w"], shape["h"]
    centre = _number(x + w / 2)
    return (
        f'<g class="layer" data-name="{xml_text(shape["name"])}" data-layers="{shape["layers"]}">'
        f"<title>{xml_text(shape['tooltip'])}</title>"
        f'<rect class="box {shape["style"]}" x="{_number(x)}" y="{_number(y)}" width="{_number(w)}" '
        f'height="{_number(h)}" rx="6"/>'
        f'<text class="head" x="{centre}" y="{_number(y + 19)}" text-anchor="middle">{xml_text(shape["head"])}</text>'
        f'<text class="info" x="{centre}" y="{_number(y + 36)}" text-anchor="middle">{xml_text(shape["info"])}</text>'
        "</g>"
    )


def _frame(shape: dict[str, Any]) -> str:
    x, y = shape["x"], shape["y"]
    repeat = f' data-repeat="{shape["count"]}"' if shape["style"] == "repeat" else ""
    badge = f'<tspan class="badge">{xml_text(shape["badge"])}</tspan>  ' if shape["badge"] else ""
    return (
        f'<g class="frame"{repeat}><rect class="{shape["style"]}" x="{_number(x)}" y="{_number(y)}" '
        f'width="{_number(shape["w"])}" height="{_number(shape["h"])}" rx="9"/>'
        f'<text class="label" x="{_number(x + 9)}" y="{_number(y + 16)}" xml:space="preserve">{badge}'
        f"{xml_text(shape['label'])}</text></g>"
    )


def _edge(shape: dict[str, Any]) -> str:
    path = " ".join(f"{'M' if i == 0 else 'L'} {_number(x)} {_number(y)}" for i, (x, y) in enumerate(shape["points"]))
    arrow = ' marker-end="url(#arrow)"' if shape["arrow"] else ""
    return f'<path class="edge" d="{path}"{arrow}/>'


def _dot(shape: dict[str, Any]) -> str:
    return f'<circle class="dot" cx="{_number(shape["x"])}" cy="{_number(shape["y"])}" r="3"/>'


def _text(shape: dict[str, Any]) -> str:
    x, y = _number(shape["x"]), _number(shape["y"])
    return f'<text class="{shape["style"]}" x="{x}" y="{y}">{xml_text(shape["text"])}</text>'


_SHAPES = {"box": _box, "frame": _frame, "edge": _edge, "dot": _dot, "text": _text}
