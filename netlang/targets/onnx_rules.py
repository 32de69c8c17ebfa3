"""The ONNX operators netlang reads: one rule per op_type, each adding the netlang layer the node means.

A rule takes the importer (netlang/targets/onnx_import.py) and the node. It reads the node's inputs as values
(`importer.value`: what a layer or the network input computes) or constants (`importer.constant`: initializers
and folded nodes), checks that netlang's op means exactly what the node does, and adds the layer
(`importer.add_layer`), or makes the node's output another name for a value (`importer.alias`). Anything netlang
cannot mean exactly raises ShapeError; the importer adds the node's name and operator to the message.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, prod
from typing import Any

import numpy as np

from netlang.errors import ShapeError
from netlang.ops.base import window_out
from netlang.targets.onnx_folding import (
    BATCH,
    attributes,
    constant,
    gather,
    reshaping_constant,
    shape,
    shape_vector,
    short_float,
)


def _image(value: Any) -> None:
    if len(value.shape) != 3 or value.shape != value.onnx_shape:
        raise ShapeError(f"its input must be an image (N, C, H, W); it is {value.onnx_shape} per sample")


def _vector(value: Any) -> None:
    if len(value.onnx_shape) != 1:
        raise ShapeError(f"its input must be a vector (N, K); it is {value.onnx_shape} per sample")


def _unused_extra_outputs(importer: Any, node: Any) -> None:
    if any(name and importer.readers.get(name) for name in node.output[1:]):
        raise ShapeError("netlang computes only its first output, and another is read")


def _window(node: Any, a: dict[str, Any], shape: list[int], kernel: list[int]) -> tuple[list[int], list[int]]:
    """(stride, symmetric padding) of a conv or pool; refuses dilation and padding netlang's layers lack."""
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise ShapeError(f"dilations {a['dilations']}: netlang's windows are not dilated")
    stride = a.get("strides", [1, 1])
    auto = a.get("auto_pad", "NOTSET")
    if auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max(0, (ceil(size / s) - 1) * s + k - size) for size, s, k in zip(shape[1:], stride, kernel,
                                                                                  strict=True)]
        if any(total % 2 for total in totals):
            raise ShapeError(f"auto_pad {auto} pads one side more ({totals}); netlang pads both sides alike")
        pads = [totals[0] // 2, totals[1] // 2] * 2
    else:
        pads = a.get("pads", [0, 0, 0, 0])
    if len(pads) != 4 or len(stride) != 2 or len(kernel) != 2:
        raise ShapeError("netlang's windows are two-dimensional")
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise ShapeError(f"pads {pads} differ at the start and the end; netlang pads both sides alike")
    return stride, pads[:2]


def _floor_rounding(shape: list[int], kernel: list[int], stride: list[int], pad: list[int]) -> str:
    """"exact" where netlang's default gives ONNX's rounded-down size as it is, else "floor"."""
    try:
        for size, k, s, p in zip(shape[1:], kernel, stride, pad, strict=True):
            window_out(size, k, s, p, "exact", "height")
    except ShapeError:
        return "floor"
    return "exact"


def conv(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    _image(x)
    weight = importer.constant(node, 1)
    if weight.ndim != 4:
        raise ShapeError(f"a weight of shape {list(weight.shape)}; netlang's conv is two-dimensional")
    if a.get("group", 1) != 1:
        raise ShapeError(f"group {a['group']}: netlang's conv is not grouped (every filter sees every channel)")
    filters, channels, *kernel = (int(size) for size in weight.shape)
    if channels != x.shape[0]:
        raise ShapeError(f"the weight has {channels} input channels, the input {x.shape[0]}")
    stride, pad = _window(node, a, x.shape, kernel)
    bias = importer.constant(node, 2, default=np.zeros(filters, np.float32))
    if bias.shape != (filters,):
        raise ShapeError(f"a bias of shape {list(bias.shape)}, expected [{filters}]")
    args = {"filters": filters, "kernel": kernel, "stride": stride, "pad": pad,
            "round": _floor_rounding(x.shape, kernel, stride, pad)}
    importer.add_layer(node, "conv", args, [x], {"W": weight, "b": bias})


def pool(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    _image(x)
    _unused_extra_outputs(importer, node)
    kind = "max" if node.op_type == "MaxPool" else "avg"
    kernel = a.get("kernel_shape", [])
    stride, pad = _window(node, a, x.shape, kernel)
    if kind == "avg" and not a.get("count_include_pad", 0) and any(pad):
        raise ShapeError("count_include_pad 0 with padding: netlang's average pooling counts the padded zeros "
                         "(as PyTorch's default does)")
    remainders = [(size + 2 * p - k) % s for size, k, s, p in zip(x.shape[1:], kernel, stride, pad, strict=True)]
    # ONNX's ceil_mode drops a window that would start in the right padding, as netlang's `round ceil` does.
    rounding = "ceil" if a.get("ceil_mode", 0) and any(remainders) else _floor_rounding(x.shape, kernel, stride, pad)
    args = {"kind": kind, "kernel": kernel, "stride": stride, "pad": pad, "round": rounding}
    importer.add_layer(node, "pool", args, [x])


def global_pool(importer: Any, node: Any) -> None:
    x = importer.value(node, 0)
    _image(x)
    kind = "avg" if node.op_type == "GlobalAveragePool" else "max"
    # ONNX keeps C×1×1; netlang's global_pool gives the vector of C that the Flatten after it makes of that.
    importer.add_layer(node, "global_pool", {"kind": kind}, [x], onnx_shape=[x.shape[0], 1, 1])


def flatten(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    rank = len(x.onnx_shape) + 1
    if a.get("axis", 1) % rank != 1:
        raise ShapeError(f"axis {a['axis']}: netlang flattens each sample (axis 1)")
    _to_vector(importer, node, x)


def _to_vector(importer: Any, node: Any, x: Any) -> None:
    target = [prod(x.onnx_shape)]
    if x.shape == target:
        importer.alias(node, x, target)
    else:
        importer.add_layer(node, "flatten", {}, [x])


def reshape(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    target = list(shape_vector(importer, node.input[1]))
    per_sample = x.onnx_shape
    if not target or (a.get("allowzero", 0) and 0 in target):
        raise ShapeError(f"the shape {target}: netlang reshapes each sample to a vector")
    first, rest = target[0], target[1:]
    rest = [per_sample[i] if size == 0 and i < len(per_sample) else size for i, size in enumerate(rest)]
    if rest.count(-1) == 1:
        known = prod(size for size in rest if size != -1)
        if known <= 0 or prod(per_sample) % known:
            raise ShapeError(f"the shape {target} does not fit {per_sample} per sample")
        rest[rest.index(-1)] = prod(per_sample) // known
    keeps_batch = first in (BATCH, 0) or (first == -1 and -1 not in rest)
    if not keeps_batch or prod(rest) != prod(per_sample) or any(size is BATCH for size in rest):
        raise ShapeError(f"the shape {target} mixes samples; netlang reshapes each sample to a vector")
    if rest == per_sample:
        importer.alias(node, x)
    elif len(rest) == 1:
        _to_vector(importer, node, x)
    else:
        raise ShapeError(f"the shape {target}: netlang reshapes each sample only to a vector")


def gemm(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    _vector(x)
    if a.get("transA", 0):
        raise ShapeError("transA 1: the input would be transposed across samples")
    weight = importer.constant(node, 1)
    weight = weight.T if a.get("transB", 0) else weight
    bias = importer.constant(node, 2, default=np.zeros(1, np.float32))
    with np.errstate(all="ignore"):  # an overflow is refused as a non-finite weight
        weight, bias = a.get("alpha", 1.0) * weight, a.get("beta", 1.0) * bias
    _affine(importer, node, x, weight, bias)


def matmul(importer: Any, node: Any) -> None:
    x = importer.value(node, 0)
    _vector(x)
    weight = importer.constant(node, 1)
    _affine(importer, node, x, weight, np.zeros(1, np.float32))


def _affine(importer: Any, node: Any, x: Any, weight: np.ndarray, bias: np.ndarray) -> None:
    if weight.ndim != 2 or weight.shape[0] != x.shape[0]:
        raise ShapeError(f"a weight of shape {list(weight.shape)} for an input of {x.shape[0]}")
    units = int(weight.shape[1])
    importer.add_layer(node, "affine", {"units": units}, [x], {"W": weight, "b": _per_unit(bias, units, 2)})


def _per_unit(array: np.ndarray, count: int, rank: int) -> np.ndarray:
    """A constant broadcast against (N, count, ...) of `rank` dimensions, as one value per channel (or unit);
    ShapeError if it varies along another axis."""
    shape = [1] * (rank - array.ndim) + list(array.shape)
    if len(shape) != rank or shape[0] != 1 or shape[1] not in (1, count) or any(size != 1 for size in shape[2:]):
        raise ShapeError(f"a tensor of shape {list(array.shape)} where netlang has one value per channel ({count})")
    return np.broadcast_to(array.reshape(-1), (count,)).copy()


def add(importer: Any, node: Any) -> None:
    constants = [name for name in node.input if importer.is_constant(name)]
    if not constants:
        _merge(importer, node, "add")
        return
    # A bias added after a MatMul (or a Conv without one): it goes into that layer's b.
    name = next(name for name in node.input if name not in constants)
    x = importer.value(node, list(node.input).index(name))
    producer = importer.producer.get(name)
    layer = importer.layer_of(x)
    if (len(constants) != 1 or producer is None or producer.op_type not in ("MatMul", "Gemm", "Conv")
            or importer.readers.get(name) != 1):
        raise ShapeError("an Add of a constant is read only as the bias of a MatMul, Gemm or Conv")
    bias = importer.constants[constants[0]]
    units = layer["args"]["units"] if layer["op"] == "affine" else layer["args"]["filters"]
    rank = 2 if layer["op"] == "affine" else 4
    with np.errstate(all="ignore"):
        total = importer.tensors[layer["name"]]["b"] + _per_unit(bias, units, rank).astype(np.float32)
    if not np.isfinite(total).all():
        raise ShapeError("the bias holds NaN or infinite values")
    importer.tensors[layer["name"]]["b"] = total
    importer.alias(node, x)


def concat(importer: Any, node: Any) -> None:
    if all(importer.is_constant(name) for name in node.input):
        vectors = [shape_vector(importer, name) for name in node.input]
        importer.shape_vectors[node.output[0]] = tuple(size for vector in vectors for size in vector)
        return
    a = attributes(node)
    rank = len(importer.value(node, 0).onnx_shape) + 1
    if a.get("axis", 1) % rank != 1:
        raise ShapeError(f"axis {a.get('axis')}: netlang concatenates along the channels (axis 1)")
    _merge(importer, node, "concat")


def _merge(importer: Any, node: Any, op: str) -> None:
    values = [importer.value(node, position) for position in range(len(node.input))]
    for value in values:
        if value.shape != value.onnx_shape:
            raise ShapeError(f"an input of shape {value.onnx_shape} that netlang holds as {value.shape}")
    importer.add_layer(node, op, {}, values)


def mul(importer: Any, node: Any) -> None:
    """x · sigmoid(x), as PyTorch writes SiLU, is netlang's swish."""
    first, second = node.input[0], node.input[1]
    for x_name, gate_name in ((first, second), (second, first)):
        gate = importer.producer.get(gate_name)
        if gate is not None and gate.op_type == "Sigmoid" and gate.input[0] == x_name and x_name in importer.values:
            importer.add_layer(node, "swish", {}, [importer.values[x_name]])
            return
    raise ShapeError("netlang reads a Mul only as x · Sigmoid(x) (swish)")


def swish(importer: Any, node: Any) -> None:
    """ONNX's own Swish (opset 24): x · sigmoid(alpha·x), netlang's swish at alpha 1."""
    alpha = attributes(node).get("alpha", 1.0)
    if alpha != 1.0:
        raise ShapeError(f"alpha {alpha}: netlang's swish is x · sigmoid(x) (alpha 1)")
    importer.add_layer(node, "swish", {}, [importer.value(node, 0)])


def batchnorm(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    _unused_extra_outputs(importer, node)
    if a.get("training_mode", 0):
        raise ShapeError("training_mode 1: netlang reads inference models")
    channels = x.shape[0]
    tensors = {}
    for position, name in enumerate(("gamma", "beta", "running_mean", "running_var"), start=1):
        tensors[name] = importer.constant(node, position)
        if tensors[name].shape != (channels,):
            raise ShapeError(f"{name} has the shape {list(tensors[name].shape)}, expected [{channels}]")
    momentum = a.get("momentum", 0.9)
    args = {"momentum": momentum if 0 <= momentum < 1 else 0.9, "eps": a.get("epsilon", 1e-5)}
    if not args["eps"] > 0:
        raise ShapeError(f"epsilon {args['eps']}: netlang's must be positive")
    importer.add_layer(node, "batchnorm", args, [x], tensors)


def prelu(importer: Any, node: Any) -> None:
    x = importer.value(node, 0)
    slope = importer.constant(node, 1)
    alpha = _per_unit(slope, x.shape[0], len(x.onnx_shape) + 1)
    importer.add_layer(node, "prelu", {}, [x], {"alpha": alpha})


def softmax(importer: Any, node: Any) -> None:
    a, x = attributes(node), importer.value(node, 0)
    _vector(x)
    if a.get("axis", -1) not in (1, -1):
        raise ShapeError(f"axis {a['axis']}: netlang's softmax is over each sample's vector")
    importer.add_layer(node, "softmax", {}, [x])


def _activation(op: str, alpha: float | None = None) -> Callable[[Any, Any], None]:
    def rule(importer: Any, node: Any) -> None:
        args = {}
        if alpha is not None:
            args["alpha"] = attributes(node).get("alpha", alpha)
            if args["alpha"] < 0 or (op == "elu" and args["alpha"] == 0):
                needed = "a positive" if op == "elu" else "a non-negative"
                raise ShapeError(f"alpha {args['alpha']}: netlang's {op} needs {needed} one")
        importer.add_layer(node, op, args, [importer.value(node, 0)])

    return rule


def dropout(importer: Any, node: Any) -> None:
    _unused_extra_outputs(importer, node)
    x = importer.value(node, 0)
    ratio = attributes(node).get("ratio", 0.5)  # before opset 12 an attribute, since then input 2
    given = importer.constant(node, 1, default=None) if len(node.input) > 1 else None
    training = importer.constant(node, 2, default=None) if len(node.input) > 2 else None
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise ShapeError("training_mode true: netlang reads inference models")
    ratio = short_float(float(np.asarray(given).reshape(-1)[0])) if given is not None else ratio
    if not 0 <= ratio < 1:
        raise ShapeError(f"ratio {ratio}: netlang's dropout ratio is in [0, 1)")
    importer.add_layer(node, "dropout", {"ratio": ratio}, [x])


def resize(importer: Any, node: Any) -> None:
    """Nearest-neighbour upsampling by whole factors, with coordinates that give each pixel a whole block."""
    a, x = attributes(node), importer.value(node, 0)
    _image(x)
    if a.get("mode", "nearest") != "nearest" or "axes" in a:
        raise ShapeError(f"mode {a.get('mode')!r}: netlang upsamples by nearest neighbour only")
    coordinates = a.get("coordinate_transformation_mode", "half_pixel")
    rounding = a.get("nearest_mode", "round_prefer_floor")
    blocks = (coordinates == "asymmetric" and rounding == "floor") or (
        coordinates in ("half_pixel", "pytorch_half_pixel") and rounding in ("round_prefer_floor", "round_prefer_ceil"))
    if not blocks:
        raise ShapeError(f"coordinate_transformation_mode {coordinates!r} with nearest_mode {rounding!r} does "
                         "not repeat each pixel as a block")
    scales = importer.constant(node, 2, default=None) if len(node.input) > 2 else None
    sizes = importer.constant(node, 3, default=None) if len(node.input) > 3 else None
    if node.op_type == "Upsample":
        scales = importer.constant(node, 1)
    if sizes is not None and sizes.size:
        raise ShapeError("sizes fix the batch size too (its first entry); netlang reads a Resize by scales")
    if scales is None or not scales.size:
        raise ShapeError("no scales given as a constant")
    factors = [float(value) for value in np.asarray(scales).reshape(-1)]
    if len(factors) != 4 or factors[:2] != [1.0, 1.0] or any(f < 1 or f != int(f) for f in factors[2:]):
        raise ShapeError(f"scales {factors}: netlang upsamples the height and width by whole factors")
    importer.add_layer(node, "upsample", {"factor": [int(factors[2]), int(factors[3])]}, [x])


def identity(importer: Any, node: Any) -> None:
    name = node.input[0]
    if name in importer.values:
        importer.alias(node, importer.values[name])
    elif name in importer.constants:
        importer.constants[node.output[0]] = importer.constants[name]
    else:
        importer.shape_vectors[node.output[0]] = shape_vector(importer, name)


RULES: dict[str, Callable[[Any, Any], None]] = {
    "Conv": conv,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "Flatten": flatten,
    "Reshape": reshape,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Concat": concat,
    "Mul": mul,
    "Swish": swish,
    "BatchNormalization": batchnorm,
    "PRelu": prelu,
    "Softmax": softmax,
    "Relu": _activation("relu"),
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "LeakyRelu": _activation("leaky_relu", 0.01),
    "Elu": _activation("elu", 1.0),
    "Dropout": dropout,
    "Resize": resize,
    "Upsample": resize,
    "Identity": identity,
    "Constant": constant,
    "Shape": shape,
    "Gather": gather,
    "Unsqueeze": reshaping_constant,
    "Squeeze": reshaping_constant,
    "Cast": reshaping_constant,
}
