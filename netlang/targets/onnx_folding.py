"""Reading ONNX nodes' settings: attributes as Python values, and the nodes that compute settings (a Reshape's
shape) rather than values of the network, folded.

PyTorch writes `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape. These rules follow
such arithmetic on shapes with the batch size unknown (BATCH), so that the Reshape rule (onnx_rules.py) can
see that each sample becomes a vector. Constant nodes become constants, like initializers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netlang.errors import ShapeError

BATCH = None  # the batch size in a folded shape vector: not known until run time


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (a float as the shortest decimal of its float32)."""
    found: dict[str, Any] = {}
    for attribute in node.attribute:
        kind = attribute.type
        if kind == 1:  # FLOAT
            found[attribute.name] = short_float(attribute.f)
        elif kind == 2:  # INT
            found[attribute.name] = int(attribute.i)
        elif kind == 3:  # STRING
            found[attribute.name] = attribute.s.decode("utf-8", "replace")
        elif kind == 6:  # FLOATS
            found[attribute.name] = [short_float(value) for value in attribute.floats]
        elif kind == 7:  # INTS
            found[attribute.name] = [int(value) for value in attribute.ints]
        else:
            found[attribute.name] = attribute
    return found


def short_float(value: float) -> float:
    """1e-05, not 9.99999974738e-06: the float32 an attribute holds, as the shortest decimal that is it."""
    return float(str(np.float32(value)))


def constant(importer: Any, node: Any) -> None:
    a = attributes(node)
    if "value" in a:
        importer.constants[node.output[0]] = importer.tensor_array(a["value"].t)
    elif "value_ints" in a or "value_int" in a:
        importer.constants[node.output[0]] = np.array(a.get("value_ints", a.get("value_int")), np.int64)
    elif "value_floats" in a or "value_float" in a:
        importer.constants[node.output[0]] = np.array(a.get("value_floats", a.get("value_float")), np.float32)
    else:
        raise ShapeError("a Constant netlang cannot read (a sparse or string tensor)")


def shape(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    full = (BATCH, *x.onnx_shape)
    importer.shape_vectors[node.output[0]] = full[a.get("start", 0): a.get("end", len(full))]


def gather(importer: Any, node: Any) -> None:
    data = shape_vector(importer, node.input[0])
    indices = importer.constant(node, 1)
    if attributes(node).get("axis", 0) != 0 or indices.size > len(data) or indices.ndim > 1:
        raise ShapeError("netlang folds a Gather only of single entries of a shape")
    importer.shape_vectors[node.output[0]] = tuple(data[int(i)] for i in indices.reshape(-1))


def reshaping_constant(importer: Any, node: Any) -> None:
    """Unsqueeze, Squeeze, Cast of folded shape values: the same entries."""
    importer.shape_vectors[node.output[0]] = shape_vector(importer, node.input[0])


def shape_vector(importer: Any, name: str) -> tuple:
    if name in importer.shape_vectors:
        return importer.shape_vectors[name]
    if name in importer.constants:
        array = importer.constants[name]
        if array.dtype.kind not in "iu" or array.ndim > 1 or array.size > 32:
            raise ShapeError(f"'{name}' is not a shape (whole numbers, one axis)")
        return tuple(int(value) for value in array.reshape(-1))
    raise ShapeError(f"'{name}' is computed from the network's values; netlang folds only constant shapes")
