"""add: the sum of a group's branches, written `(a + b)`; every branch must give the same shape."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.errors import ShapeError
from netlang.memory.layer import LayerMemory
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


class AddMemory(LayerMemory):
    def forward(self, xs, train):
        return self.like(xs[0], kind="activations")

    def backward(self, dout):
        return [dout] * len(self.in_shapes)


def _out_shape(args: Args, in_shapes: list[Shape]) -> Shape:
    if any(shape != in_shapes[0] for shape in in_shapes[1:]):
        shapes = ", ".join(f"branch {k} {describe(shape)}" for k, shape in enumerate(in_shapes, start=1))
        raise ShapeError(
            f"the branches of a sum must give one shape, but they give {shapes}; {_fit_hint(in_shapes)}, "
            "or join them with '|' to concatenate"
        )
    return list(in_shapes[0])


def _fit_hint(in_shapes: list[Shape]) -> str:
    """What would make the other branches give the first one's shape."""
    target = in_shapes[0]
    for k, shape in enumerate(in_shapes[1:], start=2):
        if shape == target:
            continue
        if len(shape) == len(target) == 3:
            scale_h, scale_w = shape[1] // target[1], shape[2] // target[2]
            if shape[1] == scale_h * target[1] and shape[2] == scale_w * target[2]:
                stride = f" stride {scale_h}" if scale_h == scale_w and scale_h > 1 else (
                    f" stride {scale_h}x{scale_w}" if (scale_h, scale_w) != (1, 1) else "")
                return f"to give branch {k} {describe(target)} too, end it with 'conv {target[0]} 1x1{stride}'"
        if len(shape) == len(target) == 1:
            return f"to give branch {k} {describe(target)} too, end it with 'affine {target[0]}'"
    return f"make every branch give {describe(target)}"


def _macs(args: Args, in_shapes: list[Shape], out_shape: Shape) -> int:
    return 0


OP = Op(
    "add", "the sum of a group's branches: (a + b)", Add, memory=AddMemory, out_shape=_out_shape, macs=_macs,
    merge=True,
    checks=(("(affine 3 + affine 3)", "4"), ("(conv 2 3x3 pad 1 + identity + pool avg 3 stride 1 pad 1)", "2x4x4")),
)
