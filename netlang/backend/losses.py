"""Losses on the final pre-activation ("logits"); each returns loss, outputs and d(loss)/d(logits).

Every loss is the mean over the batch of a per-example sum:

    cross_entropy   -sum_k t_k log softmax(z)_k     (log-sum-exp, stable for any z)
    bce             sum_k [max(z,0) - z t + log(1 + e^-|z|)]   (sigmoid binary cross-entropy on logits)
    mse             0.5 * sum_k (y_k - t_k)^2       (the book's mean_squared_error, per example)

Targets may be class indices (an int array of shape (N,)) or arrays shaped like the outputs (one-hot rows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netlang.errors import DataError
from netlang.ops.sigmoid import stable_sigmoid

LossResult = tuple[float, np.ndarray, np.ndarray]


def target_matrix(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Targets as an array shaped like `outputs`: class indices become one-hot rows."""
    targets = np.asarray(targets)
    if targets.shape == outputs.shape:
        return targets.astype(outputs.dtype, copy=False)
    n = outputs.shape[0]
    if targets.shape == (n,) and np.issubdtype(targets.dtype, np.integer) and outputs.ndim == 2:
        if outputs.shape[1] == 1:
            return targets.reshape(n, 1).astype(outputs.dtype)
        one_hot = np.zeros_like(outputs)
        one_hot[np.arange(n), targets] = 1
        return one_hot
    if targets.size == outputs.size:
        return targets.reshape(outputs.shape).astype(outputs.dtype, copy=False)
    raise DataError(f"targets of shape {targets.shape} do not fit network outputs of shape {outputs.shape}")


def _class_indices(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray | None:
    """The targets as class indices (N,) when given that way, else None."""
    targets = np.asarray(targets)
    if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer) and targets.shape[0] == outputs.shape[0]:
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            return targets
    return None


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> LossResult:
    """Softmax cross-entropy on logits; outputs are the softmax probabilities."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1, keepdims=True)
    probs /= sums
    log_probs = shifted
    log_probs -= np.log(sums)
    dlogits = probs.copy()
    indices = _class_indices(targets, logits)
    if indices is not None:
        if indices.min() < 0 or indices.max() >= logits.shape[1]:
            raise DataError(
                f"class index out of range 0..{logits.shape[1] - 1}: found {indices.min()}..{indices.max()}"
            )
        rows = np.arange(n)
        loss = -float(log_probs[rows, indices].sum()) / n
        dlogits[rows, indices] -= 1
    else:
        t = target_matrix(targets, logits)
        loss = -float((t * log_probs).sum()) / n
        dlogits -= t
    dlogits /= n
    return loss, probs, dlogits


def binary_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> LossResult:
    """Sigmoid binary cross-entropy on logits; outputs are the sigmoid probabilities."""
    n = logits.shape[0]
    t = target_matrix(targets, logits)
    per_element = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
    probs = stable_sigmoid(logits)
    return float(per_element.sum()) / n, probs, (probs - t) / n


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray) -> LossResult:
    """Half the squared error summed per example, averaged over the batch; outputs pass through."""
    n = outputs.shape[0]
    diff = outputs - target_matrix(targets, outputs)
    return 0.5 * float((diff * diff).sum()) / n, outputs, diff / n


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], LossResult]] = {
    "cross_entropy": cross_entropy,
    "bce": binary_cross_entropy,
    "mse": mean_squared_error,
}

# The final activation a loss absorbs: the model stops before it and the loss applies it itself.
FUSED_ACTIVATION = {"cross_entropy": "softmax", "bce": "sigmoid"}

DEFAULT_LOSS_BY_LAST_OP = {"softmax": "cross_entropy", "sigmoid": "bce"}


def default_loss(last_op: str) -> str:
    """The loss a network gets when it names none: from its last layer's op."""
    return DEFAULT_LOSS_BY_LAST_OP.get(last_op, "mse")
