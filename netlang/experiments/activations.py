"""Activations of a freshly initialised network: every layer's output for one batch, its statistics and
histograms, for one or several initialisers (the seeds' weight-initialisation study, ch. 6.2).

A sigmoid network initialised with std 1 pushes its activations to 0 and 1 (saturated, vanishing
gradients); with std 0.01 they collapse at 0.5 (every unit alike); Xavier keeps them spread. The numbers
here are what `netlang activations` prints and draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netlang.errors import SchemaError, UsageError
from netlang.initializers import check_scheme
from netlang.ops.base import NETWORK_INPUT

BINS = 30
# Histograms are drawn for the hidden activation functions: what the seeds' study looks at.
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "swish", "step")
BOUNDED_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "step": (0.0, 1.0)}
SATURATION = 0.99  # sigmoid below 0.01 or above 0.99, |tanh| above 0.99
DEAD_OPS = ("relu",)


def parse_inits(text: str | None) -> list[str]:
    """--init std:1,std:0.01,xavier -> the scheme list (["auto"] when absent); UsageError for a bad one."""
    if text is None:
        return ["auto"]
    schemes = [part.strip() for part in text.split(",") if part.strip()]
    if not schemes:
        raise UsageError("--init expects one or more schemes, e.g. --init std:1,std:0.01,xavier")
    for scheme in schemes:
        try:
            check_scheme(scheme)
        except SchemaError as err:  # a command-line mistake here, not a spec's
            raise UsageError(f"--init: {err.message}") from None
    return schemes


def layer_outputs(model: Any, x: np.ndarray) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(IR node, output) of every layer for the batch x, branch layers included, in IR order.

    Dropout is off (inference mode), so the picture shows the activations themselves; batchnorm normalises
    with the batch's statistics (training mode), as it does while the network learns. Every layer runs on its
    own (the model is replanned without fusions), so each output is that layer's.
    """
    model.replan(())
    values = {NETWORK_INPUT: np.asarray(x, dtype=model.dtype)}
    outputs = []
    for layer in model.layers:
        inputs = [values[name] for name in layer.node["inputs"]]
        out = layer.forward(inputs if layer.merge else inputs[0], layer.node["op"] == "batchnorm")
        # A copy: the backend may hand out views of work buffers that a later layer reuses.
        values[layer.name] = out.copy()
        outputs.append((layer.node, values[layer.name]))
    return outputs


def layer_stats(op: str, values: np.ndarray) -> dict[str, Any]:
    """mean, std, and the fraction saturated (sigmoid, tanh) or dead (relu: exactly 0); None where n/a."""
    flat = values.reshape(-1).astype(np.float64)
    saturated = None
    if op == "sigmoid":
        saturated = float(np.mean((flat < 1 - SATURATION) | (flat > SATURATION)))
    elif op == "tanh":
        saturated = float(np.mean(np.abs(flat) > SATURATION))
    dead = float(np.mean(flat == 0)) if op in DEAD_OPS else None
    return {"mean": float(flat.mean()), "std": float(flat.std()), "saturated": saturated, "dead": dead}


def histogram(op: str, values: np.ndarray) -> dict[str, Any]:
    """BINS-bin histogram: fixed range for bounded ops, else the values' own; relu's zeros counted apart."""
    flat = values.reshape(-1).astype(np.float64)
    zeros = None
    if op in DEAD_OPS:
        zeros = int(np.count_nonzero(flat == 0))
        flat = flat[flat != 0]
    if op in BOUNDED_RANGES:
        low, high = BOUNDED_RANGES[op]
    elif flat.size:
        low, high = float(flat.min()), float(flat.max())
        if low == high:
            low, high = low - 0.5, high + 0.5
    else:
        low, high = 0.0, 1.0
    counts, edges = np.histogram(flat, bins=BINS, range=(low, high))
    return {"counts": counts.tolist(), "edges": edges.tolist(), "zeros": zeros}


def study(ir: dict[str, Any], config: dict[str, Any], x: np.ndarray, inits: list[str]) -> dict[str, Any]:
    """For each init: every layer's stats and histogram (JSON-able); the model seed is config["seed"]."""
    from netlang.backend import build
    from netlang.train.session import with_training

    trained_ir = with_training(ir, config)
    results = []
    for scheme in inits:
        init = config["init"] if scheme == "auto" else scheme
        model = build(trained_ir, loss=config["loss"], init=init, dtype="float32", seed=config["seed"])
        layers = []
        for node, values in layer_outputs(model, x):
            op = node["op"]
            layers.append({
                "name": node["name"],
                "op": op,
                "shape": list(values.shape[1:]),
                "hidden_activation": op in HIDDEN_ACTIVATIONS,
                **layer_stats(op, values),
                "histogram": histogram(op, values),
            })
        results.append({"init": scheme, "layers": layers})
    return {"seed": config["seed"], "batch": int(len(x)), "inits": results}


def pictured_layers(result: dict[str, Any]) -> list[int]:
    """Indexes of the layers to draw: the hidden activations, or every non-flatten layer if there are none."""
    layers = result["inits"][0]["layers"]
    hidden = [index for index, layer in enumerate(layers) if layer["hidden_activation"]]
    return hidden or [index for index, layer in enumerate(layers) if layer["op"] != "flatten"]


def normal_batch(input_shape: list[int], size: int, seed: int) -> np.ndarray:
    """A batch of standard-normal inputs (the seeds' study feeds np.random.randn(1000, 100))."""
    return np.random.default_rng(seed).standard_normal((size, *input_shape)).astype(np.float32)
