"""step: 1 where x > 0, else 0. Its gradient is zero almost everywhere, so training through it is refused."""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.errors import TrainingError
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import Op


class Step(Layer):
    def forward(self, x, train):
        return (x > 0).astype(x.dtype)

    def backward(self, dout):
        raise TrainingError(
            f"layer '{self.name}' (step) has no useful gradient; use sigmoid or relu to train this network"
        ).at(self.node.get("pos"))


class StepMemory(LayerMemory):
    def forward(self, x, train):
        self.spike(x.size * BOOL)  # x > 0
        return self.like(x, kind="activations")

    def backward(self, dout):
        return self.like(dout, kind="activations")


OP = Op(
    "step", "1 where x > 0, else 0 (no gradient: inference only)", Step, memory=StepMemory,
    activation=True, differentiable=False, checks=(("step", "5"),),
)
