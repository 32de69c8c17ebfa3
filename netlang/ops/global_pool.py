"""global_pool: average (or max) of each channel over the whole image, whatever its size: C×H×W to a vector of C.

The output is a vector, as Keras' GlobalAveragePooling2D gives, not PyTorch's C×1×1 of AdaptiveAvgPool2d: what
follows it in ResNet, Inception and DenseNet is the classifier (`global_pool -> affine 10`), which reads
vectors, and a report row of `(64,)` says plainly that the spatial axes are gone. A C×1×1 image would only add
an implicit flatten to every such net, and nothing in these nets convolves a 1×1 image.

Average pooling sends each output's gradient to every pixel of its channel, divided by H·W; max pooling sends
it to one pixel, the first maximum in row-major order (as NumPy's argmax picks it).
"""

from __future__ import annotations

from netlang.backend.base import Layer
from netlang.lazy import numpy as np
from netlang.memory.layer import LayerMemory
from netlang.ops.base import Arg, Args, Op, Shape, needs_image


class GlobalPool(Layer):
    # backward needs only the input's shape (and, for max, the winners' positions it keeps itself)
    keeps_no_io = True

    def forward(self, x, train):
        n, c, h, w = x.shape
        by_channel = x.reshape(n, c, h * w)
        out = self.output((n, c), x.dtype, x, train)
        if self.args["kind"] == "avg":
            np.mean(by_channel, axis=2, out=out)
            return out
        winners = np.argmax(by_channel, axis=2)
        np.copyto(out, np.take_along_axis(by_channel, winners[:, :, None], axis=2)[:, :, 0])
        self.winners = winners if train else None
        return out

    def backward(self, dout):
        n, c, h, w = (dout.shape[0], *self.in_shape)
        dx = self.input_grad((n, c, h, w), dout.dtype, dout)
        if self.args["kind"] == "avg":
            np.copyto(dx, (dout / (h * w))[:, :, None, None])
            return dx
        dx[...] = 0
        np.put_along_axis(dx.reshape(n, c, h * w), self.winners[:, :, None], dout[:, :, None], axis=2)
        return dx


class GlobalPoolMemory(LayerMemory):
    def forward(self, x, train):
        n, c = x.shape[:2]
        out = self.output((n, c), train)
        if self.args["kind"] == "avg":
            return out
        winners = self.new((n, c), 8, "activations")  # argmax's int64 positions
        self.spike(n * c * self.itemsize)  # take_along_axis
        self.winners = winners if train else None
        return out

    def backward(self, dout):
        n = dout.shape[0]
        dx = self.input_grad((n,) + self.in_shape)
        if self.args["kind"] == "avg":
            self.spike(dout.nbytes)  # dout / (h * w)
        return dx


def _out_shape(args: Args, in_shape: Shape) -> Shape:
    needs_image("global_pool", in_shape)
    return [in_shape[0]]


OP = Op(
    "global_pool", "average (or max) of each channel over the whole image: C×H×W to a vector of C", GlobalPool,
    memory=GlobalPoolMemory,
    positional=(
        Arg("kind", "choice", "the pooling kind", required=False, default="avg", choices=("avg", "max")),
    ),
    out_shape=_out_shape,
    checks=(
        ("global_pool", "3x4x5"),
        ("global_pool max", "2x3x3"),
        ("global_pool avg", "4x1x1"),
        ("global_pool max", "3x1x7"),
    ),
)
