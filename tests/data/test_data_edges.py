"""Data edge cases: empty sets, NaN and complex values, text and object members, the layouts people have.

The .npz/.npy reader is netlang's own (netlang/npz.py); these tests also check it reads what NumPy
writes (format versions, byte orders, Fortran order) exactly as np.load does, and never unpickles.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from netlang.data import Dataset, check_against, load_dataset, read_inputs
from netlang.errors import DataError
from netlang.npz import read_npy, read_npz


def save_set(path, **changes) -> str:
    """Write a valid 3-class npz data set with `changes` applied; returns its npz: source name."""
    arrays = {
        "x_train": np.linspace(0, 1, 6 * 16, dtype=np.float32).reshape(6, 1, 4, 4),
        "y_train": np.arange(6) % 3,
        "x_test": np.zeros((2, 1, 4, 4), np.float32),
        "y_test": np.array([0, 2]),
    }
    arrays.update(changes)
    np.savez(path, **{name: array for name, array in arrays.items() if array is not None})
    return f"npz:{path}"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"x_train": np.zeros((0, 1, 4, 4)), "y_train": np.zeros(0, int)},
            "x_train holds no samples (shape (0, 1, 4, 4)); expected at least one training sample",
        ),
        (
            {"x_test": np.zeros((0, 16)), "y_test": np.zeros(0)},
            "x_test holds no samples (shape (0, 16)); expected at least one test sample",
        ),
        ({"x_train": np.full((6, 1, 4, 4), np.nan)}, "x_train holds 96 NaN or infinite values (first in sample 0)"),
        (
            {"x_test": np.array([np.zeros((1, 4, 4)), np.full((1, 4, 4), 1e300)])},
            "x_test holds 16 NaN or infinite values (first in sample 1)",
        ),  # beyond float32: infinite
        ({"x_train": np.zeros((6, 1, 4, 4), np.complex64)}, "x_train holds complex numbers (dtype complex64)"),
        ({"x_test": np.full((2, 1, 4, 4), "7")}, "x_test holds text (dtype <U1); expected numbers"),
        ({"y_train": np.array([b"cat"] * 6)}, "y_train holds text (dtype |S3); expected integer class labels"),
        ({"y_test": np.array([0.5, 1])}, "y_test must hold whole-number class labels; sample 0 is 0.5"),
        ({"x_train": np.zeros(6, dtype=[("a", "<f4")])}, "member 'x_train' holds a structured array"),
        ({"x_train": np.zeros((6, 16), "datetime64[s]")}, "member 'x_train' has dtype datetime64[s]; expected numbers"),
        ({"y_test": None}, "missing y_test; expected arrays x_train, y_train, x_test, y_test (found: x_test, x_t"),
    ],
)
def test_bad_npz_data_sets_are_refused_naming_the_file(tmp_path, changes, expected):
    path = tmp_path / "set.npz"
    with pytest.raises(DataError) as caught:
        load_dataset(save_set(path, **changes))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message


def test_nothing_is_ever_unpickled(tmp_path, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("netlang unpickled something")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    with pytest.raises(DataError, match="member 'classes' holds Python objects, which netlang never unpickles"):
        load_dataset(save_set(tmp_path / "set.npz", classes=np.array([1, "b", None], dtype=object)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy: holds Python objects"):
        read_inputs([tmp_path / "objects.npy"])


def test_class_names_may_be_text(tmp_path):
    assert load_dataset(save_set(tmp_path / "a.npz", classes=np.array(["cat", "dog", "émeu"]))).classes == [
        "cat",
        "dog",
        "émeu",
    ]
    assert load_dataset(save_set(tmp_path / "b.npz", classes=np.array([b"cat", b"dog", b"ox"]))).classes == [
        "cat",
        "dog",
        "ox",
    ]
    assert load_dataset(save_set(tmp_path / "c.npz")).classes == ["0", "1", "2"]


def test_keras_layouts_fit_a_one_channel_input(tmp_path):
    images = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28) % 251
    for name, x in (("hw", images), ("hwc", images[..., np.newaxis])):
        source = save_set(tmp_path / f"{name}.npz", x_train=x, y_train=np.arange(5) % 3, x_test=x[:2])
        fitted = check_against(load_dataset(source), (1, 28, 28), 3)
        assert fitted.x_train.shape == (5, 1, 28, 28) and fitted.x_test.shape == (2, 1, 28, 28)
        np.testing.assert_array_equal(fitted.x_train[:, 0], images / np.float32(255))
    with pytest.raises(DataError, match=r"x_train samples have shape \(28, 28\) per sample; .* expects \(3, 28, 28\)"):
        check_against(load_dataset(f"npz:{tmp_path / 'hw.npz'}"), (3, 28, 28), 3)


def test_predict_reads_keras_samples(tmp_path):
    images = np.random.default_rng(0).random((3, 5, 6), dtype=np.float32)
    np.save(tmp_path / "batch.npy", images)
    np.save(tmp_path / "one.npy", images[1])
    assert read_inputs([tmp_path / "one.npy"], input_shape=(1, 5, 6)).shape == (1, 1, 5, 6)
    batch = read_inputs([tmp_path / "batch.npy", tmp_path / "one.npy"], input_shape=(1, 5, 6))
    assert batch.shape == (4, 1, 5, 6)
    np.testing.assert_array_equal(batch[3, 0], images[1])
    np.testing.assert_array_equal(batch[:3, 0], images)


def test_an_empty_split_is_refused_whatever_the_source():
    x = np.zeros((3, 2), np.float32)
    empty = Dataset("mine", x, np.zeros(3, np.int64), x[:0], np.zeros(0, np.int64), ["0", "1"])
    with pytest.raises(DataError, match="data set 'mine': x_test holds no samples; expected at least one test"):
        check_against(empty, (2,), 2)


def test_empty_idx_label_files_are_refused(tmp_path, make_idx_set, make_idx):
    from netlang.data.mnist import MNIST, load_idx_dataset

    make_idx_set(tmp_path / "mnist", gzipped=False)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        empty = np.zeros((0, 28, 28) if "images" in name else (0,), np.uint8)
        (tmp_path / "mnist" / name).write_bytes(make_idx(empty))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: holds no images"):
        load_idx_dataset(MNIST, download=False, environ={"NETLANG_DATA": str(tmp_path)})


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=">i4").reshape(2, 3, 4),
        np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        np.array(3.5, dtype=np.float16),
        np.zeros((0, 5), np.uint8),
        np.array([True, False]),
        np.array(["ab", "ü"]),
    ],
)
def test_the_reader_agrees_with_numpy(tmp_path, version, array):
    path = tmp_path / "a.npy"
    with open(path, "wb") as stream:
        np.lib.format.write_array(stream, array, version=version)
    ours = read_npy(path)
    theirs = np.load(path, allow_pickle=False)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    stream = io.BytesIO()
    np.savez_compressed(stream, first=array, second=array[..., np.newaxis])
    (tmp_path / "a.npz").write_bytes(stream.getvalue())
    arrays, names = read_npz(tmp_path / "a.npz", wanted=("second", "absent"))
    assert names == ["first", "second"] and list(arrays) == ["second"]
    np.testing.assert_array_equal(arrays["second"], array[..., np.newaxis])


def test_damaged_npy_headers_are_refused(tmp_path):
    good = io.BytesIO()
    np.save(good, np.zeros(3))
    data = good.getvalue()
    cases = {
        b"\x93NUMPY\x09\x00": "unknown format version 9.0",
        data[:9]: "its header is cut off",
        data.replace(b"'descr'", b"'decsr'"): "expected the keys descr, fortran_order and shape",
        data.replace(b"(3,)", b"(-3,)"): "shape (-3,) is not a tuple of sizes",
        data.replace(b"False", b"0    "): "fortran_order 0 is not True or False",
        data.replace(b"{", b"[", 1): "not a Python dict literal",
        data.replace(b"'<f8'", b"'<q9'"): "unknown dtype '<q9'",
        data[:-1]: "is truncated: shape (3,) of float64 takes 24 bytes, 23 follow its header",
    }
    for content, expected in cases.items():
        (tmp_path / "bad.npy").write_bytes(content)
        with pytest.raises(DataError) as caught:
            read_npy(tmp_path / "bad.npy")
        assert str(caught.value).startswith(f"{tmp_path / 'bad.npy'}: ") and expected in str(caught.value)


def test_an_empty_archive_says_it_holds_no_arrays(tmp_path):
    np.savez(tmp_path / "none.npz")
    with pytest.raises(DataError, match="none.npz: holds no arrays; expected an array named 'x'"):
        read_inputs([tmp_path / "none.npz"])
    with pytest.raises(DataError, match=r"none.npz: missing x_train, y_train, x_test, y_test; .* \(found: no arrays\)"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")
