"""Image grids and matrices: a conv layer's filters, misclassified examples, a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from netlang.plots import pyplot, save


def _grid(plt: Any, count: int, columns: int, cell: float, label_lines: int = 0) -> tuple[Any, list[Any]]:
    """A figure of `count` square cells, `columns` wide; `label_lines` lines of title room above each row."""
    from netlang.experiments.runs import grid_shape

    rows, columns = grid_shape(count, columns)
    row_height = cell + 0.2 * label_lines
    figure, axes = plt.subplots(rows, columns, figsize=(cell * columns, row_height * rows + 0.6), squeeze=False)
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
    """The given examples, each titled 'true → predicted' in a readable size: on two lines (true, then
    → predicted) when the class names are long, with room kept between the rows for the labels."""
    plt = pyplot()
    texts = [_mistake_label(str(truth), str(guess)) for truth, guess in zip(labels, predicted, strict=False)]
    lines = max((text.count("\n") + 1 for text in texts), default=1)
    figure, axes = _grid(plt, len(images), columns, 1.5, label_lines=lines)
    for axis, image, text in zip(axes, images, texts, strict=False):
        _show(axis, image, cmap="gray_r")
        axis.set_title(text, fontsize=10, color="tab:red", pad=3)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    return save(figure, path)


MISTAKE_LINE = 14  # characters of 'true → predicted' that fit one line above a 1.5-inch image at 10 pt


def _mistake_label(truth: str, guess: str) -> str:
    text = f"{truth} → {guess}"
    return text if len(text) <= MISTAKE_LINE else f"{truth}\n→ {guess}"


def draw_confusion(counts: np.ndarray, names: list[str], title: str, path: str | Path) -> Path:
    """counts[true, predicted] as a heat map with the numbers written in."""
    plt = pyplot()
    size = max(3.5, 0.5 * len(counts) + 1.5)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046)
    ticks = range(len(counts))
    axis.set_xticks(ticks, names, rotation=45, ha="right", fontsize=9)
    axis.set_yticks(ticks, names, fontsize=9)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = counts.max(initial=0) / 2
    cell_font = 9 if len(counts) <= 12 else 7  # as large as four digits fit in a cell
    for row in ticks:
        for column in ticks:
            value = int(counts[row, column])
            if value:
                axis.text(column, row, str(value), ha="center", va="center", fontsize=cell_font,
                          color="white" if value > threshold else "black")
    axis.set_title(title, fontsize=11)
    figure.tight_layout()
    return save(figure, path)
