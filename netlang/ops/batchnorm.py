"""batchnorm: batch normalisation, per feature (vector input) or per channel over N, H, W (image input), with
a learned scale and shift.

Training uses batch statistics and updates running = momentum·running + (1 − momentum)·batch (biased batch
variance, as in the book); inference uses the running averages. When a training step runs in shards on threads
of their own (netlang/backend/parallel.py), the shards' copies of the layer combine their sums through a
ShardSync, so every shard normalises with the whole batch's statistics, as one pass would.
"""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.ops.base import Arg, Op, Param, per_channel


class BatchNorm(Layer):
    batch_statistics = True
    # Set by the model for a sharded step: the shards' common ShardSync and this shard's index in it.
    sync = None
    shard = 0

    def _axes(self, x) -> tuple[int, ...]:
        return (0,) + tuple(range(2, x.ndim))

    def _per_channel(self, values, ndim: int):
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
        if self.sync is None:
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
        else:
            mean, centred, var = self._whole_batch_statistics(x, axes)
        self.inv_std = 1.0 / np.sqrt(var + eps)
        self.x_hat = centred * self.inv_std
        momentum = self.args.get("momentum", 0.9)
        if self.shard != 0:  # the buffers are shared: one shard updates them for the whole batch
            return self.x_hat * gamma + beta
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
        if self.sync is not None:
            return self._whole_batch_input_grad(dx_hat, axes)
        mean_dx_hat = dx_hat.mean(axis=axes, keepdims=True)
        mean_dx_hat_x_hat = (dx_hat * self.x_hat).mean(axis=axes, keepdims=True)
        return (dx_hat - mean_dx_hat - self.x_hat * mean_dx_hat_x_hat) * self.inv_std

    def _whole_batch_statistics(self, x, axes):
        """(mean, x - mean, biased variance) per channel over every shard's part of the batch."""
        count = x.size // x.shape[1]
        totals = self.sync.total(self.shard, np.concatenate([[count], x.sum(axis=axes)]))
        self.batch_count = totals[0]  # per channel, over the whole batch
        self.batch_fraction = count / totals[0]  # this shard's share of the batch
        mean = self._per_channel(totals[1:] / totals[0], x.ndim).astype(x.dtype)
        centred = x - mean
        squares = self.sync.total(self.shard, (centred * centred).sum(axis=axes))
        return mean, centred, self._per_channel(squares / totals[0], x.ndim).astype(x.dtype)

    def _whole_batch_input_grad(self, dx_hat, axes):
        """The input gradient with the means over the whole batch. A shard's dout is that of its own mean
        loss: scaled by its share of the batch it is the whole loss's, and the gradient returned is scaled back."""
        share = self.batch_fraction
        channels = dx_hat.shape[1]
        sums = self.sync.total(
            self.shard, np.concatenate([share * dx_hat.sum(axis=axes), share * (dx_hat * self.x_hat).sum(axis=axes)])
        )
        mean_dx_hat = self._per_channel(sums[:channels] / self.batch_count, dx_hat.ndim).astype(dx_hat.dtype)
        mean_dx_hat_x_hat = self._per_channel(sums[channels:] / self.batch_count, dx_hat.ndim).astype(dx_hat.dtype)
        return (dx_hat - (mean_dx_hat + self.x_hat * mean_dx_hat_x_hat) / dx_hat.dtype.type(share)) * self.inv_std


OP = Op(
    "batchnorm", "batch normalisation (per channel on images) with learned scale and shift", BatchNorm,
    options=(
        Arg("momentum", "real", "the running-average momentum", required=False, default=0.9,
            bounds={"minimum": 0, "exclusiveMaximum": 1}),
        Arg("eps", "real", "the epsilon added to the variance", noun="epsilon", required=False, default=1e-5,
            bounds={"exclusiveMinimum": 0}),
    ),
    params=(Param("gamma", per_channel, "(C)", fill=1.0), Param("beta", per_channel, "(C)", fill=0.0)),
    buffers=(
        Param("running_mean", per_channel, "(C)", fill=0.0),
        Param("running_var", per_channel, "(C)", fill=1.0),
    ),
    checks=(("batchnorm", "5"), ("batchnorm", "2x3x3")),
)
