"""Windows of an image batch as strided views: padding, im2col and its adjoint col2im (shared with pooling).

im2col makes one copy from a strided view whose innermost axis stays contiguous, in one of two layouts:

    channel-major  (C*KH*KW, N*OH*OW)   the transpose of the book's (N*OH*OW, C*KH*KW)
    per-image      (N, C*KH*KW, OH*OW)  one matrix per image
"""

from __future__ import annotations

from netlang.lazy import numpy as np


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
    """A read-only strided view (N, C, OH, OW, KH, KW) of the windows of an already padded input.

    Made directly from the strides where xp is C-contiguous: sliding_window_view took about 20 microseconds a call,
    a third of digits_convnet's whole forward at batch 1.
    """
    (sh, sw), (oh, ow) = stride, out_hw
    n_stride, c_stride, h_stride, w_stride = xp.strides
    shape = (*xp.shape[:2], oh, ow, *kernel)
    strides = (n_stride, c_stride, h_stride * sh, w_stride * sw, h_stride, w_stride)
    if xp.flags.c_contiguous:
        view = np.ndarray(shape, xp.dtype, xp, strides=strides)
    else:
        view = np.lib.stride_tricks.as_strided(xp, shape, strides)
    view.flags.writeable = False
    return view


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
    per_image: bool = False,
) -> np.ndarray:
    """x (N, C, H, W), or (C, N, H, W) if channels_first -> columns (C*KH*KW, N*OH*OW), one copy;
    with per_image (and x in (N, C, H, W) order), columns (N, C*KH*KW, OH*OW) instead.

    `out` and `pad_buffer` are optional work arrays to fill instead of allocating (see padded()).
    """
    c, n = x.shape[:2] if channels_first else x.shape[1::-1]
    rows, pixels = c * kernel[0] * kernel[1], out_hw[0] * out_hw[1]
    view = windows(padded(x, pad, out=pad_buffer), kernel, stride, out_hw)
    if per_image:
        view, shape = view.transpose(0, 1, 4, 5, 2, 3), (n, rows, pixels)
    else:
        view, shape = view.transpose((0, 4, 5, 1, 2, 3) if channels_first else (1, 4, 5, 0, 2, 3)), (rows, n * pixels)
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
    """Columns in either layout (told apart by rank) -> input gradient (N, C, H, W), overlaps summed."""
    n, c, h, w = in_shape
    if col.ndim == 3:
        dwin = col.reshape((n, c, *kernel, *out_hw))
    else:
        dwin = col.reshape((c, *kernel, n, *out_hw)).transpose(3, 0, 1, 2, 4, 5)
    padded_hw = (h + 2 * pad[0], w + 2 * pad[1])
    return accumulate_windows(dwin, padded_hw, stride, pad, (h, w))
