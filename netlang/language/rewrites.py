"""The front end's rewrites and checks past the schema, each a pass from IR to IR (compiler.py lists them).

- check_last_only: an op that may only end the network (softmax: the losses expect it there) ends it.
- insert_implicit_flattens: where an image meets an op that flattens it (affine), a `flatten` layer is put in
  the IR, marked implicit, so reports, weights and every target see the reshape.
"""

from __future__ import annotations

from math import prod
from typing import Any

from netlang.errors import ShapeError
from netlang.language.infer import annotate
from netlang.ops import OPS


def check_last_only(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """The IR unchanged; ShapeError at the first layer whose op must be last but is followed by another."""
    layers = ir["layers"]
    for layer, following in zip(layers, layers[1:], strict=False):
        if OPS[layer["op"]].last_only:
            raise ShapeError(
                f"{layer['op']} may only be the last layer (the losses expect it there); "
                f"'{layer['name']}' is followed by '{following['name']}'"
            ).at(layer.get("pos"), ir.get("source") or filename)
    return ir


def insert_implicit_flattens(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Shape-inferred IR -> the same with an implicit `flatten` before each flattening op whose input is an
    image, named flattenN after the flattens already there (and any other name taken)."""
    names = {layer["name"] for layer in ir["layers"]}
    count = sum(1 for layer in ir["layers"] if layer["op"] == "flatten")
    layers = []
    for layer in ir["layers"]:
        if OPS[layer["op"]].flattens_images and len(layer["in_shape"]) == 3:
            count += 1
            while f"flatten{count}" in names:
                count += 1
            implicit = {"name": f"flatten{count}", "op": "flatten", "args": {}, "implicit": True}
            if "pos" in layer:
                implicit["pos"] = layer["pos"]
            annotate(implicit, layer["in_shape"], ir.get("source") or filename)
            layers.append(implicit)
            layer = {**layer, "in_shape": [prod(layer["in_shape"])]}
        layers.append(layer)
    return {**ir, "layers": layers}
