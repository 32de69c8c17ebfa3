"""The `npz:PATH` data source: a user's own arrays x_train, y_train, x_test, y_test in one .npz file.

Images may be stored as (N, C, H, W), as flat rows, or in Keras' (N, H, W) layout for a one-channel input
(check.match_input_shape fits them to the network). Integer images are 0..255 pixels; labels are class
indices; an optional 1-D `classes` array names the classes.
"""

from __future__ import annotations

import numpy as np

from netlang.data.dataset import Dataset, labels_to_int, pixels_to_float
from netlang.errors import DataError
from netlang.limits import MAX_CLASSES, max_data_bytes
from netlang.npz import read_npz

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
CLASSES_KEY = "classes"


def load_npz_dataset(path: str) -> Dataset:
    """The data set stored in the .npz at `path`; integer images are scaled by 1/255; raises DataError."""
    arrays, names = read_npz(path, wanted=(*REQUIRED_KEYS, CLASSES_KEY), budget=max_data_bytes())
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        found = ", ".join(sorted(names)) or "no arrays"
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
        if len(x) == 0:
            kind = "training" if split == "train" else "test"
            raise DataError(
                f"x_{split} holds no samples (shape {x.shape}); expected at least one {kind} sample", file=path
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
        classes=_class_names(arrays.get(CLASSES_KEY), y_train, y_test, file=path),
    )


def _class_names(classes: np.ndarray | None, y_train: np.ndarray, y_test: np.ndarray, *, file: str) -> list[str]:
    """The optional 1-D `classes` array as names, else the label numbers as strings."""
    if classes is not None and classes.ndim == 1:
        if len(classes) > MAX_CLASSES:
            raise DataError(f"classes holds {len(classes):,} names; expected at most {MAX_CLASSES:,}", file=file)
        return [_name(name) for name in classes.tolist()]
    # labels_to_int bounds the labels by limits.MAX_CLASSES, so this list is bounded too.
    highest = max(int(y.max()) for y in (y_train, y_test))
    return [str(label) for label in range(highest + 1)]


def _name(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
