"""pool: max and average pooling, any stride, padding, and floor/ceil rounding, and its NumPy layer.

Both work one kernel offset at a time: offset (i, j) sees a strided slice of the padded input holding
element (i, j) of every window, so a KHxKW pool costs KH*KW vectorised passes over output-sized slices
and no copy of the windows. Max pooling pads with -inf and sends each output's gradient to exactly one
input, the first maximum in window order. Average pooling counts padded zeros but not the part of a
ceil-mode window that overhangs the padded input.
"""

from __future__ import annotations

from math import prod

from netlang.backend.base import Layer, Slot, memory_order
from netlang.backend.im2col import padded
from netlang.errors import ShapeError
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, CAST_BUFFER, LayerMemory
from netlang.ops.base import PAD, STRIDE, Arg, Args, Op, Shape, needs_image, rounding, window_shape


class Pool(Layer):
    keeps_no_io = True

    def __init__(self, node, params, buffers, workspace=None):
        super().__init__(node, params, buffers, workspace)
        self.kind = self.args.get("kind", "max")
        self.kernel = tuple(self.args["kernel"])
        self.stride = tuple(self.args.get("stride", self.kernel))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]
        _, h, w = self.in_shape
        self.padded_hw = (h + 2 * self.pad[0], w + 2 * self.pad[1])
        # A ceil-mode window may reach past the padded input: extend it so every window is a full slice.
        self.overhang = tuple(
            max(0, (o - 1) * s + k - p)
            for o, s, k, p in zip(self.out_hw, self.stride, self.kernel, self.padded_hw, strict=True)
        )
        self.divisor = self._covered_counts() if self.kind == "avg" else None
        # Windows that do not overlap can write their gradients straight into place instead of adding them.
        self.disjoint = all(s >= k for s, k in zip(self.stride, self.kernel, strict=True))

    def _covered_counts(self) -> np.ndarray:
        """(OH, OW) count of padded-input elements each window covers (overhang excluded)."""
        counts = []
        for o, s, k, p in zip(self.out_hw, self.stride, self.kernel, self.padded_hw, strict=True):
            starts = np.arange(o) * s
            counts.append(np.minimum(starts + k, p) - starts)
        return np.outer(counts[0], counts[1])

    def _offsets(self, xp: np.ndarray):
        """(offset number, slice of xp holding that element of every window), in window order."""
        (sh, sw), (oh, ow) = self.stride, self.out_hw
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, xp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]

    @property
    def index_type(self) -> type:
        """The dtype of `which`: the number of the offset (in window order) that won each window."""
        return np.uint8 if self.kernel[0] * self.kernel[1] <= 256 else np.uint16

    @property
    def fusable(self) -> bool:
        """Whether a conv can pool its own output with max_forward/max_backward: max, no padding, no overhang."""
        return self.kind == "max" and self.pad == (0, 0) and self.overhang == (0, 0)

    def max_forward(self, xp: np.ndarray, best: np.ndarray, which: np.ndarray | None) -> None:
        """The maximum of each window of xp (already padded) into `best`; if `which` is given, which offset
        held it (the first in window order on a tie)."""
        if which is not None:  # strided passes cost several times contiguous ones: each part is copied next to best
            axes = memory_order(best)
            stored = self.workspace.array(Slot.POOL_PART, tuple(best.shape[axis] for axis in axes), best.dtype)
            near = stored.transpose(np.argsort(axes))
        for offset, part in self._offsets(xp):
            if offset == 0:
                np.copyto(best, part)
                if which is not None:
                    which[...] = 0
            elif which is None:
                np.maximum(best, part, out=best)
            else:
                # (np.copyto(..., where=) and np.where are several times slower than this arithmetic on masks.)
                np.copyto(near, part)
                better = np.greater(near, best)  # strict: a tie keeps the earlier offset
                np.maximum(best, near, out=best)
                np.multiply(which, ~better, out=which)
                which += better.view(np.uint8) * which.dtype.type(offset)

    def max_backward(self, dout: np.ndarray, which: np.ndarray, dxp: np.ndarray) -> None:
        """Each output gradient into `dxp` (padded input shape) at the one input `which` says won its window."""
        self._clear_uncovered(dxp)
        for offset, part in self._offsets(dxp):
            if self.disjoint:
                np.multiply(dout, which == offset, out=part)
            else:
                part += dout * (which == offset)

    def _clear_uncovered(self, dxp: np.ndarray) -> None:
        """Zero dxp unless the windows tile it exactly, each of its elements written once by backward."""
        tiled = self.stride == self.kernel and dxp.shape[2:] == tuple(
            k * o for k, o in zip(self.kernel, self.out_hw, strict=True)
        )
        if not tiled:  # windows overlap (gradients are added), or leave gaps (stride > window), or miss the end
            dxp[...] = 0

    def forward(self, x, train):
        fill = -np.inf if self.kind == "max" else 0.0
        xp = padded(x, self.pad, self.overhang, fill)
        self.x_shape, self.x_axes = x.shape, memory_order(x)
        if self.kind == "avg":
            total = None
            for _, part in self._offsets(xp):
                total = part.copy() if total is None else np.add(total, part, out=total)
            return total / self.divisor.astype(x.dtype)
        part = next(self._offsets(xp))[1]
        best = self.output(part.shape, part.dtype, x, train, memory_order(part))
        # only backward needs to know which offset won
        self.which = self.scratch_like("which", part, self.index_type) if train else None
        self.max_forward(xp, best, self.which)
        return best

    def backward(self, dout):
        full_shape = self.x_shape[:2] + tuple(p + e for p, e in zip(self.padded_hw, self.overhang, strict=True))
        dxp = self.input_grad(full_shape, dout.dtype, dout, self.x_axes)  # dx in x's memory order
        if memory_order(dout) != self.x_axes:  # element-wise passes run far faster on one memory layout
            in_order = self.workspace.array(Slot.POOL_DOUT, tuple(dout.shape[axis] for axis in self.x_axes), dout.dtype)
            np.copyto(in_order.transpose(np.argsort(self.x_axes)), dout)
            dout = in_order.transpose(np.argsort(self.x_axes))
        if self.kind == "max":
            self.max_backward(dout, self.which, dxp)
        else:
            self._clear_uncovered(dxp)
            share = dout / self.divisor.astype(dout.dtype)
            for _, part in self._offsets(dxp):
                if self.disjoint:
                    part[...] = share
                else:
                    part += share
        (ph, pw), (_, _, h, w) = self.pad, self.x_shape
        return dxp[:, :, ph : ph + h, pw : pw + w]


class PoolMemory(LayerMemory):
    """Pool's memory: the padded copy of the input (if any), the winners' offsets kept for backward."""

    def __init__(self, node, params, tracker, workspace, itemsize):
        super().__init__(node, params, tracker, workspace, itemsize)
        self.kind = self.args.get("kind", "max")
        self.kernel = tuple(self.args["kernel"])
        self.stride = tuple(self.args.get("stride", self.kernel))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]
        _, h, w = self.in_shape
        self.padded_hw = (h + 2 * self.pad[0], w + 2 * self.pad[1])
        self.overhang = tuple(
            max(0, (o - 1) * s + k - p)
            for o, s, k, p in zip(self.out_hw, self.stride, self.kernel, self.padded_hw, strict=True)
        )
        self.disjoint = all(s >= k for s, k in zip(self.stride, self.kernel, strict=True))
        self.index_bytes = 1 if self.kernel[0] * self.kernel[1] <= 256 else 2

    @property
    def fusable(self) -> bool:
        return self.kind == "max" and self.pad == (0, 0) and self.overhang == (0, 0)

    def max_forward(self, best_shape, order: str, with_which: bool) -> None:
        """max_forward's work arrays for an output of `best_shape`: a part copied next to it and two masks."""
        if with_which:
            self.ws(Slot.POOL_PART, best_shape, order=order)
            if self.kernel[0] * self.kernel[1] > 1:
                self.spike(2 * prod(best_shape) * BOOL)
                self.casting(prod(best_shape), 1)  # which times ~better

    def max_backward(self, dout_shape) -> None:
        """max_backward's temporaries: a mask per offset, and where windows overlap, the masked dout."""
        self.spike(prod(dout_shape) * (BOOL + (0 if self.disjoint else self.itemsize))
                   + min(prod(dout_shape), CAST_BUFFER) * self.itemsize)  # and the mask cast to floats

    def forward(self, x, train):
        n, c = x.shape[:2]
        padding = any(self.pad) or any(self.overhang)
        full = (n, c) + tuple(p + e for p, e in zip(self.padded_hw, self.overhang, strict=True))
        xp = self.new(full) if padding else x
        self.x_shape, self.x_order = x.shape, x.order
        shape = (n, c) + tuple(self.out_hw)
        if self.kind == "avg":
            total = self.new(shape, order=xp.order)  # the sum over the offsets, then divided into a new array
            out = self.new(shape, kind="activations", order=xp.order)
            del total
            return out
        best = self.output(shape, train, xp.order)
        self.which = self.scratch("which", shape, self.index_bytes, "activations", xp.order) if train else None
        self.max_forward(shape, xp.order, self.which is not None)
        del xp
        return best

    def backward(self, dout):
        full = self.x_shape[:2] + tuple(p + e for p, e in zip(self.padded_hw, self.overhang, strict=True))
        dxp = self.input_grad(full, self.x_order)
        if dout.order != self.x_order:
            self.ws(Slot.POOL_DOUT, dout.shape, order=self.x_order)
        if self.kind == "max":
            self.max_backward(dout.shape)
        else:
            self.spike(dout.nbytes)  # dout / divisor
        return dxp.view(self.x_shape)


def _out_shape(args: Args, in_shape: Shape) -> Shape:
    needs_image("pool", in_shape)
    if args["pad"][0] * 2 > args["kernel"][0] or args["pad"][1] * 2 > args["kernel"][1]:
        raise ShapeError(
            f"the pooling pad {args['pad'][0]}x{args['pad'][1]} is more than half the window "
            f"{args['kernel'][0]}x{args['kernel'][1]}: some windows would see only padding"
        )
    return window_shape(args, in_shape, in_shape[0])


def _same_as_kernel(args: Args) -> list[int]:
    """the window size"""
    return list(args["kernel"])


OP = Op(
    "pool", "max or average pooling; stride defaults to the window size", Pool, memory=PoolMemory,
    positional=(
        Arg("kind", "choice", "the pooling kind", required=False, default="max", choices=("max", "avg")),
        Arg("kernel", "size", "the window size (like 2 or 3x3)", noun="the window size", bounds={"minimum": 1}),
    ),
    options=(STRIDE.with_default(_same_as_kernel), PAD, rounding("floor", "ceil")),
    out_shape=_out_shape,
    checks=(
        ("pool 2", "2x4x4"),
        ("pool 3 stride 2 pad 1", "2x7x7"),
        ("pool max 2 stride 2 round ceil", "1x5x5"),
        ("pool avg 2", "2x4x6"),
        ("pool avg 3 stride 2 pad 1 round ceil", "2x6x6"),
        ("pool avg 2 stride 1", "1x3x4"),
        ("pool 2 stride 3", "2x8x8"),
        ("pool avg 2 stride 3 pad 1", "1x6x6"),
        ("pool 2 round floor", "1x5x5"),
        ("pool 3 stride 2 pad 1", "2x6x6"),  # a partial last window of bottom/right padding only
        ("pool avg 2 stride 3", "2x6x6"),  # the stride skips the last row as it skips rows 2 and 5
    ),
)
