"""leaky_relu: x where x > 0, else alpha·x."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Arg, Op


class LeakyRelu(Layer):
    def forward(self, x, train):
        self.positive = x > 0
        return np.where(self.positive, x, self.args.get("alpha", 0.01) * x)

    def backward(self, dout):
        return np.where(self.positive, dout, self.args.get("alpha", 0.01) * dout)


class LeakyReluMemory(LayerMemory):
    def forward(self, x, train):
        self.positive = self.like(x, BOOL, "activations")
        scaled = self.like(x)  # alpha * x
        out = self.like(x, kind="activations")
        del scaled
        return out

    def backward(self, dout):
        scaled = self.like(dout)
        dx = self.like(dout, kind="activations")
        del scaled
        return dx


OP = Op(
    "leaky_relu", "x where x > 0, else alpha·x", LeakyRelu, memory=LeakyReluMemory,
    positional=(
        Arg("alpha", "real", "the slope for negative inputs", noun="the slope alpha", required=False, default=0.01,
            bounds={"minimum": 0}),
    ),
    activation=True, relu_family=True, checks=(("leaky_relu 0.2", "2x3x3"),),
)
