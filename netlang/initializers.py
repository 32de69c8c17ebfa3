"""Weight initialisation: scheme strings, their resolution for each layer, and the arrays they draw.

Which tensors are weights, and their fan-in, is each op's to say (Param.fan_in in netlang/ops): an affine's
is its input features, a conv's C*KH*KW. Schemes:

    std:SIGMA, normal:SIGMA   normal with standard deviation SIGMA (the book's default is std:0.01)
    xavier                    normal, std sqrt(1/fan_in)          (the book's "Xavier")
    xavier_uniform            uniform, same variance: limit sqrt(3/fan_in)
    he                        normal, std sqrt(2/fan_in)
    he_uniform                uniform, same variance: limit sqrt(6/fan_in)

Other tensors start at the constant their op declares (Param.fill: biases 0, batchnorm gamma 1, prelu 0.25).
A layer's scheme is, first found: its own `init` arg, the network's (build(init=...), unless "auto"), then
auto: He when the next activation after the layer is in the ReLU family, Xavier otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from netlang.errors import SchemaError
from netlang.lazy import numpy as np
from netlang.ops import OPS, Op

NAMED_SCHEMES = ("xavier", "xavier_uniform", "he", "he_uniform")
SIGMA_SCHEMES = ("std", "normal")
VALID_SCHEMES_TEXT = "std:SIGMA, normal:SIGMA, " + ", ".join(NAMED_SCHEMES) + ", auto"


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
        if sigma > 0 and math.isfinite(sigma):
            return scheme
        raise SchemaError(f"init scheme {scheme!r} needs a positive number after ':' (e.g. std:0.01)")
    raise SchemaError(f"unknown init scheme {scheme!r}; valid: {VALID_SCHEMES_TEXT}")


def _next_activation(layers: list[dict], index: int) -> Op | None:
    """The op of the first activation after layers[index], or None if another weighted layer comes first."""
    for layer in layers[index + 1 :]:
        op = OPS[layer["op"]]
        if op.activation:
            return op
        if op.weighted:
            return None
    return None


def resolve_schemes(ir: dict, network_scheme: str = "auto") -> dict[str, str]:
    """Map each weighted layer's name to its concrete scheme; raise SchemaError for a bad scheme string."""
    network_scheme = check_scheme(network_scheme or "auto")
    schemes = {}
    for index, layer in enumerate(ir["layers"]):
        if not OPS[layer["op"]].weighted:
            continue
        scheme = network_scheme
        if "init" in layer.get("args", {}):
            try:
                layer_scheme = check_scheme(layer["args"]["init"])
            except SchemaError as err:
                raise err.at(layer.get("pos"), ir.get("source")) from None
            if layer_scheme != "auto":
                scheme = layer_scheme
        if scheme == "auto":
            following = _next_activation(ir["layers"], index)
            scheme = "he" if following is not None and following.relu_family else "xavier"
        schemes[layer["name"]] = scheme
    return schemes


def initial_weight(scheme: str, shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: Any):
    """Draw a weight array of `shape` by a concrete (non-auto) scheme, for `fan_in` inputs per output unit."""
    check_scheme(scheme)
    n = fan_in
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
