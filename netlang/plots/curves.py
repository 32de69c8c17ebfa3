"""Learning curves: several variants on one plot (netlang sweep), or one run's train/validation curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.plots import pyplot, save


def draw_sweep(curves: list[dict[str, Any]], title: str, path: str | Path, window: int = 10) -> Path:
    """Left: each variant's training loss per step (moving average); right: validation accuracy per epoch."""
    from netlang.experiments.sweep import smooth

    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    for record in curves:
        losses = record["step_loss"]
        (line,) = loss_axis.plot(range(1, len(losses) + 1), smooth(losses, window), label=record["label"])
        epochs = [epoch["epoch"] for epoch in record["epochs"] if epoch["val_acc"] is not None]
        accuracy = [100 * epoch["val_acc"] for epoch in record["epochs"] if epoch["val_acc"] is not None]
        acc_axis.plot(epochs, accuracy, marker="o", color=line.get_color(), label=record["label"])
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel(f"training loss (mean of {window} steps)")
    _clip_loss_axis(loss_axis, [value for record in curves for value in record["step_loss"]])
    acc_axis.set_xlabel("epoch")
    acc_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_axis.set_ylabel("validation accuracy (%)")
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
    acc_axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save(figure, path)


def _clip_loss_axis(axis: Any, losses: list[float]) -> None:
    """Keep one early, huge loss (a diverging variant) from flattening every other curve."""
    import numpy as np

    finite = np.asarray([value for value in losses if np.isfinite(value)])
    if finite.size:
        axis.set_ylim(0, float(np.percentile(finite, 99)) * 1.05)


def draw_run(history: list[dict[str, Any]], title: str, path: str | Path) -> Path:
    """One run: loss (train and validation) and accuracy (train and validation) per epoch."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [record["epoch"] for record in history]
    loss_axis.plot(epochs, [record["train_loss"] for record in history], marker="o", label="train")
    acc_axis.plot(epochs, [100 * record["train_acc"] for record in history], marker="o", label="train")
    validated = [record for record in history if record.get("val_loss") is not None]
    if validated:
        val_epochs = [record["epoch"] for record in validated]
        loss_axis.plot(val_epochs, [record["val_loss"] for record in validated], marker="s", label="validation")
        acc_axis.plot(val_epochs, [100 * record["val_acc"] for record in validated], marker="s",
                      label="validation")
    loss_axis.set_ylabel("loss")
    acc_axis.set_ylabel("accuracy (%)")
    for axis in (loss_axis, acc_axis):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save(figure, path)
