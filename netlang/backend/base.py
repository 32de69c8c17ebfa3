"""The Layer base class: what every backend layer holds and the two methods it must have."""

from __future__ import annotations

import math
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
        size = math.prod(shape)
        key = (slot, np.dtype(dtype))
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype)
            self._buffers[key] = buffer
        return buffer[:size].reshape(shape)

    def array_apart_from(
        self, slots: tuple[str, ...], shape: tuple[int, ...], dtype: Any, other: np.ndarray
    ) -> np.ndarray:
        """array() in the first of `slots` whose buffer does not overlap `other` in memory."""
        for slot in slots[:-1]:
            buffer = self._buffers.get((slot, np.dtype(dtype)))
            if buffer is None or not np.may_share_memory(buffer, other):
                return self.array(slot, shape, dtype)
        return self.array(slots[-1], shape, dtype)

    def release(self) -> None:
        """Drop every buffer (after a large inference batch, say); they are re-created on demand."""
        self._buffers.clear()


def memory_order(array: np.ndarray) -> tuple[int, ...]:
    """The axes of `array` from the outermost in memory to the innermost (by stride): output()'s `axes`."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


HANDED_ON_SLOTS = ("handed_on_a", "handed_on_b")


class Layer:
    """One IR layer as a NumPy stage: forward(x, train) and backward(dout), shapes read from the IR node.

    `params` and `grads` share keys ("W", "b", ...); `buffers` hold non-trainable state. The model sets
    `needs_input_grad` to False on the first layer, whose input gradient nobody uses.

    Subclasses whose backward reads neither forward's input nor its output array (only what the layer computed
    and kept itself), and whose forward never returns a view of its input, set `keeps_no_io`: the model may
    then hand their inputs and outputs on through shared buffers.
    """

    keeps_no_io = False

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
        # Set by the model where what forward / backward return is read by the next layer only, and then by
        # nobody: such arrays live in shared workspace buffers (output(), input_grad()).
        self.hand_on_output = False
        self.hand_on_input_grad = False

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

    def scratch_like(self, key: str, like: np.ndarray, dtype: Any) -> np.ndarray:
        """scratch() of like's shape, laid out in memory as `like` is, of `dtype`."""
        axes = memory_order(like)
        stored = self.scratch(key, tuple(like.shape[axis] for axis in axes), dtype)
        return stored.transpose(np.argsort(axes))

    def output(
        self, shape: tuple[int, ...], dtype: Any, reading: np.ndarray, train: bool, axes: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """An uninitialised array for forward to return, C-ordered or laid out in memory as `axes` (outermost
        axis first) say. `reading` is the input it is computed from.

        In training, if the model found that only the next layer reads it (hand_on_output), it lives in one of
        two shared workspace buffers, the one `reading` is not in; otherwise it is fresh. Large fresh arrays
        cost page faults on every step.
        """
        return self._handed_on(self.hand_on_output and train, shape, dtype, reading, axes)

    def input_grad(
        self, shape: tuple[int, ...], dtype: Any, reading: np.ndarray, axes: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """output() for the input gradient backward returns, computed from `reading` (dout)."""
        return self._handed_on(self.hand_on_input_grad, shape, dtype, reading, axes)

    def _handed_on(
        self, shared: bool, shape: tuple[int, ...], dtype: Any, reading: np.ndarray, axes: tuple[int, ...] | None
    ) -> np.ndarray:
        axes = tuple(range(len(shape))) if axes is None else tuple(axes)
        stored_shape = tuple(shape[axis] for axis in axes)
        if shared:
            stored = self.workspace.array_apart_from(HANDED_ON_SLOTS, stored_shape, dtype, reading)
        else:
            stored = np.empty(stored_shape, dtype)
        return stored.transpose(np.argsort(axes))

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.in_shape} -> {self.out_shape})"
