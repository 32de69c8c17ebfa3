"""Learning curves: several variants (netlang sweep), a grid of small plots for a two-axis sweep, or one run's
train/validation/test curves (netlang plot).

Training accuracy is drawn as measured: a pass over the training samples in inference mode (train_eval_acc,
the seeds' measure) when the run recorded it, else the running mean over the epoch's batches (train_acc); the
legend says which.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from netlang.experiments.training import failure_label
from netlang.plots import pyplot, save

# One line style per kind of accuracy, the same in every picture.
STYLES = {"val": "-", "train": "--", "test": ":"}
MARKED_EPOCHS = 25  # above this many epochs, curves are drawn without markers
GRID_STYLES = ("-", "--", ":", "-.")
LOG_LOSS_RATIO = 30  # a loss axis spanning more than this factor is drawn on a log scale


def training_curve(history: list[dict[str, Any]]) -> tuple[list[int], list[float], str]:
    """(epochs, accuracy in %, legend text) of the training accuracy a run recorded (see the module doc)."""
    if history and all(record.get("train_eval_acc") is not None for record in history):
        key, text = "train_eval_acc", "training (a pass in inference mode)"
    else:
        key, text = "train_acc", "training (mean over the epoch's batches)"
    kept = [record for record in history if record.get(key) is not None]
    return [record["epoch"] for record in kept], [100 * record[key] for record in kept], text


def _curve(history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    kept = [record for record in history if record.get(key) is not None]
    return [record["epoch"] for record in kept], [100 * record[key] for record in kept]


def _epoch_axis(axis: Any, last_epoch: int) -> None:
    """Whole-number epoch ticks; a one-epoch run gets a readable axis instead of 0.95..1.05."""
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if last_epoch <= 1:
        axis.set_xlim(0.5, 1.5)
        axis.set_xticks([1])


def _accuracy_axis(axis: Any, values: list[float]) -> None:
    """An accuracy axis at least 5 points tall (one point or a flat curve gets a window around it, not ticks
    in hundredths), padded a little, never far beyond 0..100%."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        axis.set_ylim(0, 100)
        return
    low, high = min(finite), max(finite)
    if high - low < 5.0:
        middle = (low + high) / 2
        low, high = middle - 2.5, middle + 2.5
    pad = 0.06 * (high - low)
    low, high = max(low - pad, -1.0), min(high + pad, 101.0)
    if high - low < 5.0:  # the window was cut at 0 or 100: extend it inwards
        low, high = (low, low + 5.0) if low <= 0 else (high - 5.0, high)
    axis.set_ylim(low, high)


def draw_sweep(curves: list[dict[str, Any]], title: str, path: str | Path, window: int = 10) -> Path:
    """Left: each variant's training loss per step (moving average); right: its validation (solid), training
    (dashed) and, where measured, test (dotted) accuracy per epoch, one colour per variant."""
    from matplotlib.lines import Line2D

    from netlang.experiments.sweep import smooth

    plt = pyplot()
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    last_epoch, plotted, kinds, training_text = 1, [], set(), ""
    for record in curves:
        losses = record["step_loss"]
        (line,) = loss_axis.plot(range(1, len(losses) + 1), smooth(losses, window), label=record["label"])
        history = record["epochs"]
        marker = "o" if len(history) <= MARKED_EPOCHS else None
        for kind, key in (("val", "val_acc"), ("test", "test_acc")):
            epochs, accuracy = _curve(history, key)
            if epochs:
                acc_axis.plot(epochs, accuracy, linestyle=STYLES[kind], marker=marker if kind == "val" else None,
                              markersize=4, color=line.get_color())
                kinds.add(kind)
                plotted += accuracy
        epochs, accuracy, training_text = training_curve(history)
        if epochs:
            acc_axis.plot(epochs, accuracy, linestyle=STYLES["train"], color=line.get_color(), alpha=0.85)
            kinds.add("train")
            plotted += accuracy
        last_epoch = max([last_epoch, *(epoch["epoch"] for epoch in history)])
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel(f"training loss + L2 penalty (mean of {window} steps)"
                         if any(record.get("config", {}).get("weight_decay") for record in curves)
                         else f"training loss (mean of {window} steps)")
    _clip_loss_axis(loss_axis, [value for record in curves for value in record["step_loss"]])
    acc_axis.set_xlabel("epoch")
    _epoch_axis(acc_axis, last_epoch)
    _accuracy_axis(acc_axis, plotted)
    acc_axis.set_ylabel("accuracy (%)")
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
    variant_keys = [Line2D([], [], color=line.get_color(), label=line.get_label()) for line in loss_axis.lines]
    style_names = {"val": "validation", "train": training_text, "test": "test (reported only)"}
    style_keys = [Line2D([], [], color="0.35", linestyle=STYLES[kind], label=style_names[kind])
                  for kind in ("val", "train", "test") if kind in kinds]
    acc_axis.legend(handles=variant_keys + style_keys, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(title)
    figure.tight_layout()
    return save(figure, path)


def draw_grid(curves: list[dict[str, Any]], axes: list[dict[str, Any]], title: str, path: str | Path,
              columns: int = 4) -> Path:
    """A two-axis sweep as the seeds draw the batch-norm study: one small plot per value of the longer axis,
    training accuracy per epoch in it, one line style per value of the other axis (the first solid)."""
    from netlang.experiments.sweep import axis_value, grid_axes

    plt = pyplot()
    panel_index, line_index = grid_axes(axes)
    panel_axis, line_axis = axes[panel_index], axes[line_index]
    count = len(panel_axis["values"])
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(2.7 * columns + 0.4, 2.1 * rows + 1.1), squeeze=False,
                                sharex=True, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    last_epoch, training_text = 1, ""
    handles = []
    for number, panel_value in enumerate(panel_axis["values"]):
        axis = grid[number // columns][number % columns]
        for line_number, line_value in enumerate(line_axis["values"]):
            record = next(record for record in curves if axis_value(record, panel_axis["name"]) == panel_value
                          and axis_value(record, line_axis["name"]) == line_value)
            epochs, accuracy, training_text = training_curve(record["epochs"])
            (line,) = axis.plot(epochs, accuracy, linestyle=GRID_STYLES[line_number % len(GRID_STYLES)],
                                color=colors[line_number % len(colors)], label=_axis_text(line_axis, line_value))
            if number == 0:
                handles.append(line)
            if record["error"]:  # diverged: say so where its curve stops (or would have started)
                axis.text(0.97, 0.92 - 0.12 * line_number,
                          f"{_axis_text(line_axis, line_value)} {failure_label(record['error'])}",
                          transform=axis.transAxes, ha="right", va="top", fontsize=7, color=line.get_color())
            last_epoch = max([last_epoch, *epochs])
        axis.set_title(_axis_text(panel_axis, panel_value), fontsize=9)
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=8)
    for number in range(count, rows * columns):
        grid[number // columns][number % columns].axis("off")
    _epoch_axis(grid[0][0], last_epoch)
    for row in grid:
        row[0].set_ylabel("accuracy (%)", fontsize=8)
    for column in range(columns):
        bottom = max(row for row in range(rows) if row * columns + column < count)
        grid[bottom][column].set_xlabel("epoch", fontsize=8)
        grid[bottom][column].xaxis.set_tick_params(labelbottom=True)
    how = training_text.split("(", 1)[-1].rstrip(")")
    figure.suptitle(f"{title}\ntraining accuracy per epoch ({how})", fontsize=10)
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return save(figure, path)


def _axis_text(axis: dict[str, Any], value: str) -> str:
    return value if axis["name"] == "spec" else f"{axis['name']} {value}"


def _clip_loss_axis(axis: Any, losses: list[float]) -> None:
    """Keep one early, huge loss (a diverging variant) from flattening every other curve; when the variants'
    losses lie orders of magnitude apart (weight decay's L2 penalty counts in the loss), a log axis."""
    import numpy as np

    finite = np.asarray([value for value in losses if np.isfinite(value)])
    if not finite.size:
        return
    top = float(np.percentile(finite, 99)) * 1.05
    positive = finite[finite > 0]
    if positive.size and top / float(np.percentile(positive, 1)) > LOG_LOSS_RATIO:
        axis.set_yscale("log")
        axis.set_ylim(float(np.percentile(positive, 1)) / 1.5, top * 1.5)
    else:
        axis.set_ylim(0, top)


def draw_run(history: list[dict[str, Any]], title: str, path: str | Path) -> Path:
    """One run: loss and accuracy per epoch, training and validation (and test, where the run measured it)."""
    plt = pyplot()
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    marker = "o" if len(history) <= MARKED_EPOCHS else None
    epochs, accuracy, training_text = training_curve(history)
    measured = training_text.startswith("training (a pass")
    loss_key = "train_eval_loss" if measured else "train_loss"
    train_losses = [(record["epoch"], record.get(loss_key)) for record in history if record.get(loss_key) is not None]
    loss_axis.plot([epoch for epoch, _ in train_losses], [value for _, value in train_losses], marker=marker,
                   linestyle=STYLES["train"], label=training_text)
    acc_axis.plot(epochs, accuracy, marker=marker, linestyle=STYLES["train"], label=training_text)
    plotted = list(accuracy)
    for kind, name in (("val", "validation"), ("test", "test (reported only)")):
        val_epochs = [record["epoch"] for record in history if record.get(f"{kind}_loss") is not None]
        if not val_epochs:
            continue
        kept = [record for record in history if record.get(f"{kind}_loss") is not None]
        loss_axis.plot(val_epochs, [record[f"{kind}_loss"] for record in kept], marker=marker,
                       linestyle=STYLES[kind], label=name)
        values = [100 * record[f"{kind}_acc"] for record in kept if record.get(f"{kind}_acc") is not None]
        acc_axis.plot(val_epochs[:len(values)], values, marker=marker, linestyle=STYLES[kind], label=name)
        plotted += values
    loss_axis.set_ylabel("loss")
    acc_axis.set_ylabel("accuracy (%)")
    _accuracy_axis(acc_axis, plotted)
    last_epoch = max((record["epoch"] for record in history), default=1)
    for axis in (loss_axis, acc_axis):
        axis.set_xlabel("epoch")
        _epoch_axis(axis, last_epoch)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save(figure, path)
