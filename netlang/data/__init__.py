"""Data sources for training and prediction: built-in and downloadable data sets, user arrays, PNG images.

    ds = load_dataset("digits")  # or "mnist", "fashion-mnist", "npz:PATH", "xor", "and", "or", "nand"
    ds = check_against(ds, input_shape=(1, 8, 8), n_outputs=10)
    x_tr, y_tr, x_val, y_val = split_validation(ds.x_train, ds.y_train, fraction=0.1, seed=0)

Every problem with a data file is a netlang.errors.DataError naming the file or source. Sizes a file
declares are checked against netlang.limits before anything is allocated, inflated or decoded, and nothing
is ever unpickled (netlang.npz reads .npy and .npz files itself).
"""

from netlang.data.check import check_against, match_input_shape, split_validation
from netlang.data.dataset import Dataset
from netlang.data.inputs import read_inputs
from netlang.data.png import decode_png, read_png
from netlang.data.sources import SOURCES, class_names, load_dataset

__all__ = [
    "SOURCES",
    "Dataset",
    "check_against",
    "class_names",
    "decode_png",
    "load_dataset",
    "match_input_shape",
    "read_inputs",
    "read_png",
    "split_validation",
]
