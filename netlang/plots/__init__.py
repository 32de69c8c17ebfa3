"""Pictures of experiments, drawn with matplotlib (an optional extra: pip install "netlang[plot]").

    search.py      validation accuracy against each searched field (netlang search)
    curves.py      learning curves: several variants (netlang sweep) or one run (netlang plot)
    histograms.py  activation histograms, one row per initialiser, one column per layer (netlang activations)
    images.py      filter grids, misclassified examples, confusion matrices (netlang plot)

Every function takes the numbers an experiment computed (and tests check) and only draws them. Commands call
pyplot() first; without matplotlib it raises MissingMatplotlib, and the command prints its text output and
this install hint instead of a picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlang.errors import NetlangError

INSTALL_HINT = 'matplotlib is not installed, so no picture was drawn; install it with: pip install "netlang[plot]"'


class MissingMatplotlib(NetlangError):
    """matplotlib cannot be imported; the message says how to install it."""


def pyplot() -> Any:
    """matplotlib.pyplot with the file-only Agg backend; MissingMatplotlib if it is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise MissingMatplotlib(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: str | Path, dpi: int = 80) -> Path:
    """Write `figure` as a PNG (creating its directory) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return path
