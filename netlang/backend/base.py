"""The Layer base class: what every NumPy layer holds and the two methods it must have; the workspace of
buffers its layers share.

Memory a layer uses comes in three kinds, each with one owner:
- scratch(key, ...): the layer's own work arrays, kept from call to call (never returned).
- Workspace.array(slot, ...): a buffer of the model's workspace, shared by every layer, valid until the next
  request for the same slot; for temporaries within one layer call. Slot names are the constants below.
- output() / input_grad(): what forward / backward return. Fresh arrays, unless the model's plan
  (netlang/backend/plan.py) put them in a handed-on slot of the workspace: the plan knows every reader.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from netlang.lazy import numpy as np


class Slot:
    """The names of the workspace's shared buffers, all in one place.

    A layer call may use any of the temporary slots for values it no longer needs when it returns. The
    handed-on slots hold what one layer returns for the next ones to read; only the plan assigns them.
    """

    COLUMNS = "columns"  # im2col output, or the width-only columns of a shifted conv
    PRODUCT = "product"  # a GEMM's result before it is reordered (conv forward, input gradient)
    MASKED_DOUT = "masked_dout"  # dout times a fused relu's mask
    DOUT_BY_FILTER = "dout_by_filter"  # dout reordered to (F, N, ...)
    DW_PER_IMAGE = "dw_per_image"  # per-image weight gradients before their sum
    SHIFTED_ROWS = "shifted_rows"  # a shifted conv's output rows
    SHIFTED_TERM = "shifted_term"  # one kernel row's product in a shifted conv
    POOL_PART = "pool_part"  # one window offset of a max pool, copied next to the running maximum
    POOL_DOUT = "pool_dout"  # a pool's dout in its input's memory order

    @staticmethod
    def handed_on(index: int) -> str:
        """The name of the index-th slot for arrays handed from layer to layer."""
        return f"handed_on_{index}"


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

    def release(self) -> None:
        """Drop every buffer (after a large inference batch, say); they are re-created on demand."""
        self._buffers.clear()


def memory_order(array: np.ndarray) -> tuple[int, ...]:
    """The axes of `array` from the outermost in memory to the innermost (by stride): output()'s `axes`."""
    if array.flags.c_contiguous:  # the common case, without the sort (per-layer cost at batch 1)
        return tuple(range(array.ndim))
    strides = array.strides
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(strides[axis])))


def laid_out(stored: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The view of `stored`, whose axes are some array's `axes` in that order, with the array's own axis order."""
    if axes == tuple(range(len(axes))):
        return stored
    inverse = [0] * len(axes)
    for position, axis in enumerate(axes):
        inverse[axis] = position
    return stored.transpose(inverse)


PER_CHANNEL_RUN = 512  # values per inner loop that apply_per_channel() aims for


@lru_cache(maxsize=256)
def _pixels_per_row(pixels: int, channels: int) -> int:
    """The most pixels, dividing `pixels`, whose channels fit in one row of PER_CHANNEL_RUN values."""
    return max((d for d in range(1, PER_CHANNEL_RUN // channels + 1) if pixels % d == 0), default=1)


def apply_per_channel(ufunc: Any, a: np.ndarray, values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """ufunc(a, values per channel) into `out`, for (N, C, ...) arrays `a` and `out` and (C,) `values`.

    On channels-last memory (a conv's pixel-major output) the channel axis is innermost, and NumPy's inner loop
    would run over C values only: 0.3 ms where an element-wise pass takes 0.07 (16 channels, 50x28x28). There
    the arrays are taken as rows of k pixels' channels, and `values` repeated k times to match.
    """
    channels = a.shape[1]
    last = (0, *range(2, a.ndim), 1)
    if a.ndim > 2 and memory_order(a) == last == memory_order(out) and a.transpose(last).flags.c_contiguous and (
            out.transpose(last).flags.c_contiguous):
        pixels = a.size // channels
        k = _pixels_per_row(pixels, channels)
        rows = (pixels // k, k * channels)
        ufunc(a.transpose(last).reshape(rows), np.tile(values, k), out=out.transpose(last).reshape(rows))
        return out
    return ufunc(a, values.reshape((channels,) + (1,) * (a.ndim - 2)), out=out)




def channel_sums(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> (C,): the sums over every axis but the channels, as BLAS matrix-vector products.

    NumPy's sum over the outer axes of DeepConvNet conv2's output gradient (5 MB) took 1.6 ms, this 0.14 ms.
    """
    n, c = a.shape[:2]
    channels_last = np.moveaxis(a, 1, -1)
    if channels_last.flags.c_contiguous:
        rows = channels_last.reshape(-1, c)
        return np.ones(rows.shape[0], a.dtype) @ rows
    if a.flags.c_contiguous:
        per_image = a.reshape(n, c, -1) @ np.ones(a[0, 0].size, a.dtype)
        return np.ones(n, a.dtype) @ per_image
    return a.sum(axis=(0, *range(2, a.ndim)))


def channel_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, C, ...) arrays of one shape -> (C,): per channel, the sum of a * b, without writing the product out.

    One pass that reads both (np.einsum), where a multiply and channel_sums read three arrays and write one:
    on 16x28x28 channels-last images of 50, 0.09 against 0.12 ms; channels-first 0.07 against 0.10.
    Channels-last arrays are taken as rows of k pixels' channels (as in apply_per_channel), whose k partial
    sums per channel are then added up.
    """
    channels = a.shape[1]
    last = (0, *range(2, a.ndim), 1)
    if a.ndim > 2 and a.transpose(last).flags.c_contiguous and b.transpose(last).flags.c_contiguous:
        pixels = a.size // channels
        k = _pixels_per_row(pixels, channels)
        rows = (pixels // k, k * channels)
        per_column = np.einsum("ij,ij->j", a.transpose(last).reshape(rows), b.transpose(last).reshape(rows))
        return per_column.reshape(k, channels).sum(axis=0)
    if a.flags.c_contiguous and b.flags.c_contiguous:
        n = a.shape[0]
        return np.einsum("ncp,ncp->c", a.reshape(n, channels, -1), b.reshape(n, channels, -1))
    axes = "nc" + "hwdefg"[: a.ndim - 2]
    return np.einsum(f"{axes},{axes}->c", a, b)


def run_steps(steps: Any, total: Any) -> Any:
    """Drive a generator that yields per-channel parts and is sent their totals (a batch-statistics layer's
    forward_steps or backward_steps) with total(part); what it returns."""
    try:
        part = next(steps)
        while True:
            part = steps.send(total(part))
    except StopIteration as done:
        return done.value


def run_steps_together(all_steps: list) -> list:
    """Drive the generators of one layer's copies on every shard of a step together: each total is the sum of
    their parts, added in shard order (as ShardSync adds them). What each returns, in shard order."""
    results: list[Any] = [None] * len(all_steps)
    total = None  # sending None first starts a generator
    while True:
        parts = []
        for index, steps in enumerate(all_steps):
            try:
                parts.append(steps.send(total))
            except StopIteration as done:
                results[index] = done.value
        if not parts:
            return results
        if len(parts) != len(all_steps):
            raise RuntimeError("the shards of a batch-statistics layer asked for different totals")
        total = parts[0]
        for other in parts[1:]:
            total = total + other


class Layer:
    """One IR layer as a NumPy stage: forward(x, train) and backward(dout), shapes read from the IR node.

    `params` and `grads` share keys ("W", "b", ...); `buffers` hold non-trainable state. The model applies
    its plan once (plan.py): `needs_input_grad` False on the first layer, whose input gradient nobody uses;
    the workspace slots of what forward and backward return; the layers a conv does the work of (absorb).

    Subclasses whose backward reads neither forward's input nor its output array (only what the layer computed
    and kept itself), and whose forward never returns a view of its input, set `keeps_no_io`: the plan may
    then hand their inputs and outputs on through shared buffers.
    """

    keeps_no_io = False
    # Training uses statistics of the whole batch (batchnorm): then forward_steps and backward_steps are generators
    # that yield per-channel parts and are sent their totals over the shards (run_steps), and forward and
    # backward drive them.
    batch_statistics = False
    draws_random = False  # training draws from `rng` (dropout): each shard gets a generator of its own

    def __init__(
        self,
        node: dict[str, Any],
        params: dict[str, np.ndarray],
        buffers: dict[str, np.ndarray],
        workspace: Workspace | None = None,
    ):
        self.name: str = node["name"]
        self.node = node
        self.args: dict[str, Any] = node.get("args", {})
        # One input's shape, or a merge layer's (add, concat) list of them: forward then takes a list of arrays
        # and backward returns a list of gradients.
        self.merge = "in_shapes" in node
        shapes = node["in_shapes"] if self.merge else [node["in_shape"]]
        self.in_shapes: list[tuple[int, ...]] = [tuple(shape) for shape in shapes]
        self.in_shape: tuple[int, ...] = self.in_shapes[0]
        self.out_shape: tuple[int, ...] = tuple(node["out_shape"])
        self.params = params
        self.buffers = buffers
        self.grads: dict[str, np.ndarray] = {}
        self.needs_input_grad = True
        self._scratch: dict[str, np.ndarray] = {}
        self.workspace = Workspace() if workspace is None else workspace  # the model's, shared by its layers
        # The workspace slots that what forward (in training) and backward return live in, from the model's
        # plan; None: fresh arrays.
        self.output_slot: str | None = None
        self.input_grad_slot: str | None = None

    def can_absorb(self, following: Layer, absorbed: tuple[Layer, ...]) -> bool:
        """Whether this layer can also do the work of `following`, the layer after those it absorbed already.
        Layers that fuse others (conv) say yes where they can; the plan asks (plan.fuse_into_layers)."""
        return False

    def absorb(self, layers: tuple[Layer, ...]) -> None:
        """Do the work of `layers` (in run order) too, from now on; () undoes it. Set by the model's plan."""
        if layers:
            raise ValueError(f"{self.name} cannot do the work of other layers")

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
        return laid_out(stored, axes)

    def output(
        self, shape: tuple[int, ...], dtype: Any, reading: np.ndarray, train: bool, axes: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """An uninitialised array for forward to return, C-ordered or laid out in memory as `axes` (outermost
        axis first) say. `reading` is the input it is computed from (the plan never puts both in one slot).

        In training it lives in the workspace slot the plan gave it, if any; otherwise it is fresh. Large
        fresh arrays cost page faults on every step.
        """
        return self._returned(self.output_slot if train else None, shape, dtype, axes)

    def input_grad(
        self, shape: tuple[int, ...], dtype: Any, reading: np.ndarray, axes: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """output() for the input gradient backward returns, computed from `reading` (dout)."""
        return self._returned(self.input_grad_slot, shape, dtype, axes)

    def _returned(
        self, slot: str | None, shape: tuple[int, ...], dtype: Any, axes: tuple[int, ...] | None
    ) -> np.ndarray:
        axes = tuple(range(len(shape))) if axes is None else tuple(axes)
        stored_shape = tuple(shape[axis] for axis in axes)
        stored = np.empty(stored_shape, dtype) if slot is None else self.workspace.array(slot, stored_shape, dtype)
        return laid_out(stored, axes)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.in_shape} -> {self.out_shape})"
