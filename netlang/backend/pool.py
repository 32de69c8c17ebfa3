"""Max and average pooling over strided windows: any stride, padding, and floor/ceil rounding.

Max pooling pads with -inf and sends each output's gradient to exactly one input (the first maximum).
Average pooling counts padded zeros but not the part of a ceil-mode window that overhangs the padded input.
"""

from __future__ import annotations

import numpy as np

from netlang.backend.base import Layer
from netlang.backend.conv import accumulate_windows, padded, windows


class Pool(Layer):
    def __init__(self, node, params, buffers):
        super().__init__(node, params, buffers)
        self.kind = self.args.get("kind", "max")
        self.kernel = tuple(self.args["kernel"])
        self.stride = tuple(self.args.get("stride", self.kernel))
        self.pad = tuple(self.args.get("pad", (0, 0)))
        self.out_hw = self.out_shape[1:]
        _, h, w = self.in_shape
        self.padded_hw = (h + 2 * self.pad[0], w + 2 * self.pad[1])
        # A ceil-mode window may reach past the padded input: extend it so every window is a full view.
        self.overhang = tuple(
            max(0, (o - 1) * s + k - p)
            for o, s, k, p in zip(self.out_hw, self.stride, self.kernel, self.padded_hw, strict=False)
        )
        self.divisor = self._covered_counts() if self.kind == "avg" else None

    def _covered_counts(self) -> np.ndarray:
        """(OH, OW) count of padded-input elements each window covers (overhang excluded)."""
        counts = []
        for o, s, k, p in zip(self.out_hw, self.stride, self.kernel, self.padded_hw, strict=False):
            starts = np.arange(o) * s
            counts.append(np.minimum(starts + k, p) - starts)
        return np.outer(counts[0], counts[1])

    def forward(self, x, train):
        fill = -np.inf if self.kind == "max" else 0.0
        view = windows(padded(x, self.pad, self.overhang, fill), self.kernel, self.stride, self.out_hw)
        if self.kind == "avg":
            return view.sum(axis=(4, 5)) / self.divisor.astype(x.dtype)
        flat = view.reshape(view.shape[:4] + (-1,))
        self.argmax = flat.argmax(axis=-1)[..., None]
        return np.take_along_axis(flat, self.argmax, axis=-1)[..., 0]

    def backward(self, dout):
        n, c, oh, ow = dout.shape
        kh, kw = self.kernel
        if self.kind == "avg":
            per_element = dout / self.divisor.astype(dout.dtype)
            dwin = np.broadcast_to(per_element[:, :, None, None], (n, c, kh, kw, oh, ow))
        else:
            dflat = np.zeros((n, c, oh, ow, kh * kw), dtype=dout.dtype)
            np.put_along_axis(dflat, self.argmax, dout[..., None], axis=-1)
            dwin = dflat.reshape(n, c, oh, ow, kh, kw).transpose(0, 1, 4, 5, 2, 3)
        full_hw = tuple(p + e for p, e in zip(self.padded_hw, self.overhang, strict=False))
        return accumulate_windows(dwin, full_hw, self.stride, self.pad, self.in_shape[1:])
