"""Central-difference gradient checking, shared by `netlang gradcheck` and the backend tests.

relative_error(a, n) = max|a - n| / max(max(|a| + |n|), tiny): scale-free, and finite when both are zero.
A gradient that is zero up to rounding throughout is checked absolutely instead (see gradient_error).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netlang.backend.base import Layer
from netlang.backend.model import Model

TINY = 1e-30
ZERO_NOISE = 1e-7  # central differences of a float64 loss with eps 1e-6 are ~1e-10 where the gradient is 0


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a| + |n|, tiny) over all elements."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    scale = float(np.max(np.abs(analytic) + np.abs(numeric), initial=0.0))
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / max(scale, TINY)


def numerical_gradient(
    f: Callable[[], float], array: np.ndarray, indices: np.ndarray | None = None, eps: float = 1e-6
) -> np.ndarray:
    """d f / d array at the flat `indices` (default: all) by central differences, perturbing `array` in place.

    Each element is restored afterwards. Returns the derivatives in the order of `indices`.
    """
    flat = array.reshape(-1)
    assert np.shares_memory(flat, array), "numerical_gradient needs a contiguous array to perturb in place"
    if indices is None:
        indices = np.arange(flat.size)
    derivatives = np.empty(len(indices))
    for k, i in enumerate(indices):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        derivatives[k] = (plus - minus) / (2 * eps)
    return derivatives


def sample_indices(size: int, limit: int | None, rng: np.random.Generator, informative: np.ndarray) -> np.ndarray:
    """All flat indices if `limit` is None or covers them, else `limit` distinct ones (sorted), chosen at
    random among the `informative` (boolean, flat) entries first and topped up from the rest."""
    if limit is None or size <= limit:
        return np.arange(size)
    preferred, others = np.flatnonzero(informative), np.flatnonzero(~informative)
    chosen = rng.choice(preferred, size=min(limit, preferred.size), replace=False)
    if chosen.size < limit:
        chosen = np.concatenate([chosen, rng.choice(others, size=limit - chosen.size, replace=False)])
    return np.sort(chosen)


def gradient_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """relative_error, except that a gradient that is zero up to rounding passes (0.0): if every entry of
    both is below ZERO_NOISE there is no scale to be relative to, and rounding noise would read as 100%."""
    if float(np.max(np.abs(analytic) + np.abs(numeric), initial=0.0)) < ZERO_NOISE:
        return 0.0
    return relative_error(analytic, numeric)


def check_model_gradients(
    model: Model, x: np.ndarray, t: np.ndarray, limit: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Error of model.gradients against central differences of model.loss, per parameter (see gradient_error).

    Dropout masks are reseeded before every evaluation so every loss sees the same masks. `limit` caps the
    number of checked entries per parameter, for networks too big to check entirely; the sample prefers
    entries with a non-zero gradient (units a dropout mask or a dead relu cut off have exactly zero).
    """

    def fixed_masks() -> None:
        model.rng = np.random.default_rng(seed)

    def loss() -> float:
        fixed_masks()
        return model.loss(x, t, train=True)

    fixed_masks()
    analytic = {name: g.copy() for name, g in model.gradients(x, t).items()}
    pick = np.random.default_rng(seed)
    errors = {}
    for name, param in model.params.items():
        flat = analytic[name].reshape(-1)
        indices = sample_indices(param.size, limit, pick, informative=flat != 0)
        errors[name] = gradient_error(flat[indices], numerical_gradient(loss, param, indices))
    return errors


def off_start_values(model: Model, seed: int = 0) -> Model:
    """`model`, its tensors moved off their constant starting values so that a comparison with another
    implementation sees every one: biases, batchnorm's scale and shift and prelu's slopes perturbed, running
    means and variances random (about ±0.5 and 0.5 to 2); weights stay as the initialiser drew them."""
    rng = np.random.default_rng(seed)
    for name, array in model.state_dict().items():
        if name.endswith(".running_var"):
            array[...] = rng.uniform(0.5, 2.0, array.shape)
        elif name.endswith(".running_mean"):
            array[...] = 0.5 * rng.standard_normal(array.shape)
        elif not name.endswith(".W"):
            array[...] += (0.1 * rng.standard_normal(array.shape)).astype(array.dtype)
    return model


def check_layer_gradients(layer: Layer, x: np.ndarray | list[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Relative errors of one layer's backward for each parameter and for its input ("input"; a merge layer
    takes a list of inputs, checked as "input0", "input1", ...).

    The scalar checked is sum(forward(x) * R) for a fixed random R, so every output element matters.
    The layer runs in training mode with its dropout generator reseeded before every forward.
    """
    layer.needs_input_grad = True
    batch = len(x[0]) if layer.merge else len(x)
    projection = np.random.default_rng(seed + 1).standard_normal((batch,) + layer.out_shape)

    def scalar() -> float:
        layer.rng = np.random.default_rng(seed)
        return float((layer.forward(x, train=True) * projection).sum())

    scalar()
    dx = layer.backward(projection)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    inputs = {f"input{k}": (part, grad) for k, (part, grad) in enumerate(zip(x, dx, strict=True))} if (
        layer.merge) else {"input": (x, dx)}
    errors = {
        name: gradient_error(grad, numerical_gradient(scalar, part).reshape(part.shape))
        for name, (part, grad) in inputs.items()
    }
    for name, param in layer.params.items():
        errors[name] = gradient_error(analytic[name], numerical_gradient(scalar, param).reshape(param.shape))
    return errors
