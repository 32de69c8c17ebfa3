"""The Dataset record every data source returns, and the array conversions the sources share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netlang.errors import DataError
from netlang.limits import MAX_CLASSES


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
    """Integer pixels 0..255 -> float32 in [0, 1]; finite floats pass through as float32; raises DataError.

    Text, complex numbers, NaN and infinities are refused with a DataError naming `what` and `file`.
    """
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
        converted = x.astype(np.float32)
        _refuse_non_finite(converted, what=what, file=file)
        return converted
    raise DataError(f"{what} holds {_kind_of(x.dtype)}; expected numbers (integer pixels or floats)", file=file)


def _refuse_non_finite(x: np.ndarray, *, what: str, file: str | None) -> None:
    # Checked after the float32 conversion, so values beyond float32's range are caught as infinities.
    bad_values = ~np.isfinite(x)
    count = int(bad_values.sum())
    if count:
        first = int(np.flatnonzero(bad_values.reshape(len(x), -1).any(axis=1))[0]) if x.ndim else 0
        raise DataError(
            f"{what} holds {count} NaN or infinite value{'s' if count > 1 else ''} (first in sample {first}); "
            "expected finite numbers",
            file=file,
        )


def _kind_of(dtype: np.dtype) -> str:
    """'text (dtype <U3)', 'complex numbers (dtype complex64)': what an array holds, for a refusal."""
    if dtype.kind in "US":
        return f"text (dtype {dtype})"
    if dtype.kind == "c":
        return f"complex numbers (dtype {dtype})"
    return f"dtype {dtype}"


def labels_to_int(y: np.ndarray, *, what: str, file: str | None = None) -> np.ndarray:
    """Class labels (N,) or (N, 1) as int64; whole-valued floats are accepted; raises DataError.

    Labels of limits.MAX_CLASSES or more are refused, so no later step sizes anything by a hostile label.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{what} has shape {y.shape}; expected one integer class label per sample, shape (N,)",
            file=file,
        )
    if np.issubdtype(y.dtype, np.floating):
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = int(np.flatnonzero(~whole)[0])
            raise DataError(
                f"{what} must hold whole-number class labels; sample {bad} is {y[bad].item()!r}",
                file=file,
            )
    elif not (y.dtype == np.bool_ or np.issubdtype(y.dtype, np.integer)):
        raise DataError(f"{what} holds {_kind_of(y.dtype)}; expected integer class labels", file=file)
    if y.size and (y.max() >= MAX_CLASSES or y.min() <= -MAX_CLASSES):
        extreme = y.max() if y.max() >= MAX_CLASSES else y.min()
        raise DataError(
            f"{what} holds class label {extreme}; expected labels 0 to {MAX_CLASSES - 1:,} (netlang's limit)",
            file=file,
        )
    return y.astype(np.int64)
