"""Convolution by im2col + GEMM, with the padding and window helpers it shares with pooling.

Columns are laid out (C*KH*KW, N*OH*OW), the transpose of the book's (N*OH*OW, C*KH*KW): one copy from a
strided view of the input (the innermost axis stays contiguous), and then each of forward, dW and dx is
ONE large GEMM. That matters with threads: a GEMM per image (a batched matmul) has too little work per
call for BLAS to share out, and ran no faster on two threads than on one. The price is a transpose of
the (smaller) output and output gradient between (N, F, ...) and (F, N, ...) order.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netlang.backend.base import Layer


def padded(
    x: np.ndarray,
    pad: tuple[int, int],
    extra: tuple[int, int] = (0, 0),
    fill: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """x (N, C, H, W) with `pad` rows/cols of `fill` on every side, plus `extra` more at the bottom/right.

    `out`, if given, is a buffer of the padded shape whose border already holds `fill`: only its interior
    is written. Without padding, x itself is returned.
    """
    (ph, pw), (eh, ew) = pad, extra
    if ph == pw == eh == ew == 0:
        return x
    n, c, h, w = x.shape
    if out is None:
        out = np.full((n, c, h + 2 * ph + eh, w + 2 * pw + ew), fill, dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A read-only strided view (N, C, OH, OW, KH, KW) of the windows of an already padded input."""
    (sh, sw), (oh, ow) = stride, out_hw
    view = sliding_window_view(xp, kernel, axis=(2, 3))
    return view[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]


def accumulate_windows(
    dwin: np.ndarray,
    padded_hw: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    in_hw: tuple[int, int],
) -> np.ndarray:
    """Sum window gradients dwin (N, C, KH, KW, OH, OW) onto the input (N, C, H, W): adjoint of windows().

    One Python iteration per kernel offset (KH*KW), none per image or pixel.
    """
    n, c, kh, kw, oh, ow = dwin.shape
    (sh, sw), (ph, pw), (h, w) = stride, pad, in_hw
    dxp = np.zeros((n, c) + tuple(padded_hw), dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw] += dwin[:, :, i, j]
    return dxp[:, :, ph : ph + h, pw : pw + w]


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out_hw: tuple[int, int],
    out: np.ndarray | None = None,
    pad_buffer: np.ndarray | None = None,
    channels_first: bool = False,
) -> np.ndarray:
    """x (N, C, H, W), or (C, N, H, W) if channels_first -> columns (C*KH*KW, N*OH*OW), one copy.

    `out` and `pad_buffer` are optional work arrays to fill instead of allocating (see padded()).
    """
    c, n = x.shape[:2] if channels_first else x.shape[1::-1]
    view = windows(padded(x, pad, out=pad_buffer), kernel, stride, out_hw)
    view = view.transpose((0, 4, 5, 1, 2, 3) if channels_first else (1, 4, 5, 0, 2, 3))
    shape = (c * kernel[0] * kernel[1], n * out_hw[0] * out_hw[1])
    if out is None:
        return view.reshape(shape)
    np.copyto(out.reshape(view.shape), view)
    return out


def col2im(
    col: np.ndarray,
    in_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Columns (C*KH*KW, N*OH*OW) -> input gradient (N, C, H, W), summing overlapping windows."""
    n, c, h, w = in_shape
    dwin = col.reshape((c, *kernel, n, *out_hw)).transpose(3, 0, 1, 2, 4, 5)
    padded_hw = (h + 2 * pad[0], w + 2 * pad[1])
    return accumulate_windows(dwin, padded_hw, stride, pad, (h, w))


class Conv(Layer):
    """Convolution with W (F, C, KH, KW) and b (F); output size read from the IR's out_shape."""

    def __init__(self, node, params, buffers):
        super().__init__(node, params, buffers)
        self.kernel = tuple(self.params["W"].shape[2:])
        self.stride = tuple(self.args.get("stride", (1, 1)))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]

    def _columns(self, key: str, x, stride, pad, out_hw, in_training: bool, keep: bool, channels_first=False):
        """im2col of x: into this layer's own work array named `key` if `keep`, else the shared workspace.

        Work arrays, and the zero-bordered buffer x is padded in, last from step to step in training.
        Inference, whose batches may be much larger, borrows the workspace and pads into fresh memory.
        """
        c, n = x.shape[:2] if channels_first else x.shape[1::-1]
        (kh, kw), (ph, pw), (h, w) = self.kernel, pad, x.shape[2:]
        pad_buffer = None
        if in_training and (ph or pw):
            pad_buffer = self.scratch(key + ".padded", x.shape[:2] + (h + 2 * ph, w + 2 * pw), x.dtype, fill=0.0)
        shape = (c * kh * kw, n * out_hw[0] * out_hw[1])
        col = self.scratch(key, shape, x.dtype) if keep else self.workspace.array("col", shape, x.dtype)
        return im2col(x, self.kernel, stride, pad, out_hw, col, pad_buffer, channels_first)

    def forward(self, x, train):
        self.x_shape = x.shape
        n, filters = x.shape[0], self.params["W"].shape[0]
        # Only training needs the columns again (for dW); inference borrows the shared workspace.
        self.col = self._columns("col", x, self.stride, self.pad, self.out_hw, in_training=train, keep=train)
        out_by_filter = self.workspace.array("out", (filters, self.col.shape[1]), x.dtype)
        np.matmul(self.params["W"].reshape(filters, -1), self.col, out=out_by_filter)
        out = np.empty((n,) + self.out_shape, dtype=x.dtype)
        by_image = out_by_filter.reshape(filters, n, -1).transpose(1, 0, 2)
        np.add(by_image, self.params["b"][:, None], out=out.reshape(n, filters, -1))  # transpose + bias
        return out

    def backward(self, dout):
        n, filters = dout.shape[0], self.params["W"].shape[0]
        dout_by_filter = self.workspace.array("dout", (filters, n) + dout.shape[2:], dout.dtype)
        np.copyto(dout_by_filter, dout.transpose(1, 0, 2, 3))
        dout_rows = dout_by_filter.reshape(filters, -1)
        # dW^T = col @ dout^T runs 15-25% faster here than dW = dout @ col^T (measured); the transpose is tiny.
        self.grads["W"] = (self.col @ dout_rows.T).T.reshape(self.params["W"].shape)
        self.grads["b"] = dout_rows.sum(axis=1)
        if not self.needs_input_grad:
            return None
        if self.stride == (1, 1) and all(p <= k - 1 for p, k in zip(self.pad, self.kernel, strict=True)):
            return self._input_grad_by_transposed_conv(dout_by_filter)
        dcol = self.params["W"].reshape(filters, -1).T @ dout_rows
        return col2im(dcol, self.x_shape, self.kernel, self.stride, self.pad, self.out_hw)

    def _input_grad_by_transposed_conv(self, dout_by_filter: np.ndarray) -> np.ndarray:
        """dx for stride 1: dout padded by K-1-P, correlated with the flipped, channel-swapped W.

        One im2col and one GEMM, instead of a GEMM into a KH*KW times larger column array and a col2im.
        """
        n, c, h, w = self.x_shape
        kh, kw = self.kernel
        flipped = self.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, -1)
        full_pad = (kh - 1 - self.pad[0], kw - 1 - self.pad[1])
        col = self._columns(
            "dout_col", dout_by_filter, (1, 1), full_pad, (h, w), in_training=True, keep=False, channels_first=True
        )
        dx_by_channel = self.workspace.array("out", (c, n, h * w), dout_by_filter.dtype)
        np.matmul(flipped, col, out=dx_by_channel.reshape(c, -1))
        return np.ascontiguousarray(dx_by_channel.transpose(1, 0, 2)).reshape(self.x_shape)
