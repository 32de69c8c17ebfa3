"""`netlang eval SPEC --weights W`: loss, accuracy and confusion matrix of trained weights on a data set."""

from __future__ import annotations

import argparse

NAME = "eval"
HELP = "Measure trained weights on a data set: loss, accuracy and a confusion matrix."
EXAMPLES = """examples:
  netlang eval specs/digits_convnet.net --weights runs/digits/weights.npz
  netlang eval specs/digits_convnet.net --weights runs/digits --data digits --split train

An .onnx SPEC needs no --weights: its initializers are the weights.
--weights takes weights.npz, best.npz or checkpoint.npz, or a run directory (its weights.npz).
The data set defaults to the one the run trained on, else the spec's train section."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net), IR (.json) or ONNX (.onnx) file")
    parser.add_argument("--weights", metavar="W",
                        help="weights file or run directory (an .onnx SPEC carries its own: default)")
    parser.add_argument("--data", metavar="D", help="the data set: digits, mnist, fashion-mnist, npz:PATH...")
    parser.add_argument(
        "--split", choices=("test", "train"), default="test", help="which part of the data set (default test)"
    )
    parser.add_argument("--batch-size", metavar="N", type=int, default=1000, help="samples per forward pass")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from netlang.data import check_against, load_dataset
    from netlang.errors import DataError, UsageError
    from netlang.memory.guard import check_evaluation_memory
    from netlang.train.evaluate import confusion_matrix, evaluate, format_confusion
    from netlang.train.session import load_trained, n_outputs

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, received {args.batch_size}")
    ir, config, model, weights = load_trained(args.spec, args.weights, args.data)

    dataset = check_against(load_dataset(config["data"]), ir["input"]["shape"], n_outputs(ir))
    x, y = (dataset.x_test, dataset.y_test) if args.split == "test" else (dataset.x_train, dataset.y_train)
    if len(x) == 0:
        raise UsageError(f"data set '{dataset.name}' has no {args.split} samples")
    check_evaluation_memory(ir, config, min(args.batch_size, len(x)), trained=False, what="evaluating")
    with np.errstate(all="ignore"):  # a non-finite loss is reported below, without NumPy's warnings
        measured = evaluate(model, x, y, args.batch_size)
    if not np.isfinite(measured.loss):
        raise DataError(f"{weights}: the loss on {dataset.name} is {measured.loss}; the weights hold values too large")
    classes = max(n_outputs(ir), 2)
    counts = confusion_matrix(y, measured.predicted, classes)
    correct = int(counts.trace())

    source = "its own weights" if args.weights is None else weights
    print(f"{args.spec} with {source} on {dataset.name} ({args.split}, {len(x)} samples)")
    print(f"loss {measured.loss:.4f}  accuracy {100 * measured.accuracy:.2f}% ({correct}/{len(x)})")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(format_confusion(counts, dataset.classes))
    return 0
