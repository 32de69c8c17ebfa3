"""Shape arithmetic, written once: for each op, its output shape, parameter shapes and multiply-accumulates.

Shapes exclude the batch dimension. Every rule is a pure function of (args, in_shape); a rule that cannot
apply raises ShapeError without a location, and the inference stage adds the layer's position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

from netlang.errors import ShapeError

Shape = list[int]
Args = dict[str, Any]


@dataclass(frozen=True)
class ShapeRule:
    """How one op transforms shapes: output shape, (trainable, non-trainable) parameter shapes, and MACs."""

    out_shape: Callable[[Args, Shape], Shape]
    param_shapes: Callable[[Args, Shape], tuple[dict[str, Shape], dict[str, Shape]]] = lambda args, shape: ({}, {})
    macs: Callable[[Args, Shape, Shape], int] = lambda args, in_shape, out_shape: 0


def describe(shape: Shape) -> str:
    """A shape in words: 'a 30×24×24 image' or 'a vector of 100'."""
    if len(shape) == 1:
        return f"a vector of {shape[0]}"
    return f"a {'×'.join(map(str, shape))} image"


def window_out(size: int, kernel: int, stride: int, pad: int, rounding: str, axis: str) -> int:
    """The output length of a sliding window: (size + 2·pad − kernel) / stride + 1, rounded as the spec asks."""
    padded = size + 2 * pad
    if kernel > padded:
        padding = f" ({size} + 2×{pad})" if pad else ""
        raise ShapeError(f"the kernel {axis} {kernel} is larger than the padded input {axis} {padded}{padding}")
    steps, remainder = divmod(padded - kernel, stride)
    if remainder == 0 or rounding == "floor":
        return steps + 1
    if rounding == "ceil":
        out = steps + 2
        # As Caffe and PyTorch do: the last window must start inside the input or its left padding.
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    exact = (padded - kernel) / stride + 1
    raise ShapeError(
        f"the output {axis} ({size} + 2×{pad} − {kernel}) / {stride} + 1 = {exact:.4g} is not a whole number; "
        "change the sizes, or add 'round floor' to the layer to drop the last partial window"
    )


def _needs_image(op: str, in_shape: Shape) -> None:
    if len(in_shape) != 3:
        raise ShapeError(f"{op} needs an image input (C×H×W), but its input is {describe(in_shape)}")


def _window_shape(args: Args, in_shape: Shape, channels: int) -> Shape:
    (kh, kw), (sh, sw), (ph, pw) = args["kernel"], args["stride"], args["pad"]
    rounding = args.get("round", "exact")
    return [
        channels,
        window_out(in_shape[1], kh, sh, ph, rounding, "height"),
        window_out(in_shape[2], kw, sw, pw, rounding, "width"),
    ]


def _conv_out(args: Args, in_shape: Shape) -> Shape:
    _needs_image("conv", in_shape)
    return _window_shape(args, in_shape, args["filters"])


def _conv_params(args: Args, in_shape: Shape) -> tuple[dict[str, Shape], dict[str, Shape]]:
    kh, kw = args["kernel"]
    return {"W": [args["filters"], in_shape[0], kh, kw], "b": [args["filters"]]}, {}


def _conv_macs(args: Args, in_shape: Shape, out_shape: Shape) -> int:
    kh, kw = args["kernel"]
    return prod(out_shape) * in_shape[0] * kh * kw


def _pool_out(args: Args, in_shape: Shape) -> Shape:
    _needs_image("pool", in_shape)
    if args["pad"][0] * 2 > args["kernel"][0] or args["pad"][1] * 2 > args["kernel"][1]:
        raise ShapeError(
            f"the pooling pad {args['pad'][0]}x{args['pad'][1]} is more than half the window "
            f"{args['kernel'][0]}x{args['kernel'][1]}: some windows would see only padding"
        )
    return _window_shape(args, in_shape, in_shape[0])


def _vector_in(op: str, in_shape: Shape) -> None:
    if len(in_shape) != 1:
        raise ShapeError(f"{op} needs a vector input, but its input is {describe(in_shape)}; add 'flatten' first")


def _affine_out(args: Args, in_shape: Shape) -> Shape:
    _vector_in("affine", in_shape)
    return [args["units"]]


def _per_channel(names: tuple[str, ...], buffers: tuple[str, ...] = ()):
    def shapes(args: Args, in_shape: Shape) -> tuple[dict[str, Shape], dict[str, Shape]]:
        return {name: [in_shape[0]] for name in names}, {name: [in_shape[0]] for name in buffers}

    return shapes


def _same(args: Args, in_shape: Shape) -> Shape:
    return list(in_shape)


def _softmax_out(args: Args, in_shape: Shape) -> Shape:
    _vector_in("softmax", in_shape)
    return list(in_shape)


SHAPE_RULES: dict[str, ShapeRule] = {
    "conv": ShapeRule(_conv_out, _conv_params, _conv_macs),
    "pool": ShapeRule(_pool_out),
    "affine": ShapeRule(
        _affine_out,
        lambda args, in_shape: ({"W": [in_shape[0], args["units"]], "b": [args["units"]]}, {}),
        lambda args, in_shape, out_shape: in_shape[0] * args["units"],
    ),
    "flatten": ShapeRule(lambda args, in_shape: [prod(in_shape)]),
    "relu": ShapeRule(_same),
    "sigmoid": ShapeRule(_same),
    "tanh": ShapeRule(_same),
    "step": ShapeRule(_same),
    "identity": ShapeRule(_same),
    "swish": ShapeRule(_same),
    "leaky_relu": ShapeRule(_same),
    "elu": ShapeRule(_same),
    "prelu": ShapeRule(_same, _per_channel(("alpha",))),
    "softmax": ShapeRule(_softmax_out),
    "batchnorm": ShapeRule(_same, _per_channel(("gamma", "beta"), ("running_mean", "running_var"))),
    "dropout": ShapeRule(_same),
}
