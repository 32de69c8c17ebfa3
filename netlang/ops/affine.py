"""affine: a fully connected layer, out = x·W + b, with W laid out (in, units).

An image input is flattened row-major over (C, H, W): the implicit-flatten pass puts a `flatten` layer
before it in the IR, and the NumPy layer also takes any input rank.
"""

from __future__ import annotations

from math import prod

from netlang.backend.base import Layer
from netlang.memory.layer import LayerMemory
from netlang.ops.base import INIT, Arg, Args, Op, Param, Shape


class Affine(Layer):
    def forward(self, x, train):
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        out = self.x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dout @ self.params["W"].T).reshape(self.x_shape)


class AffineMemory(LayerMemory):
    def forward(self, x, train):
        self.x_shape = x.shape
        flat = (x.shape[0], prod(x.shape[1:]))
        # reshaping an image in another memory order copies
        self.x = self.new(flat, kind="activations") if len(x.shape) > 2 and x.order != "nchw" else x.view(flat)
        return self.new((x.shape[0],) + self.out_shape, kind="activations")

    def backward(self, dout):
        self.set_grad("W")
        self.set_grad("b")
        if not self.needs_input_grad:
            return None
        return self.new(self.x_shape, kind="activations")


def _fan_in(args: Args, in_shape: Shape) -> int:
    """Inputs feeding one output unit: every input feature."""
    return prod(in_shape)


OP = Op(
    "affine", "fully connected layer with N outputs (flattens its input)", Affine, memory=AffineMemory,
    positional=(Arg("units", "int", "the number of outputs", bounds={"minimum": 1}),),
    options=(INIT,),
    out_shape=lambda args, in_shape: [args["units"]],
    params=(
        Param("W", lambda args, in_shape: [_fan_in(args, in_shape), args["units"]], "(in, units)", fan_in=_fan_in),
        Param("b", lambda args, in_shape: [args["units"]], "(units)", fill=0.0),
    ),
    macs=lambda args, in_shape, out_shape: prod(in_shape) * args["units"],
    flattens_images=True, checks=(("affine 4", "6"),),
)
