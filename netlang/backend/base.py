"""The Layer base class: what every backend layer holds and the two methods it must have."""

from __future__ import annotations

from typing import Any

import numpy as np


class Workspace:
    """Growable flat buffers for temporaries that live only within one layer call, shared by all layers.

    Layers run one at a time, so one buffer per slot serves every layer; it grows to the largest request.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def array(self, slot: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised array of `shape` in buffer `slot`, valid until the next request for that slot."""
        size = int(np.prod(shape))
        key = (slot, np.dtype(dtype))
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype)
            self._buffers[key] = buffer
        return buffer[:size].reshape(shape)

    def release(self) -> None:
        """Drop every buffer (after a large inference batch, say); they are re-created on demand."""
        self._buffers.clear()


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
        self._scratch: dict[str, np.ndarray] = {}
        self.workspace = Workspace()  # the model gives all its layers one shared workspace

    def scratch(self, key: str, shape: tuple[int, ...], dtype: Any, fill: float | None = None) -> np.ndarray:
        """A work array kept from call to call, because fresh large arrays cost page faults on every step.

        Only for values used inside the layer, never for what it returns: the next call overwrites it.
        `fill` is written once, when the array is created (the constant border of a padded input).
        """
        array = self._scratch.get(key)
        if array is None or array.shape != tuple(shape) or array.dtype != dtype:
            array = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
            self._scratch[key] = array
        return array

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.in_shape} -> {self.out_shape})"
