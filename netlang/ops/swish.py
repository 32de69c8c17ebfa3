"""swish: x · sigmoid(x); its derivative is s + x·s·(1 − s)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.ops.base import Op
from netlang.ops.sigmoid import stable_sigmoid


class Swish(Layer):
    def forward(self, x, train):
        self.x = x
        self.s = stable_sigmoid(x)
        return x * self.s

    def backward(self, dout):
        return dout * (self.s * (1 + self.x * (1 - self.s)))


OP = Op("swish", "x · sigmoid(x)", Swish, activation=True, checks=(("swish", "2x3x3"),))
