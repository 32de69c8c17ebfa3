"""Activation histograms: one row per initialiser, one column per layer, as in the seeds' study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.plots import pyplot, save


def draw_activations(result: dict[str, Any], columns: list[int], title: str, path: str | Path) -> Path:
    """Draw the histograms `study` computed for the layers at `columns`; the title of each cell gives the
    layer and its saturated or dead fraction."""
    plt = pyplot()
    rows = result["inits"]
    figure, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.3 * len(columns) + 0.6, 2.0 * len(rows) + 0.4), squeeze=False
    )
    for row, init in enumerate(rows):
        for column, index in enumerate(columns):
            axis = axes[row][column]
            layer = init["layers"][index]
            counts, edges = layer["histogram"]["counts"], layer["histogram"]["edges"]
            widths = [high - low for low, high in zip(edges[:-1], edges[1:], strict=True)]
            axis.bar(edges[:-1], counts, width=widths, align="edge", color="tab:blue")
            axis.set_title(_cell_title(layer), fontsize=8)
            axis.tick_params(labelsize=7)
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(init["init"], fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save(figure, path)


def _cell_title(layer: dict[str, Any]) -> str:
    text = layer["name"]
    if layer["saturated"] is not None:
        text += f" · {100 * layer['saturated']:.0f}% sat."
    if layer["dead"] is not None:
        text += f" · {100 * layer['dead']:.0f}% dead"
    return text
