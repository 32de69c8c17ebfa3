"""flatten: C×H×W to a vector of C·H·W, row-major."""

from __future__ import annotations

from math import prod

from netlang.backend.base import Layer
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Op


class Flatten(Layer):
    def forward(self, x, train):
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape((dout.shape[0],) + self.in_shape)


class FlattenMemory(LayerMemory):
    def forward(self, x, train):
        shape = (x.shape[0], prod(x.shape[1:]))
        if len(x.shape) > 2 and x.order != "nchw":  # reshaping another memory order copies
            return self.new(shape, kind="activations")
        return x.view(shape)

    def backward(self, dout):
        return dout.view((dout.shape[0],) + self.in_shape, "nchw")


OP = Op(
    "flatten", "reshape C×H×W into a vector (row-major)", Flatten, memory=FlattenMemory,
    out_shape=lambda args, in_shape: [prod(in_shape)], checks=(("flatten", "2x3x2"),),
)
