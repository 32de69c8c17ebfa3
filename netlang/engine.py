"""The engine interface: what the trainer, the optimizers, evaluation and the commands ask of a built model.

The NumPy backend (netlang.backend.build) is the reference engine; the torch engine
(netlang.targets.torch_engine.build, for GPUs and DDP) implements the same protocol. An engine is built from
shape-inferred IR with the training choices passed in, never read back from the IR:
`build(ir, loss=..., init=..., dtype=..., seed=...)`.

Names of tensors are netlang's everywhere ("conv1.W", "batchnorm1.running_mean"), and so are the layouts of
the .npz files a model's state is saved in, so that one engine reads what another wrote.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import numpy as np

from netlang.errors import DataError


@runtime_checkable
class Model(Protocol):
    """A network built by an engine."""

    ir: dict[str, Any]  # the shape-inferred IR it was built from
    loss_name: str  # the loss it trains with: cross_entropy, bce or mse ("auto" resolved)
    dtype: np.dtype
    xp: Any  # the array module its parameters belong to (numpy, torch): the optimizers compute with it
    params: dict[str, Any]  # trainable tensors by name: the live arrays, updated in place
    buffers: dict[str, Any]  # non-trainable state (batchnorm running averages) by name
    rng: np.random.Generator  # the generator dropout draws from; assigning reseeds it

    def forward(self, x: np.ndarray, train: bool) -> Any:
        """The last layer's outputs for a batch x of shape (N, *input shape)."""
        ...

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Inference-mode outputs (probabilities after a final softmax or sigmoid), as a NumPy array."""
        ...

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """The mean loss over the batch."""
        ...

    def evaluate_batch(self, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Inference-mode (mean loss, outputs as predict gives them) of a batch, from one forward."""
        ...

    def loss_and_gradients(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, Any], Any]:
        """One training-mode forward and backward -> (mean loss, gradients keyed like params, outputs)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers by name."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray], origin: str = "state dict") -> None:
        """Copy tensors in by name; DataError naming the tensor if a name or shape does not match."""
        ...

    def save(self, path: str | os.PathLike) -> None:
        """Write the state and the IR to an .npz checkpoint, atomically."""
        ...

    def load(self, path: str | os.PathLike) -> None:
        """Read a checkpoint written by save(); DataError if it does not fit."""
        ...


def check_state(own_shapes: dict[str, tuple[int, ...]], state: dict[str, Any], origin: str) -> None:
    """DataError naming the tensor if `state` lacks a tensor of `own_shapes` (name -> shape), has one more, or
    has one of another shape: what load_state_dict checks before it copies anything in, in every engine."""
    missing = [name for name in own_shapes if name not in state]
    unexpected = [name for name in state if name not in own_shapes]
    if missing:
        raise DataError(f"{origin}: tensor '{missing[0]}' is missing (expected {len(own_shapes)} tensors)")
    if unexpected:
        raise DataError(f"{origin}: unexpected tensor '{unexpected[0]}' (no such parameter or buffer)")
    for name, expected in own_shapes.items():
        shape = tuple(np.shape(state[name]))
        if shape != tuple(expected):
            raise DataError(f"{origin}: tensor '{name}' has shape {list(shape)}, expected {list(expected)}")
