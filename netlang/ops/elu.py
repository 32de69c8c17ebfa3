"""elu: x where x > 0, else alpha·(exp(x) − 1)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Arg, Op


class Elu(Layer):
    def forward(self, x, train):
        alpha = self.args.get("alpha", 1.0)
        self.positive = x > 0
        self.exp_part = alpha * np.expm1(np.minimum(x, 0))
        return np.where(self.positive, x, self.exp_part)

    def backward(self, dout):
        alpha = self.args.get("alpha", 1.0)
        return dout * np.where(self.positive, 1, self.exp_part + alpha)


class EluMemory(LayerMemory):
    def forward(self, x, train):
        self.positive = self.like(x, BOOL, "activations")
        lower = self.like(x)  # np.minimum(x, 0)
        exp = self.like(x)  # expm1 of it
        del lower
        self.exp_part = self.like(exp, kind="activations")  # alpha * it
        del exp
        return self.like(x, kind="activations")

    def backward(self, dout):
        shifted = self.like(dout)  # exp_part + alpha
        chosen = self.like(dout)  # np.where(...)
        del shifted
        return self.result(chosen, "activations")  # dout * it


OP = Op(
    "elu", "x where x > 0, else alpha·(exp(x) − 1)", Elu, memory=EluMemory,
    positional=(
        Arg("alpha", "real", "the saturation value alpha", noun="alpha", required=False, default=1.0,
            bounds={"exclusiveMinimum": 0}),
    ),
    activation=True, relu_family=True, checks=(("elu 0.7", "8"),),
)
