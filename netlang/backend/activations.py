"""Element-wise activations and softmax: each forward beside its backward, inputs never written to."""

from __future__ import annotations

import numpy as np

from netlang.backend.base import Layer, memory_order
from netlang.errors import TrainingError


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow warnings: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def stable_softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, max-subtracted so exp never overflows."""
    shifted = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


class Relu(Layer):
    keeps_no_io = True

    def forward(self, x, train):
        self.mask = np.greater(x, 0, out=self.scratch_like("mask", x, bool) if train else None)
        return np.multiply(x, self.mask, out=self.output(x.shape, x.dtype, x, train, memory_order(x)))

    def backward(self, dout):
        return np.multiply(dout, self.mask, out=self.input_grad(dout.shape, dout.dtype, dout, memory_order(dout)))


class LeakyRelu(Layer):
    def forward(self, x, train):
        self.positive = x > 0
        return np.where(self.positive, x, self.args.get("alpha", 0.01) * x)

    def backward(self, dout):
        return np.where(self.positive, dout, self.args.get("alpha", 0.01) * dout)


class Prelu(Layer):
    """Leaky ReLU with a learnable slope per channel (C×H×W input) or per feature (vector input)."""

    def _per_channel(self, values: np.ndarray, ndim: int) -> np.ndarray:
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


class Elu(Layer):
    def forward(self, x, train):
        alpha = self.args.get("alpha", 1.0)
        self.positive = x > 0
        self.exp_part = alpha * np.expm1(np.minimum(x, 0))
        return np.where(self.positive, x, self.exp_part)

    def backward(self, dout):
        alpha = self.args.get("alpha", 1.0)
        return dout * np.where(self.positive, 1, self.exp_part + alpha)


class Sigmoid(Layer):
    def forward(self, x, train):
        self.out = stable_sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class Tanh(Layer):
    def forward(self, x, train):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out * self.out)


class Swish(Layer):
    """x * sigmoid(x); derivative s + x s (1 - s)."""

    def forward(self, x, train):
        self.x = x
        self.s = stable_sigmoid(x)
        return x * self.s

    def backward(self, dout):
        return dout * (self.s * (1 + self.x * (1 - self.s)))


class Identity(Layer):
    def forward(self, x, train):
        return x

    def backward(self, dout):
        return dout


class Step(Layer):
    """1 where x > 0, else 0. Its gradient is zero almost everywhere, so training through it is refused."""

    def forward(self, x, train):
        return (x > 0).astype(x.dtype)

    def backward(self, dout):
        raise TrainingError(
            f"layer '{self.name}' (step) has no useful gradient; use sigmoid or relu to train this network"
        ).at(self.node.get("pos"))


class Softmax(Layer):
    """Softmax over features. The model fuses a final softmax into the cross-entropy loss instead."""

    def forward(self, x, train):
        self.out = stable_softmax(x)
        return self.out

    def backward(self, dout):
        inner = (dout * self.out).sum(axis=-1, keepdims=True)
        return self.out * (dout - inner)
