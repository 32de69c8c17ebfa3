"""Fully connected layers and shape plumbing: affine (any input rank, flattened row-major) and flatten."""

from __future__ import annotations

from netlang.backend.base import Layer


class Affine(Layer):
    """out = x·W + b with W laid out (in, units); an image input is flattened row-major over (C, H, W)."""

    def forward(self, x, train):
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        out = self.x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dout @ self.params["W"].T).reshape(self.x_shape)


class Flatten(Layer):
    def forward(self, x, train):
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape((dout.shape[0],) + self.in_shape)
