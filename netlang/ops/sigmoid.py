"""sigmoid: 1 / (1 + exp(-x)), computed without overflow (the bce loss uses the same function)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.memory.layer import stable_sigmoid as memory_of_stable_sigmoid
from netlang.ops.base import Op


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow warnings: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class Sigmoid(Layer):
    def forward(self, x, train):
        self.out = stable_sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class SigmoidMemory(LayerMemory):
    def forward(self, x, train):
        self.out = memory_of_stable_sigmoid(self, x, "activations")
        return self.out

    def backward(self, dout):
        product = self.like(dout)  # dout * out
        complement = self.like(dout)  # 1 - out
        dx = self.result(product, "activations")
        del product, complement
        return dx


OP = Op("sigmoid", "1 / (1 + exp(-x))", Sigmoid, memory=SigmoidMemory, activation=True, checks=(("sigmoid", "7"),))
