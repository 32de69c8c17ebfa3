"""dropout: inverted dropout of a fraction RATIO of the units, in training only.

In training each unit is kept with probability 1 − ratio and scaled by 1 / (1 − ratio). `rng` is the model's
generator (set by the model), so masks are reproducible from the build seed.
"""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
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


OP = Op(
    "dropout", "inverted dropout of a fraction RATIO of the units, in training only", Dropout,
    positional=(
        Arg("ratio", "real", "the dropout ratio (like 0.5)", noun="the dropout ratio",
            bounds={"minimum": 0, "exclusiveMaximum": 1}),
    ),
    checks=(("dropout 0.4", "3x4x4"),),
)
