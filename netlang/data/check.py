"""Fitting a data set to a network before training: input shapes, label range, finite values; and the
seeded train/validation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from netlang.data.dataset import Dataset
from netlang.errors import DataError


def match_input_shape(
    x: np.ndarray, input_shape: Sequence[int], *, source: str, what: str = "inputs"
) -> np.ndarray:
    """`x` (N, ...) reshaped to (N, *input_shape), or a DataError starting with `source` and both shapes.

    Besides an exact match, three conveniences are documented: flat rows (N, C*H*W) are reshaped for an
    image input (C, H, W); samples of any shape are flattened for a vector input (D,) of the same size; and
    Keras' one-channel layouts (N, H, W) and (N, H, W, 1) are read as (N, 1, H, W) for an input (1, H, W).
    """
    expected = tuple(int(size) for size in input_shape)
    sample = tuple(int(size) for size in x.shape[1:])
    if sample == expected:
        return x
    if x.ndim >= 1 and is_one_channel_layout(sample, expected):
        return x.reshape((len(x), *expected))
    same_size = int(np.prod(sample, dtype=np.int64)) == int(np.prod(expected, dtype=np.int64))
    if same_size and x.ndim >= 2 and (len(sample) == 1 or len(expected) == 1):
        return x.reshape((len(x), *expected))
    raise DataError(
        f"{source}: {what} have shape {sample} per sample; the network's input expects "
        f"{expected}"
        + (" (flat rows or a flat input of the same size would be reshaped)" if same_size else "")
    )


def is_one_channel_layout(sample: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Whether samples (H, W) or (H, W, 1) are one-channel images for an input (1, H, W): same memory order."""
    if len(expected) != 3 or expected[0] != 1:
        return False
    return sample in (expected[1:], (*expected[1:], 1))


def check_against(ds: Dataset, input_shape: Sequence[int], n_outputs: int) -> Dataset:
    """`ds` with inputs shaped to `input_shape`, after checking labels fit `n_outputs` and values are finite.

    A one-output network (sigmoid or identity) takes 0/1 targets; otherwise labels must be class indices
    in [0, n_outputs). Neither split may be empty. Raises DataError naming the data source.
    """
    n_labels = 2 if n_outputs == 1 else n_outputs
    fitted = {}
    for split in ("train", "test"):
        x = getattr(ds, f"x_{split}")
        y = getattr(ds, f"y_{split}")
        if len(x) != len(y):
            raise DataError(
                f"data set '{ds.name}': x_{split} has {len(x)} samples but y_{split} has {len(y)} labels; "
                "expected one label per sample"
            )
        if len(x) == 0:
            raise DataError(
                f"data set '{ds.name}': x_{split} holds no samples; expected at least one "
                f"{'training' if split == 'train' else 'test'} sample"
            )
        _check_finite(x, ds.name, f"x_{split}")
        _check_labels(y, n_labels, n_outputs, ds.name, f"y_{split}")
        fitted[f"x_{split}"] = match_input_shape(
            x, input_shape, source=f"data set '{ds.name}'", what=f"x_{split} samples"
        )
    return replace(ds, **fitted)


def _check_finite(x: np.ndarray, source: str, what: str) -> None:
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad_values = ~np.isfinite(x)
    count = int(bad_values.sum())
    if count:
        first = int(np.flatnonzero(bad_values.reshape(len(x), -1).any(axis=1))[0])
        raise DataError(
            f"data set '{source}': {what} holds {count} NaN or infinite value{'s' if count > 1 else ''} "
            f"(first in sample {first}); expected finite numbers"
        )


def _check_labels(y: np.ndarray, n_labels: int, n_outputs: int, source: str, what: str) -> None:
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise DataError(
            f"data set '{source}': {what} is {y.dtype.name} of shape {y.shape}; expected integer class "
            "labels of shape (N,)"
        )
    outside = (y < 0) | (y >= n_labels)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        expected = (
            "0/1 targets for a network with 1 output"
            if n_outputs == 1
            else f"class labels 0..{n_labels - 1} for a network with {n_outputs} outputs"
        )
        raise DataError(
            f"data set '{source}': {what} has {int(outside.sum())} label(s) out of range, the first is "
            f"{int(y[first])} at sample {first}; expected {expected}"
        )


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): a seeded random `fraction` of the samples held out; deterministic.

    fraction 0 holds out nothing; otherwise at least one sample is held out and at least one kept.
    """
    if not 0 <= fraction < 1:
        raise DataError(f"validation fraction must be at least 0 and below 1; received {fraction}")
    if len(x) != len(y):
        raise DataError(f"cannot split {len(x)} samples with {len(y)} labels; expected one label per sample")
    n_val = int(round(len(x) * fraction))
    if fraction > 0:
        if len(x) < 2:
            raise DataError(f"cannot hold out a validation set from {len(x)} sample(s); need at least 2")
        n_val = min(max(n_val, 1), len(x) - 1)
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]
