"""tanh: the hyperbolic tangent."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.ops.base import Op


class Tanh(Layer):
    def forward(self, x, train):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out * self.out)


OP = Op("tanh", "hyperbolic tangent", Tanh, activation=True, checks=(("tanh", "7"),))
