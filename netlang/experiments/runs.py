"""What `netlang plot RUN` shows of a finished (or stopped) training run: its learning curves, the first
convolution's filters, the test examples it gets wrong and its confusion matrix.

The run directory (see netlang/train/files.py and loop.py) holds metrics.jsonl, result.json, model.ir.json
and weights.npz; test predictions are recomputed from the weights on the run's own data set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netlang.errors import DataError, UsageError
from netlang.train.evaluate import confusion_matrix, evaluate
from netlang.train.files import read_history


@dataclass
class Run:
    """The files of one run directory, read."""

    path: Path
    history: list[dict[str, Any]]
    result: dict[str, Any]
    ir: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.result["config"]


@dataclass
class TestReport:
    """The run's weights on its test set: predictions, accuracy, confusion matrix and class names."""

    x: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    accuracy: float
    confusion: np.ndarray
    classes: list[str]


def read_run(path: str | Path) -> Run:
    """A run directory -> Run; UsageError if it is not one, DataError if a file in it is unreadable."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise UsageError(f"{path}: no such run directory (netlang train writes one under runs/)")
    needed = ("metrics.jsonl", "result.json", "model.ir.json")
    missing = [name for name in needed if not (run_dir / name).is_file()]
    if missing:
        raise UsageError(f"{path}: not a run directory (no {missing[0]}); give a directory netlang train wrote")
    try:
        history = read_history(run_dir / "metrics.jsonl", epochs=2**63)  # each record checked
        result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
        ir = json.loads((run_dir / "model.ir.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the run's files ({err})") from None
    return Run(run_dir, history, result, ir)


def load_trained_model(run: Run, weights: str = "weights.npz") -> Any:
    """The run's network with its weights (weights.npz, best.npz or checkpoint.npz of the run)."""
    from netlang.language.compiler import compile_ir
    from netlang.train.session import build_model, load_weights, weights_file

    ir = compile_ir(run.ir)
    model = build_model(ir, run.config)
    load_weights(model, weights_file(run.path / weights))
    return model


def test_report(run: Run, model: Any) -> TestReport:
    """Predict the run's test set with `model` and count its mistakes."""
    from netlang.data import check_against, load_dataset
    from netlang.train.session import n_outputs

    dataset = check_against(load_dataset(run.config["data"]), model.ir["input"]["shape"], n_outputs(model.ir))
    evaluation = evaluate(model, dataset.x_test, dataset.y_test)
    classes = max(len(dataset.classes), int(dataset.y_test.max(initial=0)) + 1, 2)
    return TestReport(
        x=dataset.x_test,
        labels=dataset.y_test,
        predicted=evaluation.predicted,
        accuracy=evaluation.accuracy,
        confusion=confusion_matrix(dataset.y_test, evaluation.predicted, classes),
        classes=[str(name) for name in dataset.classes],
    )


def misclassified(report: TestReport, limit: int) -> list[int]:
    """Indexes of the first `limit` test examples predicted wrongly, in test-set order."""
    wrong = np.flatnonzero(report.predicted != report.labels.reshape(-1))
    return [int(index) for index in wrong[:limit]]


def first_conv_filters(model: Any) -> tuple[str, np.ndarray] | None:
    """(layer name, filters as images (F, KH, KW) or (F, KH, KW, 3) for RGB) of the first conv, or None."""
    for layer in model.layers:
        if layer.node["op"] == "conv":
            weights = np.asarray(layer.params["W"], dtype=np.float64)
            if weights.shape[1] == 3:
                return layer.node["name"], weights.transpose(0, 2, 3, 1)
            return layer.node["name"], weights[:, 0]
    return None


def as_images(x: np.ndarray) -> np.ndarray | None:
    """Input samples as images to show: (N, H, W) or (N, H, W, 3); square vectors become squares; else None."""
    if x.ndim == 4:
        return x.transpose(0, 2, 3, 1) if x.shape[1] == 3 else x[:, 0]
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side > 1 and side * side == x.shape[1]:
            return x.reshape(len(x), side, side)
    return None


def grid_shape(count: int, columns: int) -> tuple[int, int]:
    """(rows, columns) of a grid holding `count` images, at most `columns` wide."""
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns
