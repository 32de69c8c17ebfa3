"""softmax: exp(x) / sum(exp(x)) over the features; the last layer only (the losses expect it there)."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Args, Op, Shape, needs_vector


def stable_softmax(x):
    """Softmax over the last axis, max-subtracted so exp never overflows."""
    shifted = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


class Softmax(Layer):
    """The model fuses a final softmax into the cross-entropy loss instead of running this."""

    def forward(self, x, train):
        self.out = stable_softmax(x)
        return self.out

    def backward(self, dout):
        inner = (dout * self.out).sum(axis=-1, keepdims=True)
        return self.out * (dout - inner)


class SoftmaxMemory(LayerMemory):
    def forward(self, x, train):
        self.out = self.like(x, kind="activations")  # x - max, then exp and the division in place
        return self.out

    def backward(self, dout):
        self.spike(dout.nbytes)  # dout * out, summed
        difference = self.like(dout)  # dout - inner
        return self.result(difference, "activations")  # out * that


def _out_shape(args: Args, in_shape: Shape) -> Shape:
    needs_vector("softmax", in_shape)
    return list(in_shape)


OP = Op(
    "softmax", "exp(x) / sum(exp(x)); the last layer only", Softmax, memory=SoftmaxMemory,
    out_shape=_out_shape, activation=True, last_only=True, checks=(("softmax", "5"),),
)
