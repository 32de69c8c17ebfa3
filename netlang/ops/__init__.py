"""The op registry: every layer keyword of the language, each declared in one module of this package.

A module (relu.py, conv.py, ...) holds everything about its op: the signature, the shape rules, the
parameters and how they start, the NumPy layer, the doc line and the cases the shared tests check, and
ends with `OP = Op(...)`. The list below registers it, one line per op, as the ONNX reference evaluator's
`_op_list.py` does. Everything else is found from here: the JSON Schema's per-op parts and the op table of
docs/ir.md are generated from the registry (netlang/ops/generate.py), and the targets outside NumPy
(netlang/targets/) have a test that fails when one lacks an op.
"""

from __future__ import annotations

from netlang.ops import (
    add,
    affine,
    batchnorm,
    concat,
    conv,
    dropout,
    elu,
    flatten,
    global_pool,
    identity,
    leaky_relu,
    pool,
    prelu,
    relu,
    sigmoid,
    softmax,
    step,
    swish,
    tanh,
    upsample,
)
from netlang.ops.base import Arg, Op, Param

__all__ = ["OPS", "Arg", "Op", "Param", "register", "unregister"]

OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add an op to the registry; its keyword must be new and a plain lowercase word."""
    if op.name in OPS:
        raise ValueError(f"the op {op.name!r} is registered already")
    if not op.name.replace("_", "").isalpha() or not op.name.islower():
        raise ValueError(f"an op's keyword is a lowercase word, got {op.name!r}")
    OPS[op.name] = op
    _changed()
    return op


def unregister(name: str) -> None:
    """Remove an op (tests that define one of their own put the registry back as it was)."""
    del OPS[name]
    _changed()


def _changed() -> None:
    # The schema is generated from the registry and cached; it must follow.
    from netlang.language.schema import forget_schema

    forget_schema()


for _module in (
    conv, pool, global_pool, upsample, affine, flatten, relu, sigmoid, tanh, step, identity, swish, prelu, softmax,
    leaky_relu, elu, batchnorm, dropout, add, concat,
):
    OPS[_module.OP.name] = _module.OP
