"""tanh: the hyperbolic tangent."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Op


class Tanh(Layer):
    def forward(self, x, train):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out * self.out)


class TanhMemory(LayerMemory):
    def forward(self, x, train):
        self.out = self.like(x, kind="activations")
        return self.out

    def backward(self, dout):
        square = self.like(dout)  # out * out
        complement = self.like(dout)  # 1 - that
        del square
        return self.result(complement, "activations")  # dout * that


OP = Op("tanh", "hyperbolic tangent", Tanh, memory=TanhMemory, activation=True, checks=(("tanh", "7"),))
