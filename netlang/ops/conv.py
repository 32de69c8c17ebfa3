"""conv: 2-D convolution (cross-correlation), and its NumPy layer: im2col + GEMM, in the column layout that runs
faster for the layer's shape.

Stride-1 layers use width-only columns and row-shifted GEMMs (shifted.py): a third of the copying that full
columns take, and only the input (not its columns) kept for backward. On DeepConvNet (batch 100, float32,
two threads, bench/torch_compare.py) that took a training step from 97 to about 75 ms and its peak memory
from 212 to 85 MB above the pre-step level. They run one block of the batch at a time, sized so that a
block's columns and products stay in cache between the copy and the GEMMs that read them: the step went from
about 88 to 76 ms (BLOCK_BYTES below, swept with the whole step timed).

Strided layers, and stride-1 layers whose output is much smaller than their input (column_layout), use
channel-major columns (C*KH*KW, N*OH*OW): forward, dW and dx are then ONE large GEMM each,
which BLAS shares out well over threads; the price is transposing the (smaller) output and output
gradient between (N, F, ...) and (F, N, ...) order. When C*KH*KW is tiny (a first layer on a 1-channel
image) that GEMM is mostly memory traffic and threads badly, and one GEMM per image on per-image columns
(N, C*KH*KW, OH*OW), which yields (N, F, OH*OW) directly, is about twice as fast (measured below).

A relu right after a convolution is applied by the convolution itself (fused_relu, from the model's plan,
netlang/backend/plan.py): in the shifted layout block by block while the output is in cache, and its mask is
applied to the output gradient as that is copied into backward's columns. A shifted convolution also does the
work of a max pool right after it (fused_pool), and then of the relu after that, so its own output is never
written out. Each saves passes over memory: a DeepConvNet step ran about 6% faster with the pools fused than
with the relus alone, in alternating runs in one process."""

from __future__ import annotations

from math import prod

from netlang.backend.base import Layer, Slot, channel_sums
from netlang.backend.im2col import col2im, im2col
from netlang.backend.shifted import (
    expand_width,
    shifted_matmul,
    shifted_weight_grad,
    stacked_grid,
    stacked_images,
    weight_rows,
    width_columns,
)
from netlang.lazy import numpy as np
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops.base import INIT, PAD, STRIDE, Arg, Args, Op, Param, Shape, needs_image, rounding, window_shape


def column_layout(in_shape, kernel, stride, out_hw) -> str:
    """The column layout a convolution runs in, from its shapes: "per_image", "shifted" or "channel_major".

    Per-image columns when C*KH*KW is at most Conv.PER_IMAGE_MAX_ROWS; otherwise shifted ones for stride 1,
    channel-major for larger strides, and channel-major for stride 1 too where the shifted layout's backward
    does far more work than needed. That backward takes dx as a convolution of dout padded by K-1-P, which
    costs H*W/(OH*OW) times the multiply-accumulates of forward: from SHIFTED_MAX_AREA_RATIO on (a
    convolution whose output is much smaller than its input, as LeNet-5's C5, 16x5x5 to 120x1x1) channel-major
    columns and col2im are faster, and they are from SHIFTED_SKINNY_AREA_RATIO on when KW*C is at most
    SHIFTED_MIN_WIDTH (LeNet-5's C3, 6x14x14 to 16x10x10), where the shifted GEMMs are too thin to pay.
    Measured, whole training steps of a 1x1 conv, the conv, a relu and an affine layer at batch 100 on one
    thread, shifted against channel-major (ms): 16x5x5 to 120 5x5 8.3 / 0.9, 32x7x7 to 64 5x5 18.7 / 9.8,
    16x6x6 to 32 5x5 3.4 / 2.5, 6x14x14 to 16 5x5 8.7 / 6.3, 3x14x14 to 16 5x5 6.9 / 3.3, 6x10x10 to 32 5x5
    8.3 / 3.7; but 32x4x4 to 32 3x3 (area ratio 4) 1.4 / 1.9, 32x14x14 to 32 5x5 34.5 / 42.0,
    16x28x28 to 16 3x3 23.6 / 38.8, 8x28x28 to 16 3x3 17.4 / 21.5.
    """
    c, h, w = in_shape
    if c * prod(kernel) <= Conv.PER_IMAGE_MAX_ROWS:
        return "per_image"
    if tuple(stride) != (1, 1):
        return "channel_major"
    area_ratio = h * w / (out_hw[0] * out_hw[1])
    if area_ratio >= Conv.SHIFTED_MAX_AREA_RATIO:
        return "channel_major"
    if area_ratio >= Conv.SHIFTED_SKINNY_AREA_RATIO and kernel[1] * c <= Conv.SHIFTED_MIN_WIDTH:
        return "channel_major"
    return "shifted"


class Conv(Layer):
    """Convolution with W (F, C, KH, KW) and b (F); output size read from the IR's out_shape."""

    keeps_no_io = True
    # Per-image columns when C*KH*KW is at most this. On two threads, forward + dW of SimpleConvNet's conv1
    # (25 rows) took 4.4 ms per-image against 9.4 ms channel-major; DeepConvNet's 16-channel 3x3 layers
    # (144 rows) ran 1.5-2x faster channel-major.
    PER_IMAGE_MAX_ROWS = 32
    # Where stride-1 layers run channel-major instead of shifted (column_layout).
    SHIFTED_MAX_AREA_RATIO = 4.5
    SHIFTED_SKINNY_AREA_RATIO = 1.3
    SHIFTED_MIN_WIDTH = 30
    # Width-only columns per block of the batch in the shifted layout (see blocks()).
    BLOCK_BYTES = 3 << 20

    def __init__(self, node, params, buffers, workspace=None):
        super().__init__(node, params, buffers, workspace)
        self.kernel = tuple(self.params["W"].shape[2:])
        self.stride = tuple(self.args.get("stride", (1, 1)))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]
        self.fused_relu = False
        self.fused_pool = None  # a max Pool layer whose work this layer does (absorb)
        self.layout = column_layout(self.in_shape, self.kernel, self.stride, self.out_hw)

    @property
    def fused_out_shape(self) -> tuple[int, ...]:
        """The shape of what forward returns: the fused pool's output shape if there is one, else out_shape."""
        return self.out_shape if self.fused_pool is None else self.fused_pool.out_shape

    def can_absorb(self, following: Layer, absorbed: tuple[Layer, ...]) -> bool:
        """A max pool right after this conv, if forward can pool its own output (shifted layout, dout never
        cropped, see Pool.fusable); then, or directly, a relu."""
        ops = tuple(layer.node["op"] for layer in absorbed)
        if following.node["op"] == "relu":
            return "relu" not in ops
        uncropped = all(p <= k - 1 for p, k in zip(self.pad, self.kernel, strict=True))
        return (
            not ops and following.node["op"] == "pool" and following.fusable
            and self.layout == "shifted" and uncropped
        )

    def absorb(self, layers: tuple[Layer, ...]) -> None:
        pools = [layer for layer in layers if layer.node["op"] == "pool"]
        self.fused_pool = pools[0] if pools else None
        self.fused_relu = any(layer.node["op"] == "relu" for layer in layers)

    @property
    def per_image(self) -> bool:
        return self.layout == "per_image"

    def _columns(
        self, key: str, x, stride, pad, out_hw, in_training: bool, keep: bool, channels_first=False, per_image=False
    ) -> np.ndarray:
        """im2col of x: into this layer's own work array named `key` if `keep`, else the shared workspace.

        Work arrays, and the zero-bordered buffer x is padded in, last from step to step in training.
        Inference, whose batches may be much larger, borrows the workspace and pads into fresh memory.
        """
        c, n = x.shape[:2] if channels_first else x.shape[1::-1]
        (kh, kw), (ph, pw), (h, w) = self.kernel, pad, x.shape[2:]
        pad_buffer = None
        if in_training and (ph or pw):
            pad_buffer = self.scratch(key + ".padded", x.shape[:2] + (h + 2 * ph, w + 2 * pw), x.dtype, fill=0.0)
        rows, pixels = c * kh * kw, out_hw[0] * out_hw[1]
        shape = (n, rows, pixels) if per_image else (rows, n * pixels)
        col = self.scratch(key, shape, x.dtype) if keep else self.workspace.array(Slot.COLUMNS, shape, x.dtype)
        return im2col(x, self.kernel, stride, pad, out_hw, col, pad_buffer, channels_first, per_image)

    def forward(self, x, train):
        self.x_shape = x.shape
        if self.layout == "shifted":
            return self._forward_shifted(x, train)
        n, filters = x.shape[0], self.params["W"].shape[0]
        weights = self.params["W"].reshape(filters, -1)
        # Only training needs the columns again (for dW); inference borrows the shared workspace.
        self.col = self._columns(
            "col", x, self.stride, self.pad, self.out_hw, in_training=train, keep=train, per_image=self.per_image
        )
        if self.per_image:
            out = np.matmul(weights, self.col, out=self.output((n, filters, self.col.shape[2]), x.dtype, x, train))
            out += self.params["b"][:, None]
            return self._relu(out.reshape((n,) + self.out_shape), train)
        out_by_filter = self.workspace.array(Slot.PRODUCT, (filters, self.col.shape[1]), x.dtype)
        np.matmul(weights, self.col, out=out_by_filter)
        out = self.output((n,) + self.out_shape, x.dtype, x, train)
        by_image = out_by_filter.reshape(filters, n, -1).transpose(1, 0, 2)
        np.add(by_image, self.params["b"][:, None], out=out.reshape(n, filters, -1))  # transpose + bias
        return self._relu(out, train)

    def _relu(self, out: np.ndarray, train: bool) -> np.ndarray:
        """The fused relu, in place on `out`; in training its mask (out > 0) is kept for backward.

        out times the mask: np.maximum(out, 0) with a scalar 0 took twice as long (NumPy 2.4).
        """
        if self.fused_relu:
            mask = np.greater(out, 0, out=self.scratch_like("relu_mask", out, bool) if train else None)
            np.multiply(out, mask, out=out)
            self.relu_mask = mask if train else None
        return out

    def _masked(self, dout: np.ndarray) -> np.ndarray:
        """dout times the fused relu's mask (a work array), or dout itself when no relu is fused."""
        if not self.fused_relu:
            return dout
        masked = self.workspace.array(Slot.MASKED_DOUT, dout.shape, dout.dtype)
        return np.multiply(dout, self.relu_mask, out=masked)

    def backward(self, dout):
        if self.layout != "shifted":
            dout = self._masked(dout)
        if self.per_image:
            return self._backward_per_image(dout)
        if self.layout == "shifted":
            return self._backward_shifted(dout)
        n, filters = dout.shape[0], self.params["W"].shape[0]
        dout_by_filter = self.workspace.array(Slot.DOUT_BY_FILTER, (filters, n) + dout.shape[2:], dout.dtype)
        np.copyto(dout_by_filter, dout.transpose(1, 0, 2, 3))
        dout_rows = dout_by_filter.reshape(filters, -1)
        # dW^T = col @ dout^T runs 15-25% faster here than dW = dout @ col^T (measured); the transpose is tiny.
        self.grads["W"] = (self.col @ dout_rows.T).T.reshape(self.params["W"].shape)
        self.grads["b"] = dout_rows.sum(axis=1)
        if not self.needs_input_grad:
            return None
        dcol = self.params["W"].reshape(filters, -1).T @ dout_rows
        return col2im(dcol, self.x_shape, self.kernel, self.stride, self.pad, self.out_hw)

    def _backward_per_image(self, dout: np.ndarray) -> np.ndarray | None:
        """backward() on per-image columns: dW as a sum of per-image GEMMs, dx by col2im."""
        n, filters = dout.shape[0], self.params["W"].shape[0]
        dout_rows = dout.reshape(n, filters, -1)
        per_image = self.workspace.array(Slot.DW_PER_IMAGE, (n, filters, self.col.shape[1]), dout.dtype)
        np.matmul(dout_rows, self.col.transpose(0, 2, 1), out=per_image)
        self.grads["W"] = per_image.sum(axis=0).reshape(self.params["W"].shape)
        self.grads["b"] = channel_sums(dout_rows)
        if not self.needs_input_grad:
            return None
        dcol = np.matmul(self.params["W"].reshape(filters, -1).T, dout_rows)
        return col2im(dcol, self.x_shape, self.kernel, self.stride, self.pad, self.out_hw)

    def block_bytes_per_image(self, x: np.ndarray) -> int:
        """The bytes of forward's width-only columns for one image of x."""
        (_, kw), (ph, _), (_, ow) = self.kernel, self.pad, self.out_hw
        return (x.shape[2] + ph) * ow * kw * x.shape[1] * x.dtype.itemsize

    def blocks(self, x: np.ndarray) -> list[slice]:
        """The batch cut into blocks of equal size (the last one may be smaller) of about BLOCK_BYTES of columns.

        Each block is a whole mini-batch for the NumPy calls (stacked, expanded and multiplied at once); the
        blocks exist so that its columns, products and padded input stay in cache between those calls.
        """
        n = x.shape[0]
        per_block = max(1, self.BLOCK_BYTES // self.block_bytes_per_image(x))
        count = -(-n // per_block)
        size = -(-n // count)
        return [slice(start, min(start + size, n)) for start in range(0, n, size)]

    def _forward_shifted(self, x: np.ndarray, train: bool) -> np.ndarray:
        """forward() on width-only columns, one block of the batch at a time (see blocks()).

        A fused max pool and relu are applied to each block's output while it is in cache; with a pool, the
        convolution's own output is never written out (its bias is added after pooling, which commutes).
        Training keeps the input instead of its columns, for dW: channels-last, one work array per block,
        stacked in the row layout of backward's columns of dout (zero between images).
        """
        n, c, h, w = x.shape
        # backward returns dx in x's memory order: that of what the layer before saved for its backward
        self.x_pixel_major = x.transpose(0, 2, 3, 1).flags.c_contiguous
        (kh, kw), (ph, pw), (oh, ow) = self.kernel, self.pad, self.out_hw
        pool, bias = self.fused_pool, self.params["b"]
        weights = weight_rows(self.params["W"])
        x_hwc = x.transpose(0, 2, 3, 1)
        out = self.output((n,) + self.fused_out_shape[1:] + self.fused_out_shape[:1], x.dtype, x, train)
        mask = self.scratch("relu_mask", out.shape, bool) if self.fused_relu and train else None
        which = self.scratch("pool_which", out.shape, pool.index_type) if pool is not None and train else None
        self.block_slices = self.blocks(x)
        self.x_rows = []
        for index, block in enumerate(self.block_slices):
            count = block.stop - block.start
            stride, rows = stacked_grid(count, h, ph, kh)
            # Layer-owned, so its zero padding is written once.
            pad_buffer = self.scratch(f"x_stacked{count}", (rows, w + 2 * pw, c), x.dtype, fill=0.0)
            col = self.workspace.array(Slot.COLUMNS, (rows * ow, kw * c), x.dtype)
            columns = width_columns(x_hwc[block], self.kernel, self.pad, pad_buffer, col)
            if train:
                _, _, (x_stride, x_rows) = self._input_grad_grid(count)
                kept = self.scratch(f"x_rows{index}", (x_rows, w, c), x.dtype, fill=0.0)
                images = stacked_images(pad_buffer, count, h, self.pad, kh)
                kept[: count * x_stride].reshape(count, x_stride, w, c)[:, :h] = images
                self.x_rows.append(kept)
            pixels = self._shifted_pixels(columns, weights, (count, stride, oh, ow))
            if pool is None:
                np.add(pixels, bias, out=out[block])
            else:
                block_which = None if which is None else which[block].transpose(0, 3, 1, 2)
                pool.max_forward(pixels.transpose(0, 3, 1, 2), out[block].transpose(0, 3, 1, 2), block_which)
                out[block] += bias
            if self.fused_relu:
                # np.maximum runs several times faster against an array of zeros than against a scalar 0
                zeros = self.scratch(f"zeros{count}", out[block].shape, x.dtype, fill=0.0)
                np.maximum(out[block], zeros, out=out[block])
                if mask is not None:
                    np.greater(out[block], 0, out=mask[block])
        self.relu_mask = None if mask is None else mask.transpose(0, 3, 1, 2)
        self.pool_which = which
        return out.transpose(0, 3, 1, 2)

    def _input_grad_grid(self, n: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """For dx as a transposed convolution: (crop, pad) of dout, and its stacked_grid (stride, rows).

        dout is padded by K-1-P, or cropped by P-(K-1) where that is negative.
        """
        (kh, kw), (ph, pw), (oh, _) = self.kernel, self.pad, self.out_hw
        crop = (max(ph - kh + 1, 0), max(pw - kw + 1, 0))
        pad = (max(kh - 1 - ph, 0), max(kw - 1 - pw, 0))
        return crop, pad, stacked_grid(n, oh - 2 * crop[0], pad[0], kh)

    def _shifted_pixels(
        self, columns: np.ndarray, weights_by_row: np.ndarray, grid: tuple[int, int, int, int]
    ) -> np.ndarray:
        """shifted_matmul's rows as an (N, OH, OW, F) view of a work array; grid is (N, stride, OH, OW).

        Outputs are pixel-major: element-wise layers keep that memory order and the next convolution reads
        its input in it, so no transposing copy is made. (A whole DeepConvNet step ran 2-3 ms faster so, in
        alternating runs.)
        """
        n, stride, oh, ow = grid
        kh, filters = weights_by_row.shape[0], weights_by_row.shape[2]
        rows = self.workspace.array(Slot.SHIFTED_ROWS, (columns.shape[0], filters), columns.dtype)
        tmp = self.workspace.array(Slot.SHIFTED_TERM, (columns.shape[0] - (kh - 1) * ow, filters), columns.dtype)
        shifted_matmul(columns, weights_by_row, ow, rows, tmp)
        return rows[: n * stride * ow].reshape(n, stride, ow, filters)[:, :oh]

    def _backward_shifted(self, dout: np.ndarray) -> np.ndarray | None:
        """backward() on width-only columns of dout, padded by K-1-P (cropped if P > K-1), block by block.

        dx of a stride-1 convolution is that padded dout correlated with W flipped and channel-swapped: the
        same shifted forward. The columns' rows have the layout of forward's kept input rows, in which
        dW[f, c, kh, kw] = sum over rows q of x_rows[q, c] * dout_columns[q + (KH-1-kh)*W, (KW-1-kw)*F + f].
        A fused relu's mask, and a fused pool's routing, are applied as dout is put into the stack the
        columns are expanded from, and the bias gradient is summed from those stacks, unless dout is cropped.
        """
        n, filters = dout.shape[:2]
        c, h, w = self.x_shape[1:]
        (kh, kw), (oh, ow), pool = self.kernel, self.out_hw, self.fused_pool
        (crop_h, crop_w), pad, _ = self._input_grad_grid(n)
        cropping = crop_h > 0 or crop_w > 0  # never with a fused pool
        mask = None
        if self.fused_relu and not cropping:
            mask = self.relu_mask.transpose(0, 2, 3, 1)
        else:
            dout = self._masked(dout)
        dout_hwc = dout.transpose(0, 2, 3, 1)[:, crop_h : oh - crop_h, crop_w : ow - crop_w]
        flipped = weight_rows(self.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        if self.needs_input_grad:
            dx = self.input_grad((n, h, w, c), dout.dtype, dout, None if self.x_pixel_major else (0, 3, 1, 2))
        grad = np.zeros((kh, kw * filters, c), dtype=dout.dtype)  # [kh][(kw, f), c], both flipped
        bias_grad = np.zeros(filters, dout.dtype)
        for block, x_rows in zip(self.block_slices, self.x_rows, strict=True):
            count = block.stop - block.start
            stride, rows = self._input_grad_grid(count)[2]
            stacked_shape = (rows, ow - 2 * crop_w + 2 * pad[1], filters)
            stacked = self.scratch(f"dout_stacked{count}", stacked_shape, dout.dtype, fill=0.0)
            col = self.workspace.array(Slot.COLUMNS, (rows * w, kw * filters), dout.dtype)
            block_mask = None if mask is None else mask[block]
            if pool is None:
                columns = width_columns(dout_hwc[block], self.kernel, pad, stacked, col, block_mask)
            else:
                pooled = dout_hwc[block]
                if block_mask is not None:
                    masked = self.workspace.array(Slot.MASKED_DOUT, pooled.shape, pooled.dtype)
                    pooled = np.multiply(pooled, block_mask, out=masked)
                images = stacked_images(stacked, count, oh, pad, kh).transpose(0, 3, 1, 2)
                pool.max_backward(pooled.transpose(0, 3, 1, 2), self.pool_which[block].transpose(0, 3, 1, 2), images)
                columns = expand_width(stacked, kw, col)
            if not cropping:
                ones = self.scratch(f"ones{count}", (stacked.size // filters,), dout.dtype, fill=1.0)
                bias_grad += ones @ stacked.reshape(-1, filters)
            grad += shifted_weight_grad(columns, x_rows.reshape(-1, c), w, kh)
            if self.needs_input_grad:
                np.copyto(dx[block], self._shifted_pixels(columns, flipped, (count, stride, h, w)))
        self.grads["W"] = np.ascontiguousarray(grad[::-1].reshape(kh, kw, filters, c)[:, ::-1].transpose(2, 3, 0, 1))
        self.grads["b"] = channel_sums(dout) if cropping else bias_grad
        return dx.transpose(0, 3, 1, 2) if self.needs_input_grad else None


class ConvMemory(LayerMemory):
    """Conv's memory, layout by layout: the columns (or, shifted, the input's rows) kept for dW, the padded
    buffers, the workspace's columns and products, the fused relu's mask and the fused pool's winners."""

    def __init__(self, node, params, tracker, workspace, itemsize):
        super().__init__(node, params, tracker, workspace, itemsize)
        self.kernel = tuple(self.args["kernel"])
        self.stride = tuple(self.args.get("stride", (1, 1)))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]
        self.filters = self.out_shape[0]
        self.fused_relu = False
        self.fused_pool = None
        self.layout = column_layout(self.in_shape, self.kernel, self.stride, self.out_hw)

    @property
    def fused_out_shape(self) -> tuple[int, ...]:
        return self.out_shape if self.fused_pool is None else self.fused_pool.out_shape

    def can_absorb(self, following, absorbed) -> bool:
        """As Conv.can_absorb."""
        ops = tuple(layer.node["op"] for layer in absorbed)
        if following.node["op"] == "relu":
            return "relu" not in ops
        uncropped = all(p <= k - 1 for p, k in zip(self.pad, self.kernel, strict=True))
        return (
            not ops and following.node["op"] == "pool" and following.fusable
            and self.layout == "shifted" and uncropped
        )

    def absorb(self, layers) -> None:
        super().absorb(layers)
        pools = [layer for layer in layers if layer.node["op"] == "pool"]
        self.fused_pool = pools[0] if pools else None
        self.fused_relu = any(layer.node["op"] == "relu" for layer in layers)

    def _columns(self, key, x_shape, pad, out_hw, in_training, keep, channels_first=False, per_image=False):
        c, n = x_shape[:2] if channels_first else x_shape[1::-1]
        (kh, kw), (ph, pw), (h, w) = self.kernel, pad, x_shape[2:]
        rows, pixels = c * kh * kw, out_hw[0] * out_hw[1]
        if in_training and (ph or pw):
            self.scratch(key + ".padded", x_shape[:2] + (h + 2 * ph, w + 2 * pw))
        shape = (n, rows, pixels) if per_image else (rows, n * pixels)
        col = self.scratch(key, shape, kind="activations") if keep else self.ws(Slot.COLUMNS, shape)
        if not in_training and (ph or pw):
            self.spike(prod(x_shape[:2]) * (h + 2 * ph) * (w + 2 * pw) * self.itemsize)  # padded in fresh memory
        return col

    def _relu(self, out, train):
        if self.fused_relu:
            if train:
                mask = self.scratch("relu_mask", out.shape, BOOL, "activations", out.order)
            else:
                mask = self.like(out, BOOL)
            self.casting(out.size)  # out times the mask
            self.relu_mask = mask if train else None
        return out

    def _masked(self, dout):
        if not self.fused_relu:
            return dout
        masked = self.ws(Slot.MASKED_DOUT, dout.shape, order=dout.order)
        self.casting(dout.size)
        return masked

    def forward(self, x, train):
        self.x_shape = x.shape
        if self.layout == "shifted":
            return self._forward_shifted(x, train)
        n = x.shape[0]
        self.col = self._columns(
            "col", x.shape, self.pad, self.out_hw, in_training=train, keep=train, per_image=self.layout == "per_image"
        )
        if self.layout == "per_image":
            out = self.output((n, self.filters, self.col.shape[2]), train)
            return self._relu(out.view((n,) + self.out_shape), train)
        self.ws(Slot.PRODUCT, (self.filters, self.col.shape[1]))
        return self._relu(self.output((n,) + self.out_shape, train), train)

    def backward(self, dout):
        if self.layout != "shifted":
            dout = self._masked(dout)
        if self.layout == "shifted":
            return self._backward_shifted(dout)
        n = dout.shape[0]
        if self.layout == "per_image":
            self.ws(Slot.DW_PER_IMAGE, (n, self.filters, self.col.shape[1]))
        else:
            self.ws(Slot.DOUT_BY_FILTER, (self.filters, n) + dout.shape[2:])
        self.set_grad("W")
        self.set_grad("b")
        if not self.needs_input_grad:
            return None
        rows = self.in_shape[0] * prod(self.kernel)
        dcol = self.new((rows, n * prod(self.out_hw)))
        (ph, pw), (c, h, w) = self.pad, self.in_shape
        dxp = self.new((n, c, h + 2 * ph, w + 2 * pw), kind="activations")  # col2im's sums
        del dcol
        return dxp.view(self.x_shape)

    def _input_grad_grid(self, n):
        (kh, kw), (ph, pw), (oh, _) = self.kernel, self.pad, self.out_hw
        crop = (max(ph - kh + 1, 0), max(pw - kw + 1, 0))
        pad = (max(kh - 1 - ph, 0), max(kw - 1 - pw, 0))
        return crop, pad, stacked_grid(n, oh - 2 * crop[0], pad[0], kh)

    def _blocks(self, n, c, h) -> list[tuple[int, int]]:
        """Conv.blocks() as (images per block, how many blocks of that size): the same calls, once per size, so
        that a batch of any size costs the forecast two turns."""
        (_, kw), (ph, _), (_, ow) = self.kernel, self.pad, self.out_hw
        per_block = max(1, Conv.BLOCK_BYTES // ((h + ph) * ow * kw * c * self.itemsize))
        count = -(-n // per_block)
        size = -(-n // count)
        whole, last = divmod(n, size)
        return [(size, whole)] + ([(last, 1)] if last else [])

    def _shifted_pixels(self, column_rows, row_step, outputs):
        kh = self.kernel[0]
        self.ws(Slot.SHIFTED_ROWS, (column_rows, outputs))
        self.ws(Slot.SHIFTED_TERM, (column_rows - (kh - 1) * row_step, outputs))

    def _forward_shifted(self, x, train):
        n, c, h, w = x.shape
        self.x_pixel_major = x.order == "nhwc"
        (kh, kw), (ph, pw), ow = self.kernel, self.pad, self.out_hw[1]
        pool = self.fused_pool
        weights = self.like(self.params["W"])  # weight_rows
        fused = self.fused_out_shape
        out = self.output((n,) + tuple(fused[1:]) + (fused[0],), train, "nhwc")
        if self.fused_relu and train:
            self.scratch("relu_mask", out.shape, BOOL, "activations")
        if pool is not None and train:
            self.scratch("pool_which", out.shape, pool.index_bytes, "activations")
        self.block_counts = self._blocks(n, c, h)
        for count, repeat in self.block_counts:
            stride, rows = stacked_grid(count, h, ph, kh)
            self.scratch(f"x_stacked{count}", (rows, w + 2 * pw, c))
            self.ws(Slot.COLUMNS, (rows * ow, kw * c))
            if train:  # one array of the block's input rows per block, kept for dW
                _, _, (_, x_rows) = self._input_grad_grid(count)
                self.scratch(f"x_rows{count}", (repeat, x_rows, w, c), kind="activations")
            self._shifted_pixels(rows * ow, ow, self.filters)
            block_out = (count,) + tuple(fused[1:]) + (fused[0],)
            if pool is not None:
                pool.max_forward(block_out, "nhwc", train)
            if self.fused_relu:
                self.scratch(f"zeros{count}", block_out)
        del weights
        return out.view((n,) + tuple(fused), "nhwc")

    def _backward_shifted(self, dout):
        n = dout.shape[0]
        c, h, w = self.x_shape[1:]
        kw, ow, pool = self.kernel[1], self.out_hw[1], self.fused_pool
        (crop_h, crop_w), pad, _ = self._input_grad_grid(n)
        cropping = crop_h > 0 or crop_w > 0
        fused_mask = self.fused_relu and not cropping
        if not fused_mask:
            dout = self._masked(dout)
        flipped = self.like(self.params["W"])  # weight_rows of the flipped weights
        dx = None
        if self.needs_input_grad:
            dx = self.input_grad((n, h, w, c), "nhwc" if self.x_pixel_major else "nchw")
        grad = self.like(self.params["W"])
        for count, _ in self.block_counts:
            stride, rows = self._input_grad_grid(count)[2]
            stacked_shape = (rows, ow - 2 * crop_w + 2 * pad[1], self.filters)
            stacked = self.scratch(f"dout_stacked{count}", stacked_shape)
            self.ws(Slot.COLUMNS, (rows * w, kw * self.filters))
            if pool is not None:
                pooled = (count,) + tuple(pool.out_shape[1:]) + (self.filters,)
                if fused_mask:
                    self.ws(Slot.MASKED_DOUT, pooled)
                    self.casting(prod(pooled))
                pool.max_backward(pooled)
            elif fused_mask:
                self.casting(count * prod(self.out_shape))  # dout times the mask, as it is stacked
            if not cropping:
                self.scratch(f"ones{count}", (stacked.size // self.filters,))
            self.spike(grad.nbytes)  # shifted_weight_grad, added to grad
            if self.needs_input_grad:
                self._shifted_pixels(rows * w, w, c)
        self.set_grad("W")
        self.set_grad("b")
        del grad, flipped
        if dx is None:
            return None
        return dx.view(self.x_shape)


def _out_shape(args: Args, in_shape: Shape) -> Shape:
    needs_image("conv", in_shape)
    return window_shape(args, in_shape, args["filters"])


def _weight_shape(args: Args, in_shape: Shape) -> Shape:
    return [args["filters"], in_shape[0], *args["kernel"]]


def _fan_in(args: Args, in_shape: Shape) -> int:
    """Inputs feeding one output unit: C·KH·KW."""
    return in_shape[0] * prod(args["kernel"])


def _unit_stride(args: Args) -> list[int]:
    """1x1"""
    return [1, 1]


def _macs(args: Args, in_shape: Shape, out_shape: Shape) -> int:
    return prod(out_shape) * _fan_in(args, in_shape)


OP = Op(
    "conv", "2-D convolution (cross-correlation) with F filters of KHxKW", Conv, memory=ConvMemory,
    positional=(
        Arg("filters", "int", "the number of filters", bounds={"minimum": 1}),
        Arg("kernel", "size", "the kernel size (like 5x5 or 3)", noun="the kernel size", bounds={"minimum": 1}),
    ),
    options=(STRIDE.with_default(_unit_stride), PAD, rounding("floor"), INIT),
    out_shape=_out_shape,
    params=(
        Param("W", _weight_shape, "(F, C, KH, KW)", fan_in=_fan_in),
        Param("b", lambda args, in_shape: [args["filters"]], "(F)", fill=0.0),
    ),
    macs=_macs,
    checks=(
        ("conv 3 3x3", "2x5x5"),
        ("conv 2 3x2 stride 2 pad 1", "3x7x6"),
        ("conv 2 3x3 stride 2 round floor", "1x8x8"),
        ("conv 4 1x1", "3x2x2"),
        ("conv 2 3x3 pad 1", "2x5x4"),
        ("conv 2 2x2 pad 2", "1x3x3"),
        ("conv 3 3x3 pad 1", "4x5x5"),
        ("conv 2 3x3 stride 2 pad 1", "4x7x7"),
        ("conv 2 2x2 pad 2", "9x3x3"),
        ("conv 3 3x3 pad 1", "5x6x7"),
        ("conv 2 3x3", "5x5x4"),
        ("conv 3 3x3 pad 2", "4x5x3"),
        ("conv 2 2x3 pad 1", "6x5x7"),
        ("conv 3 3x2 pad 2", "1x4x5"),
        ("conv 2 1x3 pad 1", "7x3x5"),
        ("conv 2 4x1 pad 1", "9x6x3"),
        ("conv 2 5x3 pad 2", "3x7x5"),
        ("conv 2 3x3 stride 2 pad 1", "5x6x6"),  # a partial last window of bottom/right padding only
        ("conv 3 1x1 stride 2", "2x6x5"),  # the stride skips the last row as it skips every other
    ),
)
