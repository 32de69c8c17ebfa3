"""swish: x · sigmoid(x); its derivative is s + x·s·(1 − s)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.memory.layer import LayerMemory
from netlang.memory.layer import stable_sigmoid as memory_of_stable_sigmoid
from netlang.ops.base import Op
from netlang.ops.sigmoid import stable_sigmoid


class Swish(Layer):
    def forward(self, x, train):
        self.x = x
        self.s = stable_sigmoid(x)
        return x * self.s

    def backward(self, dout):
        return dout * (self.s * (1 + self.x * (1 - self.s)))


class SwishMemory(LayerMemory):
    def forward(self, x, train):
        self.x = x
        self.s = memory_of_stable_sigmoid(self, x, "activations")
        return self.like(x, kind="activations")

    def backward(self, dout):
        value = self.like(dout)  # 1 - s
        value = self.result(value)  # x * it
        value = self.like(value)  # 1 + it (NumPy reuses no temporary for an operation with a Python number)
        value = self.result(value)  # s * it
        return self.result(value, "activations")  # dout * it


OP = Op("swish", "x · sigmoid(x)", Swish, memory=SwishMemory, activation=True, checks=(("swish", "2x3x3"),))
