"""prelu: leaky ReLU with a learned slope per channel (C×H×W input) or per feature (vector input)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Op, Param, per_channel


class Prelu(Layer):
    def _per_channel(self, values, ndim: int):
        return values.reshape((-1,) + (1,) * (ndim - 2))

    def forward(self, x, train):
        self.x = x
        self.positive = x > 0
        alpha = self._per_channel(self.params["alpha"], x.ndim)
        return np.where(self.positive, x, alpha * x)

    def backward(self, dout):
        sum_axes = (0,) + tuple(range(2, dout.ndim))
        self.grads["alpha"] = np.where(self.positive, 0, dout * self.x).sum(axis=sum_axes)
        alpha = self._per_channel(self.params["alpha"], dout.ndim)
        return np.where(self.positive, dout, alpha * dout)


class PreluMemory(LayerMemory):
    def forward(self, x, train):
        self.x = x
        self.positive = self.like(x, BOOL, "activations")
        scaled = self.like(x)  # alpha * x
        out = self.like(x, kind="activations")
        del scaled
        return out

    def backward(self, dout):
        product = self.like(dout)  # dout * x
        chosen = self.like(dout)  # np.where(...)
        del product
        self.set_grad("alpha")
        del chosen
        scaled = self.like(dout)  # alpha * dout
        dx = self.like(dout, kind="activations")
        del scaled
        return dx


OP = Op(
    "prelu", "leaky ReLU with a learned slope per channel", Prelu, memory=PreluMemory,
    params=(Param("alpha", per_channel, "(C)", fill=0.25),),
    activation=True, relu_family=True, checks=(("prelu", "2x3x3"), ("prelu", "6")),
)
