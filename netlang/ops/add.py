"""add: the sum of a group's branches, written `(a + b)`; every branch must give the same shape."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.errors import ShapeError
from netlang.ops.base import Args, Op, Shape, describe


class Add(Layer):
    """The sum of its inputs; each input's gradient is the output's."""

    def forward(self, xs, train):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        return out

    def backward(self, dout):
        return [dout] * len(self.in_shapes)


def _out_shape(args: Args, in_shapes: list[Shape]) -> Shape:
    if any(shape != in_shapes[0] for shape in in_shapes[1:]):
        shapes = ", ".join(describe(shape) for shape in in_shapes)
        raise ShapeError(
            f"the branches of a sum must give one shape, but they give {shapes}; make them agree "
            f"(a 1x1 conv with the channels and stride that fit, say), or join them with '|' to concatenate"
        )
    return list(in_shapes[0])


def _macs(args: Args, in_shapes: list[Shape], out_shape: Shape) -> int:
    return 0


OP = Op(
    "add", "the sum of a group's branches: (a + b)", Add, out_shape=_out_shape, macs=_macs, merge=True,
    checks=(("(affine 3 + affine 3)", "4"), ("(conv 2 3x3 pad 1 + identity + pool avg 3 stride 1 pad 1)", "2x4x4")),
)
