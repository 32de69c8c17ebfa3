"""`netlang plot RUN`: a training run's learning curves, first-layer filters, mistakes and confusion matrix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netlang.errors import UsageError

NAME = "plot"
HELP = "Draw a run's loss and accuracy curves, first conv filters, misclassified test examples, confusion matrix."
EXAMPLES = """examples:
  netlang train specs/digits_convnet.net --out runs/digits && netlang plot runs/digits
  netlang plot runs/digits --weights best.npz --misclassified 40

RUN is a directory written by netlang train. Test predictions are recomputed from its weights
(weights.npz, or --weights best.npz / checkpoint.npz) on the run's own data set. The text output gives
the per-epoch metrics, the test accuracy and the confusion matrix; OUT (default RUN/plots) receives
curves.png, filters.png (when the network has a convolution), misclassified.png, confusion.png and
plot.json (the confusion matrix and the misclassified examples' indexes, labels and predictions)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run directory written by netlang train")
    parser.add_argument("--weights", default="weights.npz", metavar="FILE",
                        help="which weights of the run: weights.npz (default), best.npz or checkpoint.npz")
    parser.add_argument("--misclassified", type=int, default=24, metavar="N",
                        help="how many misclassified test examples to draw (default 24)")
    parser.add_argument("--out", metavar="DIR", help="where pictures go (default RUN/plots)")
    parser.add_argument("--no-plot", action="store_true", help="text and plot.json only")


def run(args: argparse.Namespace) -> int:
    from netlang.commands._common import write_atomically
    from netlang.experiments.runs import load_trained_model, misclassified, read_run, test_report
    from netlang.train.evaluate import format_confusion

    if args.misclassified < 0:
        raise UsageError(f"--misclassified must be 0 or more, received {args.misclassified}")
    run_files = read_run(args.run_dir)
    model = load_trained_model(run_files, args.weights)
    report = test_report(run_files, model)
    wrong = misclassified(report, args.misclassified)
    names = report.classes if len(report.classes) == len(report.confusion) else \
        [str(index) for index in range(len(report.confusion))]

    print(format_history(run_files.history))
    print(f"\ntest accuracy {100 * report.accuracy:.2f}% ({int((report.predicted != report.labels).sum())} of "
          f"{len(report.labels)} test examples misclassified) with {args.weights}")
    print(format_confusion(report.confusion, report.classes))
    out_dir = Path(args.out) if args.out else run_files.path / "plots"
    data = {
        "run": str(run_files.path),
        "weights": args.weights,
        "test_accuracy": report.accuracy,
        "classes": names,
        "confusion": report.confusion.tolist(),
        "misclassified": [
            {"index": index, "label": int(report.labels[index]), "predicted": int(report.predicted[index])}
            for index in wrong
        ],
    }
    write_atomically(out_dir / "plot.json", json.dumps(data) + "\n")
    print(f"\nnumbers in {out_dir / 'plot.json'}")
    if not args.no_plot:
        _draw_all(run_files, model, report, wrong, names, out_dir)
    return 0


def format_history(history: list[dict[str, Any]]) -> str:
    """The per-epoch metrics as a table; train_eval_acc (a pass over the training split in inference mode) and
    test_acc columns when the run measured them."""
    extra = [name for name in ("train_eval_acc", "test_acc") if any(record.get(name) is not None for record in history)]
    rows = [["epoch", "train_loss", "train_acc", "val_loss", "val_acc", *extra]]
    for record in history:
        rows.append([
            str(record["epoch"]), f"{record['train_loss']:.4f}", f"{100 * record['train_acc']:.2f}%",
            "-" if record.get("val_loss") is None else f"{record['val_loss']:.4f}",
            "-" if record.get("val_acc") is None else f"{100 * record['val_acc']:.2f}%",
            *("-" if record.get(name) is None else f"{100 * record[name]:.2f}%" for name in extra),
        ])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _draw_all(run_files: Any, model: Any, report: Any, wrong: list[int], names: list[str], out_dir: Path) -> None:
    from netlang.experiments.runs import as_images, first_conv_filters
    from netlang.plots import MissingMatplotlib
    from netlang.plots.curves import draw_run
    from netlang.plots.images import draw_confusion, draw_filters, draw_misclassified

    source = run_files.result.get("source") or run_files.path.name
    written = []
    try:
        written.append(draw_run(run_files.history, f"{Path(str(source)).name} on {run_files.config['data']}",
                                out_dir / "curves.png"))
        filters = first_conv_filters(model)
        if filters is not None:
            written.append(draw_filters(*filters, out_dir / "filters.png"))
        images = as_images(report.x[wrong]) if wrong else None
        if images is not None:
            title = f"{len(wrong)} misclassified test examples (true → predicted)"
            written.append(draw_misclassified(
                images, [names[report.labels[i]] for i in wrong], [names[report.predicted[i]] for i in wrong],
                title, out_dir / "misclassified.png",
            ))
        title = f"confusion matrix, test accuracy {100 * report.accuracy:.2f}%"
        written.append(draw_confusion(report.confusion, names, title, out_dir / "confusion.png"))
    except MissingMatplotlib as err:
        print(f"netlang: {err.message}", file=sys.stderr)
        return
    print("pictures: " + ", ".join(str(path) for path in written))
