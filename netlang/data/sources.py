"""The registry of data sources and `load_dataset`, which turns a source name into a Dataset."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from netlang.data.dataset import Dataset
from netlang.data.digits import DIGIT_CLASSES, load_digits
from netlang.data.gates import GATE_OUTPUTS, load_gate
from netlang.data.mnist import CLASS_NAMES, FASHION_MNIST, MNIST, load_idx_dataset
from netlang.data.npz import load_npz_dataset
from netlang.errors import DataError

NPZ_PREFIX = "npz:"

# Source name -> loader taking the `download` flag. `npz:PATH` is handled apart since it carries a path.
SOURCES: dict[str, Callable[[bool], Dataset]] = {
    "digits": lambda download: load_digits(),
    "mnist": lambda download: load_idx_dataset(MNIST, download=download),
    "fashion-mnist": lambda download: load_idx_dataset(FASHION_MNIST, download=download),
    **{gate: (lambda download, gate=gate: load_gate(gate)) for gate in GATE_OUTPUTS},
}


def load_dataset(name: str, *, download: bool = True) -> Dataset:
    """The data set called `name` (a key of SOURCES, or npz:PATH); raises DataError for an unknown name."""
    if name.startswith(NPZ_PREFIX):
        path = name[len(NPZ_PREFIX) :]
        if not path:
            raise DataError("data source 'npz:' needs a file path, e.g. npz:data/my_set.npz")
        return load_npz_dataset(path)
    if name in SOURCES:
        return SOURCES[name](download)
    known = ", ".join([*SOURCES, "npz:PATH"])
    close = difflib.get_close_matches(name.lower(), SOURCES, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise DataError(f"unknown data set '{name}'; {hint}expected one of: {known}")


def class_names(name: str) -> list[str]:
    """The class names of source `name` without loading its images (an npz: file is read); DataError."""
    if name == "digits":
        return list(DIGIT_CLASSES)
    if name in CLASS_NAMES:
        return list(CLASS_NAMES[name])
    if name in GATE_OUTPUTS:
        return ["0", "1"]
    return load_dataset(name, download=False).classes
