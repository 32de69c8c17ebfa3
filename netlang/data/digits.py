"""The embedded `digits` data set: 1,797 real 8x8 handwritten digits shipped inside the package.

The file is scikit-learn's copy of the UCI test set (see DIGITS_LICENSE.txt for origin and licence).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from netlang.data.dataset import Dataset
from netlang.errors import DataError

DIGITS_FILE = Path(__file__).with_name("digits.csv.gz")
N_DIGITS = 1797
N_TEST = 360
IMAGE_SIDE = 8
MAX_PIXEL = 16
DIGIT_CLASSES = [str(digit) for digit in range(10)]

# The split is part of the data set's definition, so it must never change between NumPy versions:
# the legacy RandomState stream is frozen by NumPy's compatibility policy, Generator streams are not.
SPLIT_SEED = 0


def load_digits() -> Dataset:
    """The embedded digits: x (N, 1, 8, 8) in [0, 1], a fixed 1,437/360 split; raises DataError."""
    table = _read_table(DIGITS_FILE)
    pixels = table[:, :-1].reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE).astype(np.float32) / np.float32(MAX_PIXEL)
    labels = table[:, -1].astype(np.int64)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(table))
    train, test = order[:-N_TEST], order[-N_TEST:]
    return Dataset(
        name="digits",
        x_train=pixels[train],
        y_train=labels[train],
        x_test=pixels[test],
        y_test=labels[test],
        classes=list(DIGIT_CLASSES),
    )


def _read_table(path: Path) -> np.ndarray:
    """The CSV as an (N, 65) integer table; a damaged or missing file is a DataError, not a traceback."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as stream:
            table = np.loadtxt(stream, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as error:
        raise DataError(
            f"the embedded digits file is unreadable ({error}); reinstall netlang", file=str(path)
        ) from None
    expected = (N_DIGITS, IMAGE_SIDE * IMAGE_SIDE + 1)
    if table.shape != expected:
        raise DataError(
            f"the embedded digits file has shape {table.shape}; expected {expected}; reinstall netlang",
            file=str(path),
        )
    return table
