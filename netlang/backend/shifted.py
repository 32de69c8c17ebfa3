"""Stride-1 convolution as GEMMs on row-shifted slices of a width-only im2col buffer (KW times the input, not KH*KW).

The zero-padded input, channels-last (N, Hp, Wp, C), is expanded along the kernel width only, into

    columns (N*Hp*OW, KW*C)    row (n, h, w) holds xp[n, h, w : w + KW, :], flattened (kw major, c minor)

with every padded row h < Hp of each image kept. Output pixel (n, oh, ow) needs rows (n, oh + kh, ow) for
kh < KH, and those are row (n, oh, ow) moved on by kh*OW: kernel row kh is the contiguous slice
columns[kh*OW : kh*OW + M], which BLAS reads in place. So, with W_kh the (KW*C, F) weights of kernel row kh,

    out[q] = sum over kh of columns[q + kh*OW] @ W_kh

for every row q < M = N*Hp*OW - (KH-1)*OW. Rows whose h >= OH reach into the next image: they are computed
and then dropped (and, as output gradients, set to zero). These are one Python iteration per kernel row,
none per image or pixel.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def width_columns(
    x_hwc: np.ndarray, kernel_w: int, pad: tuple[int, int], out: np.ndarray, pad_buffer: np.ndarray
) -> np.ndarray:
    """x_hwc, a (N, H, W, C) view in any memory order -> columns (N*Hp*OW, KW*C) as above, written into `out`.

    `pad` rows/cols of zeros go on every side; a negative pad crops instead (the transposed convolution of
    backward needs that when a layer pads by more than K-1). `pad_buffer` (N, Hp, Wp, C) is overwritten whole.
    """
    n, h, w, c = x_hwc.shape
    (ph, pw) = pad
    crop_h, crop_w = max(-ph, 0), max(-pw, 0)
    x_hwc = x_hwc[:, crop_h : h - crop_h, crop_w : w - crop_w]
    (ph, pw), (h, w) = (max(ph, 0), max(pw, 0)), x_hwc.shape[1:3]
    xp = pad_buffer
    if ph:
        xp[:, :ph] = 0
        xp[:, ph + h :] = 0
    if pw:
        xp[:, ph : ph + h, :pw] = 0
        xp[:, ph : ph + h, pw + w :] = 0
    xp[:, ph : ph + h, pw : pw + w] = x_hwc
    ow = xp.shape[2] - kernel_w + 1
    windows = sliding_window_view(xp, kernel_w, axis=2)  # (N, Hp, OW, C, KW)
    np.copyto(out.reshape(n, xp.shape[1], ow, kernel_w, c), windows.transpose(0, 1, 2, 4, 3))
    return out.reshape(-1, kernel_w * c)


def padded_hw(in_hw: tuple[int, ...], pad: tuple[int, int]) -> tuple[int, int]:
    """The (Hp, Wp) of a (H, W) input padded by `pad` on every side (negative: cropped)."""
    return in_hw[0] + 2 * pad[0], in_hw[1] + 2 * pad[1]


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
