"""Layers that shape training rather than the function: batch normalisation and (inverted) dropout."""

from __future__ import annotations

import numpy as np

from netlang.backend.base import Layer


class BatchNorm(Layer):
    """Normalise per feature (vector input) or per channel over N, H, W (image input).

    Training uses batch statistics and updates running = momentum*running + (1-momentum)*batch
    (biased batch variance, as in the book); inference uses the running averages.
    """

    def _axes(self, x: np.ndarray) -> tuple[int, ...]:
        return (0,) + tuple(range(2, x.ndim))

    def _per_channel(self, values: np.ndarray, ndim: int) -> np.ndarray:
        return values.reshape((-1,) + (1,) * (ndim - 2))

    def forward(self, x, train):
        eps = self.args.get("eps", 1e-5)
        gamma = self._per_channel(self.params["gamma"], x.ndim)
        beta = self._per_channel(self.params["beta"], x.ndim)
        mean_buf, var_buf = self.buffers["running_mean"], self.buffers["running_var"]
        if not train:
            scale = gamma / np.sqrt(self._per_channel(var_buf, x.ndim) + eps)
            return (x - self._per_channel(mean_buf, x.ndim)) * scale + beta
        axes = self._axes(x)
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + eps)
        self.x_hat = centred * self.inv_std
        momentum = self.args.get("momentum", 0.9)
        mean_buf *= momentum
        mean_buf += (1 - momentum) * mean.reshape(-1)
        var_buf *= momentum
        var_buf += (1 - momentum) * var.reshape(-1)
        return self.x_hat * gamma + beta

    def backward(self, dout):
        axes = self._axes(dout)
        self.grads["gamma"] = (dout * self.x_hat).sum(axis=axes)
        self.grads["beta"] = dout.sum(axis=axes)
        if not self.needs_input_grad:
            return None
        gamma = self._per_channel(self.params["gamma"], dout.ndim)
        dx_hat = dout * gamma
        mean_dx_hat = dx_hat.mean(axis=axes, keepdims=True)
        mean_dx_hat_x_hat = (dx_hat * self.x_hat).mean(axis=axes, keepdims=True)
        return (dx_hat - mean_dx_hat - self.x_hat * mean_dx_hat_x_hat) * self.inv_std


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability 1-ratio and scale by 1/(1-ratio).

    `rng` is the model's generator (set by the model), so masks are reproducible from the build seed.
    """

    rng: np.random.Generator

    def forward(self, x, train):
        ratio = self.args.get("ratio", 0.5)
        if not train or ratio == 0:
            self.scaled_mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= ratio
        self.scaled_mask = keep * np.asarray(1.0 / (1.0 - ratio), dtype=x.dtype)
        return x * self.scaled_mask

    def backward(self, dout):
        if self.scaled_mask is None:
            return dout
        return dout * self.scaled_mask
