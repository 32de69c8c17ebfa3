"""The front end's rewrites and checks past the schema, each a pass from IR to IR (compiler.py lists them).

- connect_layers: every layer names its inputs (an IR of version 1, a chain, gets each layer reading the one
  before), and the graph is sound: inputs name earlier layers, merges have two or more, names are unique, and
  every layer but the last is read.
- check_last_only: an op that may only end the network (softmax: the losses expect it there) ends it.
- check_settings: what `train` and `search` would refuse, refused now: init schemes (std:0) on layers and in
  the training section, the data set's name, fields that cannot work together (patience without a
  validation split), and the search section's ranges (a backwards lr 1e-1:1e-4:log).
- check_sizes: the network within netlang/limits.py: no layer output (nor the input) above MAX_LAYER_VALUES
  values, and at most max_params() parameters, before `train` tries to allocate them.
- insert_implicit_flattens: where an image meets an op that flattens it (affine), a `flatten` layer is put in
  the IR, marked implicit, so reports, weights and every target see the reshape.
"""

from __future__ import annotations

from math import prod
from typing import Any

from netlang.errors import SchemaError, ShapeError
from netlang.language.infer import annotate
from netlang.language.trainfields import combination_problem, resolve_training
from netlang.limits import MAX_LAYER_VALUES, MAX_PARAMS_VARIABLE, max_params, raise_hint
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT, describe

IR_VERSION = 2


def connect_layers(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """A valid IR -> the same as a version-2 graph; SchemaError at the first layer that breaks the graph."""
    source = ir.get("source") or filename
    layers, seen = [], {NETWORK_INPUT}
    previous = NETWORK_INPUT
    for index, layer in enumerate(ir["layers"]):
        where = f"layers[{index}] ('{layer['name']}')"
        if layer["name"] in seen:
            raise SchemaError(f"{where}: the name '{layer['name']}' is used twice; layer names must be unique").at(
                layer.get("pos"), source
            )
        inputs = layer.get("inputs") or [previous]
        unknown = [name for name in inputs if name not in seen]
        if unknown:
            raise SchemaError(
                f"{where}: its input '{unknown[0]}' is not an earlier layer (nor 'input'); layers must come after "
                "the layers they read"
            ).at(layer.get("pos"), source)
        merge = OPS[layer["op"]].merge
        if merge and len(inputs) < 2 or not merge and len(inputs) != 1:
            wanted = "two or more inputs" if merge else "exactly one input"
            raise SchemaError(f"{where}: '{layer['op']}' takes {wanted}, got {len(inputs)}").at(
                layer.get("pos"), source
            )
        layers.append({**layer, "inputs": list(inputs)})
        seen.add(layer["name"])
        previous = layer["name"]
    read = {name for layer in layers for name in layer["inputs"]}
    unread = next((layer for layer in layers[:-1] if layer["name"] not in read), None)
    if unread is not None:
        raise SchemaError(
            f"the output of '{unread['name']}' is never read: only the last layer may be the network's output"
        ).at(unread.get("pos"), source)
    return {**ir, "netlang": IR_VERSION, "layers": layers}


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


def check_settings(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """The IR unchanged; SchemaError at the first init scheme or search range that `train` or `search`
    would refuse, with the message they give."""
    from netlang.experiments.ranges import ranges_of  # the search's own check of its ranges
    from netlang.initializers import check_scheme

    source = ir.get("source") or filename
    for layer in ir["layers"]:
        if "init" in layer["args"]:
            try:
                check_scheme(layer["args"]["init"])
            except SchemaError as err:
                pos = layer.get("arg_pos", {}).get("init") or layer.get("pos")
                raise err.at(pos, source) from None
    setting = ir.get("train", {}).get("init")
    if setting is not None:
        try:
            check_scheme(setting["value"])
        except SchemaError as err:
            raise err.at(setting.get("pos"), source) from None
    data = ir.get("train", {}).get("data")
    if data is not None:
        _check_data_name(data["value"], data.get("pos"), source)
    problem = combination_problem(resolve_training(ir))
    if problem is not None:
        field, message = problem
        raise SchemaError(message).at(ir.get("train", {}).get(field, {}).get("pos"), source)
    if ir.get("search"):
        ranges_of(ir, [])
    return ir


def _check_data_name(name: str, pos: dict[str, int] | None, source: str | None) -> None:
    """A data set named in the training section must be one netlang knows, or npz:PATH (whose file is
    `train`'s to find: a spec may be checked where its data is not)."""
    from netlang.errors import did_you_mean
    from netlang.language.schema import load_schema

    # The schema lists the data sets (a test keeps the list equal to netlang.data.SOURCES, which `check`
    # cannot import: it brings NumPy).
    known = load_schema()["properties"]["train"]["properties"]["data"]["properties"]["value"]["examples"]
    if name == "npz:":
        raise SchemaError("data source 'npz:' needs a file path, e.g. npz:data/my_set.npz").at(pos, source)
    if name.startswith("npz:") or name in known and name != "npz:PATH":
        return
    hint = did_you_mean(name.lower(), [choice for choice in known if choice != "npz:PATH"])
    raise SchemaError(f"unknown data set '{name}'; expected one of: {', '.join(known)}{hint}").at(pos, source)


def check_sizes(ir: dict[str, Any], filename: str | None = None) -> dict[str, Any]:
    """A shape-inferred IR unchanged; ShapeError at the input or the first layer whose output holds more
    than MAX_LAYER_VALUES values per sample, or at the layer that takes the network past max_params()."""
    source = ir.get("source") or filename
    shape = ir["input"]["shape"]
    if prod(shape) > MAX_LAYER_VALUES:
        raise ShapeError(
            f"the input holds {prod(shape):,} values per sample ({describe(shape)}); netlang's limit is "
            f"{MAX_LAYER_VALUES:,}"
        ).at(ir["input"].get("pos"), source)
    limit, params = max_params(), 0
    for layer in ir["layers"]:
        values = prod(layer["out_shape"])
        if values > MAX_LAYER_VALUES:
            raise ShapeError(
                f"{layer['name']}: its output holds {values:,} values per sample ({describe(layer['out_shape'])}); "
                f"netlang's limit is {MAX_LAYER_VALUES:,}"
            ).at(layer.get("pos"), source)
        params += layer["params"] + layer["non_trainable"]
        if params > limit:
            raise ShapeError(
                f"{layer['name']}: the network has {params:,} parameters up to here; the limit is {limit:,} "
                f"({raise_hint(MAX_PARAMS_VARIABLE)})"
            ).at(layer.get("pos"), source)
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
            implicit = {"name": f"flatten{count}", "op": "flatten", "args": {}, "inputs": layer["inputs"],
                        "implicit": True}
            for field in ("pos", "scope"):
                if field in layer:
                    implicit[field] = layer[field]
            annotate(implicit, [layer["in_shape"]], ir.get("source") or filename)
            layers.append(implicit)
            layer = {**layer, "inputs": [implicit["name"]], "in_shape": [prod(layer["in_shape"])]}
        layers.append(layer)
    return {**ir, "layers": layers}
