"""The picture of a search: validation accuracy against each searched field, and the first two together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.experiments.training import failure_label
from netlang.plots import pyplot, save


def numeric_values(records: list[dict[str, Any]], name: str) -> list[float] | None:
    """The sampled values of field `name` as numbers, or None if they are not all numbers."""
    try:
        return [float(record["values"][name]) for record in records]
    except (KeyError, ValueError):
        return None


def draw_search(records: list[dict[str, Any]], ranges: list[Any], path: str | Path) -> Path:
    """One panel per searched field (val accuracy against the value, log axis for log ranges), plus a
    scatter of the first two numeric fields coloured by val accuracy; failed trials are drawn as crosses."""
    plt = pyplot()
    scored = [record for record in records if record.get("val_acc") is not None]
    failed = [record for record in records if record.get("val_acc") is None]
    numeric = [searched for searched in ranges if searched.scale != "choice"]
    pair = numeric[:2] if len(numeric) >= 2 else []
    panels = len(ranges) + (1 if pair else 0)
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    axes = list(axes[0])
    best = max((record["val_acc"] for record in scored), default=None)
    for axis, searched in zip(axes, ranges, strict=False):
        accuracy = [100 * record["val_acc"] for record in scored]
        if searched.scale == "choice":
            labels = list(searched.choices)
            positions = [labels.index(record["values"][searched.name]) for record in scored]
            axis.scatter(positions, accuracy, color="tab:blue", alpha=0.7)
            axis.set_xticks(range(len(labels)), labels)
        else:
            axis.scatter(numeric_values(scored, searched.name), accuracy, color="tab:blue", alpha=0.7)
            if searched.scale == "log":
                axis.set_xscale("log")
        if failed and searched.scale != "choice":
            axis.scatter(numeric_values(failed, searched.name), [0] * len(failed), marker="x", color="tab:red",
                         label=" or ".join(sorted({failure_label(record.get("error") or "") for record in failed})))
            _legend_above(axis)
        axis.set_xlabel(searched.name)
        axis.set_ylabel("validation accuracy (%)")
        axis.grid(alpha=0.3)
    if pair:
        axis = axes[-1]
        x_values = numeric_values(scored, pair[0].name)
        y_values = numeric_values(scored, pair[1].name)
        points = axis.scatter(x_values, y_values, c=[100 * record["val_acc"] for record in scored], cmap="viridis")
        figure.colorbar(points, ax=axis, label="validation accuracy (%)")
        for searched, set_scale in ((pair[0], axis.set_xscale), (pair[1], axis.set_yscale)):
            if searched.scale == "log":
                set_scale("log")
        if best is not None:
            top = next(record for record in scored if record["val_acc"] == best)
            axis.scatter([float(top["values"][pair[0].name])], [float(top["values"][pair[1].name])],
                         s=160, facecolors="none", edgecolors="red", label="best trial")
            _legend_above(axis)
        axis.set_xlabel(pair[0].name)
        axis.set_ylabel(pair[1].name)
    figure.suptitle(f"{len(records)} trials" + (f", best {100 * best:.2f}%" if best is not None else ""))
    figure.tight_layout()
    return save(figure, path)


def _legend_above(axis: Any) -> None:
    """The legend just above the panel, outside it: it can cover no trial's point wherever the points fall."""
    axis.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.2)
