"""The NumPy backend: build(ir, loss=..., init=...) turns an inferred IR dict into a trainable Model.

    from netlang.backend import build
    model = build(ir, loss="cross_entropy", dtype="float32", seed=0)
    loss, grads, outputs = model.loss_and_gradients(x, t)

The layers themselves live with their ops (netlang/ops/); this package holds what runs them: the model, its
plan (plan.py), the shared kernels (im2col.py, shifted.py), the losses and the sharding over threads.
Importing this package does not import NumPy (the op modules import netlang.backend.base, and `netlang check`
starts without NumPy); `build` and `Model` load it when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Model", "build"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from netlang.backend import model

        return getattr(model, name)
    raise AttributeError(f"module 'netlang.backend' has no attribute {name!r}")
