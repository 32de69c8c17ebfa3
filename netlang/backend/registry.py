"""LAYERS: the IR op name -> the backend layer class. Keys are exactly the ops of docs/ir.md."""

from __future__ import annotations

from netlang.backend.activations import (
    Elu,
    Identity,
    LeakyRelu,
    Prelu,
    Relu,
    Sigmoid,
    Softmax,
    Step,
    Swish,
    Tanh,
)
from netlang.backend.base import Layer
from netlang.backend.conv import Conv
from netlang.backend.dense import Affine, Flatten
from netlang.backend.pool import Pool
from netlang.backend.regularizers import BatchNorm, Dropout

LAYERS: dict[str, type[Layer]] = {
    "conv": Conv,
    "pool": Pool,
    "affine": Affine,
    "flatten": Flatten,
    "relu": Relu,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "step": Step,
    "identity": Identity,
    "swish": Swish,
    "softmax": Softmax,
    "leaky_relu": LeakyRelu,
    "elu": Elu,
    "prelu": Prelu,
    "batchnorm": BatchNorm,
    "dropout": Dropout,
}
