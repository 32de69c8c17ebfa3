"""The Layer base class: what every backend layer holds and the two methods it must have."""

from __future__ import annotations

from typing import Any

import numpy as np


class Layer:
    """One IR layer as a NumPy stage: forward(x, train) and backward(dout), shapes read from the IR node.

    `params` and `grads` share keys ("W", "b", ...); `buffers` hold non-trainable state. The model sets
    `needs_input_grad` to False on the first layer, whose input gradient nobody uses.
    """

    def __init__(self, node: dict[str, Any], params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
        self.name: str = node["name"]
        self.node = node
        self.args: dict[str, Any] = node.get("args", {})
        self.in_shape: tuple[int, ...] = tuple(node["in_shape"])
        self.out_shape: tuple[int, ...] = tuple(node["out_shape"])
        self.params = params
        self.buffers = buffers
        self.grads: dict[str, np.ndarray] = {}
        self.needs_input_grad = True

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.in_shape} -> {self.out_shape})"
