"""Stride-1 convolution as GEMMs on row-shifted slices of a width-only im2col buffer (KW times the input, not KH*KW).

The images, channels-last and zero-padded, are stacked on top of each other into one tall image of `rows`
rows (Wp, C), the zero rows between two images shared as the bottom padding of one and the top padding of
the next (stacked_grid). That is expanded along the kernel width only, into

    columns (rows*OW, KW*C)    row (r, w) holds xp[r, w : w + KW, :], flattened (kw major, c minor)

Output pixel (r, ow) needs rows (r + kh, ow) for kh < KH, and those are row (r, ow) moved on by kh*OW:
kernel row kh is the contiguous slice columns[kh*OW : kh*OW + M], which BLAS reads in place. So, with W_kh
the (KW*C, F) weights of kernel row kh,

    out[q] = sum over kh of columns[q + kh*OW] @ W_kh

for every row q < M = rows*OW - (KH-1)*OW. Output rows that straddle two images are computed and then
dropped (as output gradients: zero); sharing the padding rows keeps them few (one in 29 rows for a 3x3
kernel with pad 1 on 28x28 images, none with pad 2). These are one Python iteration per kernel row, none
per image or pixel.
"""

from __future__ import annotations

from netlang.lazy import numpy as np


def stacked_grid(n: int, h: int, pad_h: int, kernel_h: int) -> tuple[int, int]:
    """(stride, rows) of n images of h rows stacked with pad_h zero rows above and below each, shared.

    Image i's data starts at row pad_h + i*stride, and the zero rows between two images serve as the bottom
    padding of one and the top padding of the next. The stride leaves room for the image's output rows,
    which start at row i*stride; `rows` is the height of the whole stack.
    """
    out_h = h + 2 * pad_h - kernel_h + 1
    stride = max(h + pad_h, out_h)
    return stride, max((n - 1) * stride + h + 2 * pad_h, pad_h + n * stride)


def stacked_images(stacked: np.ndarray, n: int, h: int, pad: tuple[int, int], kernel_h: int) -> np.ndarray:
    """The (N, H, W, C) view of the images' places in `stacked`, a (rows, W + 2*pad_w, C) stack (stacked_grid)."""
    (ph, pw), (_, wp, c) = pad, stacked.shape
    stride = stacked_grid(n, h, ph, kernel_h)[0]
    return stacked[ph : ph + n * stride].reshape(n, stride, wp, c)[:, :h, pw : wp - pw]


def expand_width(stacked: np.ndarray, kernel_w: int, out: np.ndarray) -> np.ndarray:
    """A C-contiguous stack (rows, Wp, C) -> its width-only columns (rows*OW, KW*C), written into `out`."""
    rows, wp, c = stacked.shape
    ow, item = wp - kernel_w + 1, stacked.itemsize
    # (rows, OW, KW, C) windows: a strided view made directly (sliding_window_view costs tens of microseconds).
    strides = (wp * c * item, c * item, c * item, item)
    windows = np.ndarray((rows, ow, kernel_w, c), stacked.dtype, stacked, strides=strides)
    np.copyto(out.reshape(rows, ow, kernel_w, c), windows)
    return out.reshape(-1, kernel_w * c)


def width_columns(
    x_hwc: np.ndarray,
    kernel: tuple[int, int],
    pad: tuple[int, int],
    stacked: np.ndarray,
    out: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """x_hwc, a (N, H, W, C) view in any memory order -> columns (rows*OW, KW*C), written into `out`.

    The images are copied into `stacked`, a C-contiguous (rows, W + 2*pad_w, C) array laid out as stacked_grid
    says, whose padding must be zero: only the images' places are written. That is then expanded along the
    kernel width. With a boolean `mask` shaped like x_hwc, the images are multiplied by it as they are copied.
    """
    images = stacked_images(stacked, x_hwc.shape[0], x_hwc.shape[1], pad, kernel[0])
    if mask is None:
        images[...] = x_hwc
    else:
        np.multiply(x_hwc, mask, out=images)
    return expand_width(stacked, kernel[1], out)


def weight_rows(weights: np.ndarray) -> np.ndarray:
    """W (F, C, KH, KW) -> (KH, KW*C, F): for each kernel row, the matrix its column slice multiplies."""
    f, c, kh, kw = weights.shape
    return np.ascontiguousarray(weights.transpose(2, 3, 1, 0)).reshape(kh, kw * c, f)


def shifted_matmul(columns: np.ndarray, weights_by_row: np.ndarray, row_step: int, out: np.ndarray, tmp: np.ndarray):
    """out[:M] = sum over kh of columns[kh*row_step : kh*row_step + M] @ weights_by_row[kh] (see the module doc).

    `out` is (rows of columns, F); its last (KH-1)*row_step rows are left as they were. `tmp` is (M, F).
    KH GEMMs and KH-1 adds ran faster than one GEMM on the stacked weights and KH-1 shifted adds of its
    KH times wider output (DeepConvNet's conv2 forward: 3.3 ms against 5.7 ms on two threads).
    """
    kh = weights_by_row.shape[0]
    m = columns.shape[0] - (kh - 1) * row_step
    np.matmul(columns[:m], weights_by_row[0], out=out[:m])
    for i in range(1, kh):
        np.matmul(columns[i * row_step : i * row_step + m], weights_by_row[i], out=tmp)
        out[:m] += tmp
    return out


def shifted_weight_grad(columns: np.ndarray, rows: np.ndarray, row_step: int, kernel_h: int) -> np.ndarray:
    """(KH, columns' width, rows' width): entry kh is sum over q < M of outer(columns[q + kh*row_step], rows[q]).

    The adjoint of shifted_matmul in its weights, given rows that are zero wherever no output uses them.
    """
    m = columns.shape[0] - (kernel_h - 1) * row_step
    grad = np.empty((kernel_h, columns.shape[1], rows.shape[1]), dtype=columns.dtype)
    for i in range(kernel_h):
        np.matmul(columns[i * row_step : i * row_step + m].T, rows[:m], out=grad[i])
    return grad
