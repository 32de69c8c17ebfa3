"""The NumPy backend: build(ir) turns an inferred IR dict into a trainable Model.

from netlang.backend import build
model = build(ir, dtype="float32", seed=0)
loss, grads, outputs = model.loss_and_gradients(x, t)
"""

from netlang.backend.model import Model, build
from netlang.backend.registry import LAYERS

__all__ = ["LAYERS", "Model", "build"]
