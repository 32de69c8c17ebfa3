"""concat: a group's branches joined along the channel axis (the first axis of a per-sample shape; a vector's
only axis), written `(a | b)`; the branches must agree in every other axis."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.errors import ShapeError
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Args, Op, Shape, describe


class Concat(Layer):
    def forward(self, xs, train):
        self.sizes = [x.shape[1] for x in xs]
        return np.concatenate(xs, axis=1)

    def backward(self, dout):
        return np.split(dout, np.cumsum(self.sizes)[:-1], axis=1)


class ConcatMemory(LayerMemory):
    def forward(self, xs, train):
        return self.new((xs[0].shape[0],) + self.out_shape, kind="activations")

    def backward(self, dout):
        return [dout.view((dout.shape[0],) + tuple(shape)) for shape in self.in_shapes]


def _out_shape(args: Args, in_shapes: list[Shape]) -> Shape:
    rest = in_shapes[0][1:]
    if any(len(shape) != len(in_shapes[0]) or shape[1:] != rest for shape in in_shapes[1:]):
        shapes = ", ".join(describe(shape) for shape in in_shapes)
        kind = "spatial size" if len(in_shapes[0]) == 3 else "rank"
        raise ShapeError(
            f"the branches of a concatenation must agree in {kind} (they are joined along the channels), but "
            f"they give {shapes}; give every branch the same stride and padding, or pool them to one size"
        )
    return [sum(shape[0] for shape in in_shapes), *rest]


OP = Op(
    "concat", "a group's branches joined along the channels: (a | b)", Concat, memory=ConcatMemory,
    out_shape=_out_shape,
    macs=lambda args, in_shapes, out_shape: 0, merge=True,
    checks=(("(affine 3 | affine 2)", "4"), ("(conv 2 3x3 pad 1 | identity | conv 1 1x1)", "2x4x4")),
)
