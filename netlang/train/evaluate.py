"""Measuring a model on a data set: loss, accuracy, predicted classes and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Evaluation:
    """The loss (mean over samples), accuracy in [0, 1] and the predicted class of every sample."""

    loss: float
    accuracy: float
    predicted: np.ndarray


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Class per sample from a batch of network outputs: argmax, or output > 0.5 for a single unit (bce)."""
    outputs = outputs.reshape(len(outputs), -1)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def accuracy_count(outputs: np.ndarray, labels: np.ndarray) -> int:
    """How many samples of a batch the outputs classify correctly."""
    return int(np.count_nonzero(predicted_classes(outputs) == labels.reshape(-1)))


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> Evaluation:
    """Inference-mode loss and accuracy of `model` on (x, y), in batches of `batch_size`."""
    if len(x) == 0:
        return Evaluation(float("nan"), float("nan"), np.zeros(0, dtype=np.int64))
    total_loss = 0.0
    predicted = []
    for start in range(0, len(x), batch_size):
        batch_x = x[start:start + batch_size]
        batch_y = y[start:start + batch_size]
        loss, outputs = model.evaluate_batch(batch_x, batch_y)
        total_loss += float(loss) * len(batch_x)
        predicted.append(predicted_classes(outputs))
    classes = np.concatenate(predicted)
    accuracy = float(np.count_nonzero(classes == y.reshape(-1))) / len(x)
    return Evaluation(total_loss / len(x), accuracy, classes)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[true, predicted] over all samples."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (labels.reshape(-1), predicted.reshape(-1)), 1)
    return counts


def format_confusion(counts: np.ndarray, names: list[str] | None = None) -> str:
    """The confusion matrix as aligned text: one row per true class, one column per predicted class."""
    classes = len(counts)
    labels = [str(i) for i in range(classes)]
    if names and len(names) == classes and [str(name) for name in names] != labels:
        labels = [f"{i} {name}" for i, name in enumerate(names)]
    corner = "true\\pred"
    label_width = max(len(corner), *(len(label) for label in labels))
    cell = max(4, len(str(int(counts.max(initial=0)))), len(str(classes - 1)))
    rows = [f"{corner:<{label_width}}" + "".join(f" {i:>{cell}}" for i in range(classes))]
    for label, row in zip(labels, counts, strict=True):
        rows.append(f"{label:<{label_width}}" + "".join(f" {int(value):>{cell}}" for value in row))
    return "\n".join(rows)
