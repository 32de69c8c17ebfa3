"""Weight initialisation: scheme strings, their resolution for each layer, and the arrays they draw.

Schemes (fan_in = rows of an affine W, C*KH*KW for a conv W):

    std:SIGMA, normal:SIGMA   normal with standard deviation SIGMA (the book's default is std:0.01)
    xavier                    normal, std sqrt(1/fan_in)          (the book's "Xavier")
    xavier_uniform            uniform, same variance: limit sqrt(3/fan_in)
    he                        normal, std sqrt(2/fan_in)
    he_uniform                uniform, same variance: limit sqrt(6/fan_in)

Biases start at zero, batchnorm gamma at one and beta at zero, prelu slopes at 0.25.
A layer's scheme is, first found: its own `init` arg, build(init=...), the IR's train.init (unless "auto"),
then auto: He when the next activation after the layer is in the ReLU family, Xavier otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netlang.errors import SchemaError
from netlang.ops import ACTIVATIONS, RELU_FAMILY

NAMED_SCHEMES = ("xavier", "xavier_uniform", "he", "he_uniform")
SIGMA_SCHEMES = ("std", "normal")
VALID_SCHEMES_TEXT = "std:SIGMA, normal:SIGMA, " + ", ".join(NAMED_SCHEMES) + ", auto"

WEIGHTED_OPS = frozenset({"conv", "affine"})


def check_scheme(scheme: str) -> str:
    """Return `scheme` if it is a valid scheme string ("auto" included); raise SchemaError otherwise."""
    if not isinstance(scheme, str):
        raise SchemaError(f"init scheme must be a string, received: {scheme!r}; valid: {VALID_SCHEMES_TEXT}")
    if scheme == "auto" or scheme in NAMED_SCHEMES:
        return scheme
    kind, sep, sigma_text = scheme.partition(":")
    if sep and kind in SIGMA_SCHEMES:
        try:
            sigma = float(sigma_text)
        except ValueError:
            sigma = -1.0
        if sigma > 0 and np.isfinite(sigma):
            return scheme
        raise SchemaError(f"init scheme {scheme!r} needs a positive number after ':' (e.g. std:0.01)")
    raise SchemaError(f"unknown init scheme {scheme!r}; valid: {VALID_SCHEMES_TEXT}")


def _plain(value: Any) -> Any:
    """IR fields may be wrapped as {"value": ..., "pos": ...}; return the bare value."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _next_activation(layers: list[dict], index: int) -> str | None:
    """The op of the first activation after layers[index], or None if another weighted layer comes first."""
    for layer in layers[index + 1 :]:
        if layer["op"] in ACTIVATIONS:
            return layer["op"]
        if layer["op"] in WEIGHTED_OPS:
            return None
    return None


def resolve_schemes(ir: dict, override: str | None = None) -> dict[str, str]:
    """Map each conv/affine layer's name to its concrete scheme; raise SchemaError for a bad scheme string."""
    net_scheme = "auto"
    if override is not None:
        net_scheme = check_scheme(override)
    if net_scheme == "auto":
        net_scheme = check_scheme(_plain(ir.get("train", {}).get("init", "auto")) or "auto")
    schemes = {}
    for index, layer in enumerate(ir["layers"]):
        if layer["op"] not in WEIGHTED_OPS:
            continue
        scheme = net_scheme
        if "init" in layer.get("args", {}):
            try:
                layer_scheme = check_scheme(_plain(layer["args"]["init"]))
            except SchemaError as err:
                raise err.at(layer.get("pos"), ir.get("source")) from None
            if layer_scheme != "auto":
                scheme = layer_scheme
        if scheme == "auto":
            scheme = "he" if _next_activation(ir["layers"], index) in RELU_FAMILY else "xavier"
        schemes[layer["name"]] = scheme
    return schemes


def fan_in(shape: tuple[int, ...]) -> int:
    """Inputs feeding one output unit: rows of an affine W (in, out), C*KH*KW of a conv W (F, C, KH, KW)."""
    if len(shape) == 4:
        return int(np.prod(shape[1:]))
    return int(shape[0])


def initial_weight(scheme: str, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """Draw a weight array of `shape` by a concrete (non-auto) scheme."""
    check_scheme(scheme)
    n = fan_in(shape)
    if scheme == "xavier":
        values = rng.normal(0.0, np.sqrt(1.0 / n), size=shape)
    elif scheme == "he":
        values = rng.normal(0.0, np.sqrt(2.0 / n), size=shape)
    elif scheme == "xavier_uniform":
        limit = np.sqrt(3.0 / n)
        values = rng.uniform(-limit, limit, size=shape)
    elif scheme == "he_uniform":
        limit = np.sqrt(6.0 / n)
        values = rng.uniform(-limit, limit, size=shape)
    elif scheme == "auto":
        raise ValueError("initial_weight needs a concrete scheme; resolve 'auto' with resolve_schemes first")
    else:
        sigma = float(scheme.partition(":")[2])
        values = rng.normal(0.0, sigma, size=shape)
    return values.astype(dtype, copy=False)


def initial_param(kind: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """The fixed starting value of a non-weight parameter: b and beta zero, gamma one, alpha (prelu) 0.25."""
    fill = {"b": 0.0, "beta": 0.0, "gamma": 1.0, "alpha": 0.25}[kind]
    return np.full(shape, fill, dtype=dtype)
