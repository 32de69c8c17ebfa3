"""upsample: nearest-neighbour upsampling of an image by a whole factor per axis, as U-Net's decoder needs.

Each input pixel becomes an FH×FW block of copies, so the backward pass sums each block of the output
gradient. Nearest neighbour is what a U-Net for 28×28 images needs in front of its convolutions (which then
learn the smoothing); bilinear interpolation would be a `mode` option of its own, left out until wanted.
"""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Arg, Args, Op, Shape, needs_image


class Upsample(Layer):
    keeps_no_io = True  # backward needs only the shapes

    def forward(self, x, train):
        n, c, h, w = x.shape
        fh, fw = self.args["factor"]
        out = self.output((n, c, h * fh, w * fw), x.dtype, x, train)
        # out viewed as (n, c, h, fh, w, fw): input pixel (i, j) fills block [i, :, j, :]
        np.copyto(out.reshape(n, c, h, fh, w, fw), x[:, :, :, None, :, None])
        return out

    def backward(self, dout):
        n, c, h, w = (dout.shape[0], *self.in_shape)
        fh, fw = self.args["factor"]
        dx = self.input_grad((n, c, h, w), dout.dtype, dout)
        np.sum(dout.reshape(n, c, h, fh, w, fw), axis=(3, 5), out=dx)
        return dx


class UpsampleMemory(LayerMemory):
    def forward(self, x, train):
        return self.output((x.shape[0],) + self.out_shape, train)

    def backward(self, dout):
        return self.input_grad((dout.shape[0],) + self.in_shape)


def _out_shape(args: Args, in_shape: Shape) -> Shape:
    needs_image("upsample", in_shape)
    (fh, fw), (c, h, w) = args["factor"], in_shape
    return [c, h * fh, w * fw]


OP = Op(
    "upsample", "nearest-neighbour upsampling by whole factors FHxFW: each pixel becomes an FH×FW block", Upsample,
    memory=UpsampleMemory,
    positional=(
        Arg("factor", "size", "the upsampling factor (like 2 or 2x3)", noun="the upsampling factor",
            bounds={"minimum": 1}),
    ),
    out_shape=_out_shape,
    checks=(
        ("upsample 2", "2x3x3"),
        ("upsample 2x3", "3x2x4"),
        ("upsample 1", "2x3x2"),
        ("upsample 3x1", "1x2x5"),
    ),
)
