"""dropout: inverted dropout of a fraction RATIO of the units, in training only.

In training each unit is kept with probability 1 − ratio and scaled by 1 / (1 − ratio). `rng` is the model's
generator (set by the model), so masks are reproducible from the build seed.
"""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Arg, Op


class Dropout(Layer):
    draws_random = True

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


class DropoutMemory(LayerMemory):
    def forward(self, x, train):
        if not train or self.args.get("ratio", 0.5) == 0:
            self.scaled_mask = None
            return x
        draws = self.new(x.shape, 4)  # float32 draws
        keep = self.like(x, BOOL)
        del draws
        self.scaled_mask = self.like(x, x.itemsize, "activations")
        self.casting(x.size)  # keep times the scale
        del keep
        return self.like(x, kind="activations")

    def backward(self, dout):
        if self.scaled_mask is None:
            return dout
        return self.like(dout, kind="activations")


OP = Op(
    "dropout", "inverted dropout of a fraction RATIO of the units, in training only", Dropout, memory=DropoutMemory,
    positional=(
        Arg("ratio", "real", "the dropout ratio (like 0.5)", noun="the dropout ratio",
            bounds={"minimum": 0, "exclusiveMaximum": 1}),
    ),
    checks=(("dropout 0.4", "3x4x4"),),
)
