"""identity: x unchanged."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Op


class Identity(Layer):
    def forward(self, x, train):
        return x

    def backward(self, dout):
        return dout


class IdentityMemory(LayerMemory):
    def forward(self, x, train):
        return x

    def backward(self, dout):
        return dout


OP = Op("identity", "x unchanged", Identity, memory=IdentityMemory, activation=True, checks=(("identity", "7"),))
