"""Arrays without data: what the memory forecast allocates, holds and frees, in pure Python (no NumPy).

A Block stands for one allocation of NumPy memory; a SymArray is an array over a block, and views (reshape,
transpose, slices) share their block, as NumPy's views keep their base alive. A block counts its bytes in the
Tracker while Python holds a reference to it, so the forecast frees memory exactly when the code it mirrors
drops its last reference: CPython frees an object the moment its reference count reaches zero, as it does
for NumPy arrays. Each block is tagged with an owner (a layer name, or "batch", "loss", "optimizer") and a kind
("parameters", "gradients", "optimizer state", "activations", "work buffers", "batch"), for the breakdown.
"""

from __future__ import annotations

from collections import Counter
from math import prod

# NumPy reuses a temporary operand of `a + b` (and the other operators) as the result when it is at least this
# large and Python holds no other reference to it ("temporary elision", NPY_MIN_ELIDE_BYTES).
ELIDE_BYTES = 256 * 1024

KINDS = ("parameters", "gradients", "optimizer state", "activations", "work buffers", "batch")


class StopAtEvent(Exception):
    """Raised by a Tracker asked to stop at an event number, so that the live blocks there can be read."""


class Tracker:
    """Bytes held by live blocks, and the highest total reached since reset_peak().

    Every allocation or spike is an event; `peak_event` is the number of the one at which the peak was reached.
    A second run of the same simulation with `stop_at` set raises StopAtEvent there, with `snapshot` holding
    that moment's bytes by (owner, kind).
    """

    def __init__(self, stop_at: int | None = None) -> None:
        self.total = 0
        self.peak = 0
        self.events = 0
        self.peak_event = 0
        self.stop_at = stop_at
        self.live: Counter[tuple[str, str]] = Counter()
        self.snapshot: Counter[tuple[str, str]] = Counter()  # `live` at event `stop_at`
        self.call_peak = 0  # the highest total since the last start_call()
        self.last_tag = ("", "work buffers")  # the owner of the last allocation, for spikes of several shards

    def _event(self, extra: int = 0, tag: tuple[str, str] | None = None) -> None:
        self.events += 1
        self.call_peak = max(self.call_peak, self.total + extra)
        if self.total + extra > self.peak:
            self.peak = self.total + extra
            self.peak_event = self.events
        if self.stop_at is not None and self.events == self.stop_at:
            self.snapshot = +self.live
            if extra:
                self.snapshot[tag] += extra
            raise StopAtEvent

    def add(self, tag: tuple[str, str], nbytes: int) -> None:
        self.last_tag = (tag[0], "work buffers")
        self.total += nbytes
        self.live[tag] += nbytes
        self._event()

    def remove(self, tag: tuple[str, str], nbytes: int) -> None:
        self.total -= nbytes
        self.live[tag] -= nbytes

    def spike(self, tag: tuple[str, str], nbytes: int) -> None:
        """A temporary of `nbytes` made and freed at once (inside one NumPy call, or an expression's)."""
        if nbytes > 0:
            self._event(nbytes, tag)

    def start_call(self) -> int:
        """Start watching the highest total within one call (call_peak); the total now."""
        self.call_peak = self.total
        return self.total

    def reset_peak(self) -> None:
        self.peak = self.total
        self.peak_event = self.events


class Block:
    """One allocation, counted while referenced."""

    __slots__ = ("tracker", "tag", "nbytes")

    def __init__(self, tracker: Tracker, tag: tuple[str, str], nbytes: int) -> None:
        self.tracker, self.tag, self.nbytes = tracker, tag, nbytes
        tracker.add(tag, nbytes)

    def __del__(self) -> None:
        self.tracker.remove(self.tag, self.nbytes)


class SymArray:
    """An array's shape, item size and memory order ("nchw" or "nhwc" for images), over a Block it shares."""

    __slots__ = ("shape", "itemsize", "block", "order")

    def __init__(self, shape: tuple[int, ...], itemsize: int, block: Block | None, order: str = "nchw") -> None:
        self.shape, self.itemsize, self.block, self.order = tuple(shape), itemsize, block, order

    @property
    def size(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def view(self, shape: tuple[int, ...] | None = None, order: str | None = None) -> SymArray:
        """A view of the same memory (reshape, transpose, slice), keeping the block alive."""
        return SymArray(self.shape if shape is None else shape, self.itemsize, self.block, order or self.order)


def allocate(tracker: Tracker, tag: tuple[str, str], shape: tuple[int, ...], itemsize: int,
             order: str = "nchw") -> SymArray:
    """A fresh array of `shape` (np.empty, np.zeros, a ufunc's result)."""
    return SymArray(shape, itemsize, Block(tracker, tag, prod(shape) * itemsize), order)


class SymWorkspace:
    """netlang.backend.base.Workspace without data: one growable buffer per (slot, item size)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.buffers: dict[tuple[str, int], SymArray] = {}

    def array(self, owner: str, slot: str, shape: tuple[int, ...], itemsize: int, order: str = "nchw") -> SymArray:
        size = prod(shape)
        key = (slot, itemsize)
        buffer = self.buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = allocate(self.tracker, (owner, "work buffers"), (size,), itemsize)
            self.buffers[key] = buffer
        return buffer.view(tuple(shape), order)

    def release(self) -> None:
        self.buffers.clear()
