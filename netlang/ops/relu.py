"""relu: max(0, x)."""

from __future__ import annotations

from netlang.backend.base import Layer, memory_order
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Op


class Relu(Layer):
    keeps_no_io = True

    def forward(self, x, train):
        self.mask = np.greater(x, 0, out=self.scratch_like("mask", x, bool) if train else None)
        return np.multiply(x, self.mask, out=self.output(x.shape, x.dtype, x, train, memory_order(x)))

    def backward(self, dout):
        return np.multiply(dout, self.mask, out=self.input_grad(dout.shape, dout.dtype, dout, memory_order(dout)))


class ReluMemory(LayerMemory):
    def forward(self, x, train):
        self.mask = self.scratch("mask", x.shape, BOOL, "activations", x.order) if train else self.like(x, BOOL)
        out = self.output(x.shape, train, x.order)
        self.casting(x.size)  # x times the mask
        return out

    def backward(self, dout):
        dx = self.input_grad(dout.shape, dout.order)
        self.casting(dout.size)
        return dx


OP = Op(
    "relu", "max(0, x)", Relu, memory=ReluMemory, activation=True, relu_family=True,
    checks=(("relu", "7"), ("relu", "2x3x3")),
)
