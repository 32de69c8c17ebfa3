"""flatten: C×H×W to a vector of C·H·W, row-major."""

from __future__ import annotations

from math import prod

from netlang.backend.base import Layer
from netlang.ops.base import Op


class Flatten(Layer):
    def forward(self, x, train):
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape((dout.shape[0],) + self.in_shape)


OP = Op(
    "flatten", "reshape C×H×W into a vector (row-major)", Flatten,
    out_shape=lambda args, in_shape: [prod(in_shape)], checks=(("flatten", "2x3x2"),),
)
