"""The `npz:PATH` data source: a user's own arrays x_train, y_train, x_test, y_test in one .npz file."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from netlang.data.dataset import Dataset, labels_to_int, pixels_to_float
from netlang.errors import DataError

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
ZIP_MAGIC = b"PK\x03\x04"


def read_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, by name, never unpickling; raises DataError for a missing or bad file."""
    file = str(path)
    try:
        # np.load tries to unpickle anything that is neither .npy nor zip: name the real problem first.
        if not starts_with(path, ZIP_MAGIC):
            raise DataError("is not a NumPy .npz archive (it does not start with a zip header)", file=file)
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError("no such file; expected a NumPy .npz archive", file=file) from None
    except ValueError as error:
        if "pickle" in str(error):
            message = "holds Python objects, which netlang never unpickles; save plain numeric arrays"
        else:
            message = f"is not a readable NumPy .npz archive ({error})"
        raise DataError(message, file=file) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"is not a readable NumPy .npz archive ({error})", file=file) from None


def starts_with(path: str | Path, magic: bytes) -> bool:
    """Whether the file at `path` begins with the bytes `magic`; raises OSError if it cannot be read."""
    with open(path, "rb") as stream:
        return stream.read(len(magic)) == magic


def load_npz_dataset(path: str) -> Dataset:
    """The data set stored in the .npz at `path`; integer images are scaled by 1/255; raises DataError."""
    arrays = read_npz_arrays(path)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "no arrays"
        raise DataError(
            f"missing {', '.join(missing)}; expected arrays {', '.join(REQUIRED_KEYS)} (found: {found})",
            file=path,
        )
    x_train = pixels_to_float(arrays["x_train"], what="x_train", file=path)
    x_test = pixels_to_float(arrays["x_test"], what="x_test", file=path)
    y_train = labels_to_int(arrays["y_train"], what="y_train", file=path)
    y_test = labels_to_int(arrays["y_test"], what="y_test", file=path)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 2 or len(x) != len(y):
            raise DataError(
                f"x_{split} has shape {x.shape} but y_{split} has {len(y)} labels; expected one label "
                f"per sample (x_{split} shaped (N, ...))",
                file=path,
            )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"x_train samples have shape {x_train.shape[1:]} but x_test samples {x_test.shape[1:]}; "
            "expected the same shape",
            file=path,
        )
    return Dataset(
        name=f"npz:{path}",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        classes=_class_names(arrays, y_train, y_test),
    )


def _class_names(arrays: dict[str, np.ndarray], y_train: np.ndarray, y_test: np.ndarray) -> list[str]:
    """The optional `classes` array of names, else the label numbers as strings."""
    if "classes" in arrays and arrays["classes"].ndim == 1:
        return [str(name) for name in arrays["classes"]]
    highest = max((int(y.max()) for y in (y_train, y_test) if y.size), default=0)
    return [str(label) for label in range(highest + 1)]
