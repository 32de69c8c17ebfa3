"""The Dataset record every data source returns, and the array conversions the sources share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netlang.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """A train/test pair of inputs and integer class labels, ready for training.

    x arrays are float32, one sample per row of the first axis (images as (N, C, H, W));
    y arrays are int64 class indices (or 0/1 targets for a one-output network).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input sample, e.g. (1, 28, 28)."""
        return tuple(int(size) for size in self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, classes={len(self.classes)})"
        )


def pixels_to_float(x: np.ndarray, *, what: str, file: str | None = None) -> np.ndarray:
    """Integer pixels 0..255 -> float32 in [0, 1]; float inputs pass through as float32; raises DataError."""
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(
                f"{what} holds integers from {x.min()} to {x.max()}; integer inputs are read as "
                "0..255 pixel values (store floats to use other values)",
                file=file,
            )
        return x.astype(np.float32) / np.float32(255)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    raise DataError(f"{what} has dtype {x.dtype}; expected numbers (integer pixels or floats)", file=file)


def labels_to_int(y: np.ndarray, *, what: str, file: str | None = None) -> np.ndarray:
    """Class labels (N,) or (N, 1) as int64; whole-valued floats are accepted; raises DataError."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{what} has shape {y.shape}; expected one integer class label per sample, shape (N,)",
            file=file,
        )
    if y.dtype == np.bool_ or np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating):
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = int(np.flatnonzero(~whole)[0])
            raise DataError(
                f"{what} must hold whole-number class labels; sample {bad} is {y[bad]!r}",
                file=file,
            )
        return y.astype(np.int64)
    raise DataError(f"{what} has dtype {y.dtype}; expected integer class labels", file=file)
