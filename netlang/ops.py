"""The op registry: every layer keyword of the language, with the signature of its arguments.

The keyword, the IR `op` value and the registry key are one string. Shape rules live in
netlang/shapes.py, NumPy layers in netlang/backend; tests check that the three registries agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Argument kinds, as written in a spec:
#   "int"    a whole number:               30
#   "real"   any number:                   0.5, 1e-5
#   "size"   a number or HxW pair:         2, 5x5   -> [H, W] in the IR
#   "choice" one of a fixed set of words:  avg
#   "word"   any word (checked later):     he, std:0.01


@dataclass(frozen=True)
class Arg:
    """One argument of a layer: its IR name, kind, a human phrase for errors, and a default if optional."""

    name: str
    kind: str
    what: str
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Op:
    """A layer keyword: positional arguments, then `option value` pairs, plus a one-line description."""

    name: str
    summary: str
    positional: tuple[Arg, ...] = ()
    options: tuple[Arg, ...] = ()
    activation: bool = False


_STRIDE = Arg("stride", "size", "the stride", required=False)
_PAD = Arg("pad", "size", "the padding", required=False, default=[0, 0])
_INIT = Arg("init", "word", "the initialiser (he, xavier, std:0.01, ...)", required=False)


def _round(*choices: str) -> Arg:
    return Arg("round", "choice", "the rounding of the output size", required=False, default="exact",
               choices=("exact", *choices))


def _activation(name: str, summary: str, *positional: Arg) -> Op:
    return Op(name, summary, positional=positional, activation=True)


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(
            "conv", "2-D convolution (cross-correlation) with F filters of KHxKW",
            positional=(
                Arg("filters", "int", "the number of filters"),
                Arg("kernel", "size", "the kernel size (like 5x5 or 3)"),
            ),
            options=(_STRIDE, _PAD, _round("floor"), _INIT),
        ),
        Op(
            "pool", "max or average pooling; stride defaults to the window size",
            positional=(
                Arg("kind", "choice", "the pooling kind", required=False, default="max", choices=("max", "avg")),
                Arg("kernel", "size", "the window size (like 2 or 3x3)"),
            ),
            options=(_STRIDE, _PAD, _round("floor", "ceil")),
        ),
        Op(
            "affine", "fully connected layer with N outputs (flattens its input)",
            positional=(Arg("units", "int", "the number of outputs"),),
            options=(_INIT,),
        ),
        Op("flatten", "reshape C×H×W into a vector (row-major)"),
        _activation("relu", "max(0, x)"),
        _activation("sigmoid", "1 / (1 + exp(-x))"),
        _activation("tanh", "hyperbolic tangent"),
        _activation("step", "1 where x > 0, else 0 (no gradient: inference only)"),
        _activation("identity", "x unchanged"),
        _activation("swish", "x · sigmoid(x)"),
        _activation("prelu", "leaky ReLU with a learned slope per channel"),
        _activation("softmax", "exp(x) / sum(exp(x)); the last layer only"),
        _activation(
            "leaky_relu", "x where x > 0, else alpha·x",
            Arg("alpha", "real", "the slope for negative inputs", required=False, default=0.01),
        ),
        _activation(
            "elu", "x where x > 0, else alpha·(exp(x) − 1)",
            Arg("alpha", "real", "the saturation value alpha", required=False, default=1.0),
        ),
        Op(
            "batchnorm", "batch normalisation (per channel on images) with learned scale and shift",
            options=(
                Arg("momentum", "real", "the running-average momentum", required=False, default=0.9),
                Arg("eps", "real", "the epsilon added to the variance", required=False, default=1e-5),
            ),
        ),
        Op(
            "dropout", "inverted dropout of a fraction RATIO of the units, in training only",
            positional=(Arg("ratio", "real", "the dropout ratio (like 0.5)"),),
        ),
    )
}

ACTIVATIONS = frozenset(name for name, op in OPS.items() if op.activation)

# Activations after which He initialisation suits the preceding weights; Xavier otherwise.
RELU_FAMILY = frozenset({"relu", "leaky_relu", "prelu", "elu"})
