"""The infer pass: a connected IR -> IR with every layer's shapes, parameter shapes, counts and costs.

Layers are visited in their (topological) order, each with the shapes of the values it reads. Idempotent:
inferring an inferred IR gives the same IR. The shape rules are the ops' own (netlang/ops).
"""

from __future__ import annotations

from math import prod
from typing import Any

from netlang.errors import NetlangError, ShapeError
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT, describe

FLOAT_BYTES = 4  # activation and parameter memory are reported for float32


def infer(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Annotate a validated IR with shapes and costs; raises ShapeError located at the offending layer.

    Positions in the IR point into the spec it came from, so errors name `ir["source"]` before `filename`.
    """
    # A new IR, the given one untouched: annotate writes only a layer's own fields, so copying each layer's
    # dict is enough (a deep copy cost a third of compiling a large network).
    result = {**ir, "input": dict(ir["input"]), "layers": [dict(layer) for layer in ir["layers"]]}
    source = ir.get("source") or filename
    in_shape = list(ir["input"]["shape"])
    if len(in_shape) == 2:
        written = "x".join(map(str, in_shape))
        raise ShapeError(
            f"the input shape must be CxHxW (like 1x28x28) or a vector size (like 784); got {written}"
        ).at(ir["input"].get("pos"), source)
    shapes = {NETWORK_INPUT: in_shape}
    for layer in result["layers"]:
        shapes[layer["name"]] = annotate(layer, [shapes[name] for name in layer["inputs"]], source)
    return result


def annotate(layer: dict[str, Any], in_shapes: list[list[int]], source: str | None) -> list[int]:
    """Write a layer's shapes and costs into it, given the shapes of its inputs; returns its output shape.

    A merge op's rules take the list of shapes; any other op's the one shape, kept as `in_shape`.
    """
    op = OPS[layer["op"]]
    in_shape: Any = [list(shape) for shape in in_shapes] if op.merge else list(in_shapes[0])
    try:
        out_shape = op.out_shape(layer["args"], in_shape)
        params, buffers = op.param_shapes(layer["args"], in_shape)
        macs = op.macs(layer["args"], in_shape, out_shape)
    except NetlangError as err:
        err.message = f"{layer['name']}: {err.message}"
        raise err.at(layer.get("pos"), source) from None
    if min(out_shape) < 1:
        raise ShapeError(f"{layer['name']}: the output would be empty ({describe(out_shape)})").at(
            layer.get("pos"), source
        )
    layer.pop("in_shape" if op.merge else "in_shapes", None)
    layer["in_shapes" if op.merge else "in_shape"] = in_shape
    layer["out_shape"] = out_shape
    layer["param_shapes"] = params
    layer["buffer_shapes"] = buffers
    layer["params"] = sum(prod(shape) for shape in params.values())
    layer["non_trainable"] = sum(prod(shape) for shape in buffers.values())
    layer["macs"] = macs
    layer["act_bytes"] = prod(out_shape) * FLOAT_BYTES
    return out_shape


def add_totals(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """The IR with its whole-network figures (`totals`) added; the last pass, once the layers are final."""
    return {**ir, "totals": totals(ir)}


def totals(ir: dict[str, Any]) -> dict[str, int]:
    """Whole-network figures: parameters (trainable / non-trainable), MACs, and float32 memory per sample."""
    trainable = sum(layer["params"] for layer in ir["layers"])
    non_trainable = sum(layer["non_trainable"] for layer in ir["layers"])
    return {
        "params": trainable + non_trainable,
        "trainable": trainable,
        "non_trainable": non_trainable,
        "macs": sum(layer["macs"] for layer in ir["layers"]),
        "param_bytes": (trainable + non_trainable) * FLOAT_BYTES,
        "act_bytes": prod(ir["input"]["shape"]) * FLOAT_BYTES + sum(layer["act_bytes"] for layer in ir["layers"]),
    }
