"""LayerMemory: what an op's NumPy layer allocates and keeps, without NumPy. Each op declares one (Op.memory).

A LayerMemory mirrors its layer (netlang/backend/base.Layer) line by line in what memory each line takes:
forward(x, train) and backward(dout) take and return SymArrays (netlang/memory/arrays.py), hold on `self` what
the layer holds, and use the same helpers the layer does (scratch, the workspace's slots, output(),
input_grad()), so the forecast frees and reuses memory where the layer does. A NumPy expression's temporaries
are either SymArrays held in local variables, as long as NumPy holds them, or spikes (made and freed at once).
tests/test_memory.py checks each op's mirror against the layer's measured memory.
"""

from __future__ import annotations

from math import prod
from typing import Any

from netlang.memory.arrays import ELIDE_BYTES, SymArray, SymWorkspace, Tracker, allocate

BOOL = 1  # bytes of a NumPy bool
CAST_BUFFER = 8192  # values NumPy's iterator buffers when a ufunc casts an operand (NPY_BUFSIZE)


class LayerMemory:
    """The memory of one IR layer's NumPy layer, for arrays of `itemsize` bytes (4: float32)."""

    def __init__(
        self, node: dict[str, Any], params: dict[str, SymArray], tracker: Tracker, workspace: SymWorkspace,
        itemsize: int,
    ) -> None:
        self.name: str = node["name"]
        self.node = node
        self.args: dict[str, Any] = node.get("args", {})
        self.merge = "in_shapes" in node
        shapes = node["in_shapes"] if self.merge else [node["in_shape"]]
        self.in_shapes = [tuple(shape) for shape in shapes]
        self.in_shape = self.in_shapes[0]
        self.out_shape = tuple(node["out_shape"])
        self.params = params
        self.grads: dict[str, SymArray] = {}
        self.tracker = tracker
        self.workspace = workspace
        self.itemsize = itemsize
        self.needs_input_grad = True
        self.output_slot: str | None = None
        self.input_grad_slot: str | None = None
        self.absorbed: tuple[LayerMemory, ...] = ()
        self._scratch: dict[str, SymArray] = {}

    # -- the helpers a layer uses, mirrored --------------------------------------------------------------

    def new(self, shape: tuple[int, ...], itemsize: int | None = None, kind: str = "work buffers",
            order: str = "nchw") -> SymArray:
        """A fresh array (np.empty, a ufunc's result, ...)."""
        return allocate(self.tracker, (self.name, kind), tuple(shape), self.itemsize if itemsize is None else itemsize,
                        order)

    def like(self, array: SymArray, itemsize: int | None = None, kind: str = "work buffers") -> SymArray:
        """A fresh array of `array`'s shape and memory order."""
        return self.new(array.shape, array.itemsize if itemsize is None else itemsize, kind, array.order)

    def result(self, temporary: SymArray, kind: str = "work buffers") -> SymArray:
        """The result of an operator between two arrays (a * b, ...) whose operand `temporary` Python holds
        nowhere else (for - and /, the left one): NumPy writes into it when it is large enough (temporary
        elision), else into a fresh array. With a Python number as the other operand, NumPy 2 never does."""
        return temporary if temporary.nbytes >= ELIDE_BYTES else self.like(temporary, kind=kind)

    def casting(self, size: int, itemsize: int | None = None) -> None:
        """A ufunc on `size` values that casts an operand (a bool mask times floats): NumPy's iterator buffers the
        cast values, CAST_BUFFER of them at a time."""
        self.spike(min(size, CAST_BUFFER) * (self.itemsize if itemsize is None else itemsize))

    def spike(self, nbytes: int, kind: str = "work buffers") -> None:
        """A temporary made and freed within one call."""
        self.tracker.spike((self.name, kind), nbytes)

    def scratch(self, key: str, shape: tuple[int, ...], itemsize: int | None = None, kind: str = "work buffers",
                order: str = "nchw") -> SymArray:
        """Layer.scratch: kept from call to call, re-made when its shape changes."""
        itemsize = self.itemsize if itemsize is None else itemsize
        array = self._scratch.get(key)
        if array is None or array.shape != tuple(shape) or array.itemsize != itemsize:
            array = self.new(shape, itemsize, kind, order)
            self._scratch[key] = array
        return array.view(order=order)

    def ws(self, slot: str, shape: tuple[int, ...], itemsize: int | None = None, order: str = "nchw") -> SymArray:
        """Workspace.array: a view of the model's shared buffer `slot`."""
        return self.workspace.array(self.name, slot, tuple(shape), self.itemsize if itemsize is None else itemsize,
                                    order)

    def output(self, shape: tuple[int, ...], train: bool, order: str = "nchw") -> SymArray:
        """Layer.output: the plan's slot in training, if it gave one, else fresh."""
        slot = self.output_slot if train else None
        if slot is None:
            return self.new(shape, kind="activations", order=order)
        return self.ws(slot, shape, order=order)

    def input_grad(self, shape: tuple[int, ...], order: str = "nchw") -> SymArray:
        """Layer.input_grad: the plan's slot, if it gave one, else fresh."""
        if self.input_grad_slot is None:
            return self.new(shape, kind="activations", order=order)
        return self.ws(self.input_grad_slot, shape, order=order)

    def set_grad(self, key: str, shape: tuple[int, ...] | None = None) -> None:
        """self.grads[key] = a fresh array (made before the previous one is dropped)."""
        shape = self.params[key].shape if shape is None else shape
        self.grads[key] = self.new(shape, kind="gradients")

    def can_absorb(self, following: LayerMemory, absorbed: tuple[LayerMemory, ...]) -> bool:
        """As Layer.can_absorb: whether this layer also does the work of `following` (the plan asks)."""
        return False

    def absorb(self, layers: tuple[LayerMemory, ...]) -> None:
        self.absorbed = layers

    def batch_of(self, x: SymArray) -> int:
        return x.shape[0]

    @property
    def param_count(self) -> int:
        return sum(prod(array.shape) for array in self.params.values())

    # -- what each op defines ----------------------------------------------------------------------------

    def forward(self, x: Any, train: bool) -> Any:
        raise NotImplementedError

    def backward(self, dout: SymArray) -> Any:
        raise NotImplementedError


def stable_sigmoid(layer: LayerMemory, x: SymArray, kind: str = "work buffers") -> SymArray:
    """netlang.ops.sigmoid.stable_sigmoid(x): np.where(x >= 0, 1.0, e) / (1.0 + e), e = exp(-|x|)."""
    absolute = layer.like(x)
    negated = layer.result(absolute)  # unary minus: in place once large enough
    del absolute  # a temporary is freed as soon as the operator that read it returns
    e = layer.like(x)
    del negated
    chosen = layer.like(x, kind=kind)  # np.where(x >= 0, ...), its mask freed after
    layer.spike(x.size * BOOL)
    denominator = layer.like(x)
    out = layer.result(chosen, kind)
    del chosen, denominator, e
    return out
