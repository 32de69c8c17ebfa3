"""Stage 4, infer: valid IR -> IR with every layer's shapes, parameter shapes, counts and costs, plus totals.

Inserts the implicit `flatten` where an image meets `affine`, and checks what the schema cannot: sizes that
do not fit, softmax anywhere but last. Idempotent: inferring an inferred IR gives the same IR.
"""

from __future__ import annotations

import copy
from math import prod
from typing import Any

from netlang.errors import NetlangError, ShapeError
from netlang.shapes import SHAPE_RULES, describe

FLOAT_BYTES = 4  # activation and parameter memory are reported for float32


def infer(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """Annotate a validated IR with shapes and costs; raises ShapeError located at the offending layer.

    Positions in the IR point into the spec it came from, so errors name `ir["source"]` before `filename`.
    """
    result = copy.deepcopy(ir)
    source = ir.get("source") or filename
    in_shape = list(ir["input"]["shape"])
    if len(in_shape) == 2:
        written = "x".join(map(str, in_shape))
        raise ShapeError(
            f"the input shape must be CxHxW (like 1x28x28) or a vector size (like 784); got {written}"
        ).at(ir["input"].get("pos"), source)
    layers: list[dict[str, Any]] = []
    flatten_count = sum(1 for layer in ir["layers"] if layer["op"] == "flatten")
    names = {layer["name"] for layer in ir["layers"]}
    for index, layer in enumerate(result["layers"]):
        if layer["op"] == "affine" and len(in_shape) == 3:
            flatten_count += 1
            while f"flatten{flatten_count}" in names:
                flatten_count += 1
            implicit = {"name": f"flatten{flatten_count}", "op": "flatten", "args": {}, "implicit": True}
            if "pos" in layer:
                implicit["pos"] = layer["pos"]
            in_shape = _annotate(implicit, in_shape, source)
            layers.append(implicit)
        if layer["op"] == "softmax" and index != len(result["layers"]) - 1:
            raise ShapeError(
                "softmax may only be the last layer (the losses expect it there); "
                f"'{layer['name']}' is followed by '{result['layers'][index + 1]['name']}'"
            ).at(layer.get("pos"), source)
        in_shape = _annotate(layer, in_shape, source)
        layers.append(layer)
    result["layers"] = layers
    result["totals"] = totals(result)
    return result


def _annotate(layer: dict[str, Any], in_shape: list[int], source: str | None) -> list[int]:
    rule = SHAPE_RULES[layer["op"]]
    try:
        out_shape = rule.out_shape(layer["args"], in_shape)
        params, buffers = rule.param_shapes(layer["args"], in_shape)
        macs = rule.macs(layer["args"], in_shape, out_shape)
    except NetlangError as err:
        err.message = f"{layer['name']}: {err.message}"
        raise err.at(layer.get("pos"), source) from None
    if min(out_shape) < 1:
        raise ShapeError(f"{layer['name']}: the output would be empty ({describe(out_shape)})").at(
            layer.get("pos"), source
        )
    layer["in_shape"] = list(in_shape)
    layer["out_shape"] = out_shape
    layer["param_shapes"] = params
    layer["buffer_shapes"] = buffers
    layer["params"] = sum(prod(shape) for shape in params.values())
    layer["non_trainable"] = sum(prod(shape) for shape in buffers.values())
    layer["macs"] = macs
    layer["act_bytes"] = prod(out_shape) * FLOAT_BYTES
    return out_shape


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
