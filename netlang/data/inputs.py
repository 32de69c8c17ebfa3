"""Reading the inputs of `netlang predict`: .npy and .npz arrays, and PNG images, as one float32 batch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from netlang import limits
from netlang.data.check import is_one_channel_layout
from netlang.data.dataset import pixels_to_float
from netlang.data.png import decode_png, png_size, read_png_bytes
from netlang.errors import DataError
from netlang.npz import read_npy, read_npz

SUFFIXES = (".npy", ".npz", ".png")
NPZ_INPUT_KEY = "x"


def read_inputs(paths: Sequence[str | Path], input_shape: Sequence[int] | None = None) -> np.ndarray:
    """One float32 batch (N, ...) from the given files, in order; raises DataError.

    A PNG is one sample (1, H, W) in [0, 1]; with `input_shape` given, a PNG of another size is refused before
    it is decoded. An array file is a batch along its first axis, or one sample when its shape equals
    `input_shape` (or, for a one-channel input (1, H, W), equals (H, W)). From an .npz the array 'x' is used,
    else its first array. Integer arrays are read as 0..255 pixels and scaled by 1/255; NaN, infinities,
    complex numbers and text are refused. Every file must hold at least one sample, all of the same shape.
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
    file = str(path)
    if suffix == ".png":
        return _read_png_input(path, input_shape)
    if suffix == ".npy":
        array, what = read_npy(path, budget=limits.max_data_bytes()), "the array"
    elif suffix == ".npz":
        array, what = _first_npz_array(path)
    else:
        raise DataError(f"has an unknown input type '{path.suffix}'; expected one of {', '.join(SUFFIXES)}", file=file)
    batch = pixels_to_float(array, what=what, file=file)
    if input_shape is not None and _is_one_sample(batch.shape, input_shape):
        return batch.reshape((1, *input_shape))
    if batch.ndim == 0:
        raise DataError("holds a single number; expected an array of input samples", file=file)
    if len(batch) == 0:
        raise DataError(f"holds no samples ({what} has shape {batch.shape}); expected at least one", file=file)
    if input_shape is not None and is_one_channel_layout(batch.shape[1:], input_shape):
        return batch.reshape((len(batch), *input_shape))  # Keras' (N, H, W), so it joins (N, 1, H, W) batches
    return batch


def _first_npz_array(path: Path) -> tuple[np.ndarray, str]:
    """The array 'x' of the .npz at `path`, else its first array, with words naming it in a DataError."""
    arrays, names = read_npz(path, wanted=(NPZ_INPUT_KEY,), budget=limits.max_data_bytes())
    if not names:
        raise DataError(f"holds no arrays; expected an array named '{NPZ_INPUT_KEY}'", file=str(path))
    name = NPZ_INPUT_KEY if NPZ_INPUT_KEY in arrays else names[0]
    if name not in arrays:
        arrays, _ = read_npz(path, wanted=(name,), budget=limits.max_data_bytes())
    return arrays[name], f"array '{name}'"


def _is_one_sample(shape: tuple[int, ...], input_shape: tuple[int, ...]) -> bool:
    """Whether an array of `shape` is one input sample: the input's shape, or (H, W) for an input (1, H, W)."""
    return shape == input_shape or (len(input_shape) == 3 and input_shape[0] == 1 and shape == input_shape[1:])


def _read_png_input(path: Path, input_shape: tuple[int, ...] | None) -> np.ndarray:
    """A PNG as a batch of one (1, 1, H, W), its size checked against the network's input before decoding."""
    data = read_png_bytes(path)
    width, height = png_size(data, file=str(path))
    if input_shape is not None and not _png_fits(width, height, input_shape):
        raise DataError(
            f"is a {width}x{height} PNG image (width x height); the network's input expects "
            f"{input_shape}, {_image_wanted(input_shape)}",
            file=str(path),
        )
    # An image as large as the network's own input is decoded even past the general pixel limit.
    most = max(limits.MAX_IMAGE_PIXELS, math.prod(input_shape) if input_shape is not None else 0)
    return decode_png(data, file=str(path), max_pixels=most)[np.newaxis, np.newaxis]


def _png_fits(width: int, height: int, input_shape: tuple[int, ...]) -> bool:
    # A grayscale image is (1, H, W); match_input_shape also flattens it for a vector input of that size.
    if len(input_shape) == 1:
        return width * height == input_shape[0]
    return input_shape == (1, height, width)


def _image_wanted(input_shape: tuple[int, ...]) -> str:
    if len(input_shape) == 3 and input_shape[0] == 1:
        return f"a {input_shape[2]}x{input_shape[1]} grayscale image"
    if len(input_shape) == 1:
        return f"an image of {input_shape[0]} pixels"
    return f"which no grayscale image fits ({math.prod(input_shape)} values)"
