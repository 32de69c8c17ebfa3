"""`netlang predict SPEC --weights W INPUT...`: the class and top probabilities of each input sample."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "predict"
PREDICT_BATCH = 1000  # inputs per forward pass (Model.predict's default)
HELP = "Classify inputs (.npy, .npz or PNG files) with trained weights."
EXAMPLES = """examples:
  netlang predict specs/digits_convnet.net --weights runs/digits/weights.npz sample.npy
  netlang predict specs/simple_convnet.net --weights runs/fashion shoe.png --top 3 --json
  netlang predict model.onnx sample.npy                          # an ONNX file's own weights

An .npy/.npz file may hold one sample or a batch (first axis); for a 1xHxW input, (N, H, W) and (H, W)
arrays (Keras' layout) are read as one channel. A PNG is one grayscale image of the input's size.
NaN, infinite, complex and text values are refused; nothing is ever unpickled.
Class names come from the data set the run trained on (else the spec's train section)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net), IR (.json) or ONNX (.onnx) file")
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help=".npy, .npz or .png files")
    parser.add_argument("--weights", metavar="W",
                        help="weights file or run directory (an .onnx SPEC carries its own: default)")
    parser.add_argument("--top", metavar="K", type=int, default=3, help="probabilities shown per input (3)")
    parser.add_argument("--data", metavar="D", help="the data set whose class names to show")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from netlang.data import match_input_shape, read_inputs
    from netlang.errors import UsageError
    from netlang.memory.guard import check_evaluation_memory
    from netlang.train.session import load_trained, n_outputs

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, received {args.top}")
    ir, config, model, weights = load_trained(args.spec, args.weights, args.data)

    shape = ir["input"]["shape"]
    labels: list[str] = []
    batches = []
    for path in args.inputs:
        batch = match_input_shape(read_inputs([path], shape), shape, source=path)
        batches.append(batch)
        labels.extend([path] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))])
    check_evaluation_memory(ir, config, min(PREDICT_BATCH, len(labels)), trained=False, what="predicting")
    with np.errstate(all="ignore"):  # a non-finite result is reported below, without NumPy's warnings
        probabilities = model.predict(np.concatenate(batches), PREDICT_BATCH).reshape(len(labels), -1)
    if not np.isfinite(probabilities).all():
        from netlang.errors import DataError

        raise DataError(
            f"{weights}: the network's outputs are not finite (NaN or infinity); the weights or the inputs "
            "hold values too large for it"
        )
    names = _class_names(config["data"], n_outputs(ir))
    rows = [_ranked(label, row, names, args.top) for label, row in zip(labels, probabilities, strict=True)]

    if args.json:
        print(json.dumps({"weights": str(weights), "predictions": rows}, indent=2))
        return 0
    width = max(len(label) for label in labels)
    name_width = max(len(row["name"]) for row in rows)
    for row in rows:
        top = ", ".join(f"{entry['name']} {entry['p']:.3f}" for entry in row["top"])
        print(f"{row['input']:<{width}}  {row['name']:<{name_width}}  ({top})")
    return 0


def _ranked(label: str, row: Any, names: list[str], top: int) -> dict[str, Any]:
    """One input's prediction: the class, its name, and the `top` most probable classes."""
    if len(row) == 1:  # one sigmoid output: the probability of class 1
        p1 = float(row[0])
        probs = [1.0 - p1, p1]
    else:
        probs = [float(p) for p in row]
    order = sorted(range(len(probs)), key=lambda index: -probs[index])[:top]
    best = order[0]
    return {
        "input": label,
        "class": best,
        "name": names[best],
        "top": [{"class": index, "name": names[index], "p": probs[index]} for index in order],
    }


def _class_names(data: str, outputs: int) -> list[str]:
    """The data set's class names (without loading its images or downloading), else the class numbers."""
    from netlang.data import class_names
    from netlang.errors import NetlangError

    count = max(outputs, 2)
    try:
        names = class_names(data)
    except NetlangError:
        names = []
    return [str(name) for name in names] if len(names) == count else [str(i) for i in range(count)]
