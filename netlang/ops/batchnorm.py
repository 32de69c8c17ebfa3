"""batchnorm: batch normalisation, per feature (vector input) or per channel over N, H, W (image input), with
a learned scale and shift.

Training uses batch statistics and updates running = momentum·running + (1 − momentum)·batch (biased batch
variance, as in the book); inference uses the running averages. When a training step runs in shards on threads
of their own (netlang/backend/parallel.py), the shards' copies of the layer combine their sums, so every shard
normalises with the whole batch's statistics, as one pass would: forward_steps and backward_steps yield each
per-channel part and are sent back its total over the shards (base.run_steps), whether the shards run on
threads (through a ShardSync) or in turn on one (Model's lockstep).
"""

from __future__ import annotations

from netlang.backend.base import Layer, apply_per_channel, channel_dots, channel_sums, memory_order, run_steps
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Arg, Op, Param, per_channel


class BatchNorm(Layer):
    """forward keeps x - mean (its own work array) and the per-channel 1/std; backward reads nothing else, so
    the arrays it is handed and returns may live in shared buffers (keeps_no_io).

    Per-channel sums are BLAS matrix-vector products (channel_sums), per-channel sums of products one einsum
    pass each (channel_dots), so no product is written out. The normalised x_hat = (x - mean) / std is never
    written either: out = (x - mean) * (gamma / std) + beta, and backward folds 1/std into per-channel factors.
    backward needs no pass for the means of dx_hat and dx_hat * x_hat: with dx_hat = gamma * dout they are
    gamma times the sums that give beta's and gamma's gradients, so
    dx = gamma / std * (dout - (sum(dout) + x_hat * sum(dout * x_hat)) / M).
    """

    keeps_no_io = True
    batch_statistics = True
    # Set by the model for a sharded step: the shards' common ShardSync and this shard's index in it.
    sync = None
    shard = 0

    def _total(self, part):
        """The sum of a per-channel array over the whole batch: this shard's part, or all shards' parts."""
        return part if self.sync is None else self.sync.total(self.shard, part)

    def forward(self, x, train):
        if not train:  # no statistics to gather: not through the generator (per-layer cost at batch 1)
            return self._inference(x)
        return run_steps(self.forward_steps(x, train), self._total)

    def _inference(self, x):
        """Normalised by the running averages."""
        eps, gamma, beta = self.args.get("eps", 1e-5), self.params["gamma"], self.params["beta"]
        out = self.output(x.shape, x.dtype, x, False, memory_order(x))
        apply_per_channel(np.subtract, x, self.buffers["running_mean"].astype(x.dtype), out)
        apply_per_channel(np.multiply, out, (gamma / np.sqrt(self.buffers["running_var"] + eps)).astype(x.dtype), out)
        return apply_per_channel(np.add, out, beta, out)

    def backward(self, dout):
        return run_steps(self.backward_steps(dout), self._total)

    def forward_steps(self, x, train):
        """forward(), as a generator that yields each per-channel part and is sent its total."""
        eps = self.args.get("eps", 1e-5)
        gamma, beta = self.params["gamma"], self.params["beta"]
        mean_buf, var_buf = self.buffers["running_mean"], self.buffers["running_var"]
        if not train:
            return self._inference(x)
        out = self.output(x.shape, x.dtype, x, train, memory_order(x))
        count = x.size // x.shape[1]  # values per channel in this part of the batch
        totals = yield np.concatenate([[count], channel_sums(x)])  # in float64
        self.batch_count = totals[0]
        self.batch_share = count / totals[0]  # this shard's share of the batch (1 unsharded)
        mean = totals[1:] / totals[0]
        centered = apply_per_channel(np.subtract, x, mean.astype(x.dtype), self.scratch_like("centered", x, x.dtype))
        var = (yield channel_dots(centered, centered)) / totals[0]
        self.inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        self.centered = centered
        apply_per_channel(np.multiply, centered, gamma * self.inv_std, out)
        apply_per_channel(np.add, out, beta, out)
        if self.shard == 0:  # the buffers are shared between shards: one updates them for the whole batch
            momentum = self.args.get("momentum", 0.9)
            mean_buf *= momentum
            mean_buf += (1 - momentum) * mean.astype(mean_buf.dtype)
            var_buf *= momentum
            var_buf += (1 - momentum) * var.astype(var_buf.dtype)
        return out

    def backward_steps(self, dout):
        """backward(), as a generator that yields its per-channel part and is sent its total."""
        centered, inv_std = self.centered, self.inv_std
        sum_dout, sum_dout_x_hat = channel_sums(dout), channel_dots(dout, centered) * inv_std
        self.grads["gamma"] = sum_dout_x_hat
        self.grads["beta"] = sum_dout
        if not self.needs_input_grad:
            return None
        # A shard's dout is that of its own mean loss; scaled by its share it is the whole loss's, and the
        # means over the whole batch come from the sum of the shards' scaled parts.
        share = self.batch_share
        totals = yield np.concatenate([share * sum_dout, share * sum_dout_x_hat])
        channels = dout.shape[1]
        per_value = self.batch_count * share
        shift = (totals[:channels] / per_value).astype(dout.dtype)
        slope = (totals[channels:] / per_value).astype(dout.dtype)
        dx = self.input_grad(dout.shape, dout.dtype, dout, memory_order(dout))
        apply_per_channel(np.multiply, centered, -slope * inv_std, dx)
        dx += dout
        apply_per_channel(np.subtract, dx, shift, dx)
        return apply_per_channel(np.multiply, dx, self.params["gamma"] * inv_std, dx)


class BatchNormMemory(LayerMemory):
    def _channel_sums(self, a):
        """channel_sums(a): on channels-last images, a vector of ones as long as the pixels of the batch."""
        if len(a.shape) > 2 and a.order == "nhwc":
            self.spike(a.size // a.shape[1] * a.itemsize)

    def forward(self, x, train):
        out = self.output(x.shape, train, x.order)
        if not train:
            return out
        self._channel_sums(x)
        self.centered = self.scratch("centered", x.shape, kind="activations", order=x.order)
        return out

    def backward(self, dout):
        self._channel_sums(dout)
        self.set_grad("gamma")
        self.set_grad("beta")
        if not self.needs_input_grad:
            return None
        return self.input_grad(dout.shape, dout.order)


OP = Op(
    "batchnorm", "batch normalisation (per channel on images) with learned scale and shift", BatchNorm,
    memory=BatchNormMemory,
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
