"""Image grids and matrices: a conv layer's filters, misclassified examples, a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from netlang.plots import pyplot, save


def _grid(plt: Any, count: int, columns: int, cell: float) -> tuple[Any, list[Any]]:
    from netlang.experiments.runs import grid_shape

    rows, columns = grid_shape(count, columns)
    figure, axes = plt.subplots(rows, columns, figsize=(cell * columns, cell * rows + 0.5), squeeze=False)
    flat = [axis for row in axes for axis in row]
    for axis in flat:
        axis.set_xticks([])
        axis.set_yticks([])
        axis.axis("off")
    return figure, flat


def _show(axis: Any, image: np.ndarray, **options: Any) -> None:
    axis.axis("on")
    if image.ndim == 3:  # RGB: scale each image to [0, 1] on its own
        low, high = float(image.min()), float(image.max())
        axis.imshow((image - low) / (high - low or 1.0), interpolation="nearest")
    else:
        axis.imshow(image, interpolation="nearest", **options)


def draw_filters(name: str, filters: np.ndarray, path: str | Path, columns: int = 10) -> Path:
    """Every filter as a grey image, each scaled to its own range (as the seeds' filter_show)."""
    plt = pyplot()
    figure, axes = _grid(plt, len(filters), columns, 0.9)
    for axis, image in zip(axes, filters, strict=False):
        _show(axis, image, cmap="gray_r")
    figure.suptitle(f"{name}: {len(filters)} filters {filters.shape[1]}x{filters.shape[2]}", fontsize=10)
    figure.tight_layout()
    return save(figure, path)


def draw_misclassified(
    images: np.ndarray, labels: list[str], predicted: list[str], title: str, path: str | Path, columns: int = 8
) -> Path:
    """The given examples, each titled 'true → predicted'."""
    plt = pyplot()
    figure, axes = _grid(plt, len(images), columns, 1.25)
    for axis, image, truth, guess in zip(axes, images, labels, predicted, strict=False):
        _show(axis, image, cmap="gray_r")
        axis.set_title(f"{truth} → {guess}", fontsize=7, color="tab:red")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save(figure, path)


def draw_confusion(counts: np.ndarray, names: list[str], title: str, path: str | Path) -> Path:
    """counts[true, predicted] as a heat map with the numbers written in."""
    plt = pyplot()
    size = max(3.5, 0.5 * len(counts) + 1.5)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046)
    ticks = range(len(counts))
    axis.set_xticks(ticks, names, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(ticks, names, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = counts.max(initial=0) / 2
    for row in ticks:
        for column in ticks:
            value = int(counts[row, column])
            if value:
                axis.text(column, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > threshold else "black")
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return save(figure, path)
