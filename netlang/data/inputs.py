"""Reading the inputs of `netlang predict`: .npy and .npz arrays, and PNG images, as one float32 batch."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from netlang.data.dataset import pixels_to_float
from netlang.data.npz import read_npz_arrays, starts_with
from netlang.data.png import read_png
from netlang.errors import DataError

SUFFIXES = (".npy", ".npz", ".png")
NPY_MAGIC = b"\x93NUMPY"


def read_inputs(paths: Sequence[str | Path], input_shape: Sequence[int] | None = None) -> np.ndarray:
    """One float32 batch (N, ...) from the given files, in order; raises DataError.

    A PNG is one sample (1, H, W) in [0, 1]. An array file is a batch along its first axis, or one sample
    when its shape equals `input_shape`. From an .npz the array 'x' is used, else its first array.
    Integer arrays are read as 0..255 pixels and scaled by 1/255. Every sample must have the same shape.
    """
    if not paths:
        raise DataError("no input files given; expected .npy, .npz or .png files")
    expected = tuple(int(size) for size in input_shape) if input_shape is not None else None
    batches = [_read_one(Path(path), expected) for path in paths]
    shapes = {batch.shape[1:] for batch in batches}
    if len(shapes) > 1:
        listing = ", ".join(f"{path} {batch.shape[1:]}" for path, batch in zip(paths, batches, strict=True))
        raise DataError(f"the inputs have different sample shapes: {listing}; expected one shape for all")
    return np.concatenate(batches, axis=0)


def _read_one(path: Path, input_shape: tuple[int, ...] | None) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".png":
        return read_png(path)[np.newaxis, np.newaxis]
    if suffix == ".npy":
        array = _read_npy(path)
    elif suffix == ".npz":
        arrays = read_npz_arrays(path)
        if not arrays:
            raise DataError("holds no arrays; expected an array named 'x'", file=str(path))
        array = arrays["x"] if "x" in arrays else next(iter(arrays.values()))
    else:
        raise DataError(
            f"has an unknown input type '{path.suffix}'; expected one of {', '.join(SUFFIXES)}",
            file=str(path),
        )
    batch = pixels_to_float(array, what="the array", file=str(path))
    if input_shape is not None and batch.shape == input_shape:
        return batch[np.newaxis]
    if batch.ndim == 0:
        raise DataError("holds a single number; expected an array of input samples", file=str(path))
    return batch


def _read_npy(path: Path) -> np.ndarray:
    try:
        if not starts_with(path, NPY_MAGIC):
            raise DataError("is not a NumPy .npy array (it does not start with \\x93NUMPY)", file=str(path))
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError("no such file; expected a NumPy .npy array", file=str(path)) from None
    except ValueError as error:
        if "pickle" in str(error):
            message = "holds Python objects, which netlang never unpickles; save a plain numeric array"
        else:
            message = f"is not a readable NumPy .npy array ({error})"
        raise DataError(message, file=str(path)) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"is not a readable NumPy .npy array ({error})", file=str(path)) from None
