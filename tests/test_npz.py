"""netlang.npz, the one reader of .npy and .npz files: what weights and data files now share.

Data files (tests/data) and weights and checkpoints (tests/train, tests/backend) test each way in; these
test the reader itself, and the cases where one kind of file gained a check the other already had.
"""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest

from netlang.backend.checkpoint import read_checkpoint, write_checkpoint
from netlang.errors import DataError
from netlang.npz import NpzArchive, read_npz


def npy_bytes(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def header_only(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def test_headers_come_before_data_and_arrays_round_trip(tmp_path):
    path = tmp_path / "w.npz"
    weights = {"conv1.W": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "conv1.b": np.ones(2, np.float64)}
    np.savez(path, **weights, fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    with NpzArchive(path) as archive:
        assert archive.names == ["conv1.W", "conv1.b", "fortran"]
        header = archive.members["conv1.W"]
        assert (header.dtype, header.shape, header.nbytes) == (np.dtype("<f4"), (2, 3, 4), 96)
        array = archive.read("conv1.W")
        np.testing.assert_array_equal(array, weights["conv1.W"])
        array[0, 0, 0] = 7  # an array of its own, writable
        np.testing.assert_array_equal(archive.read("fortran"), np.arange(6.0).reshape(2, 3))


def test_a_zero_sized_array_cannot_declare_dimensions_numpy_refuses(tmp_path):
    # np.empty(0).reshape((0, 2**62, 2**62)) raises ValueError: refused from the header, never reshaped.
    path = tmp_path / "zero.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", header_only((0, 2**62, 2**62)))
    with pytest.raises(DataError, match=r"zero.npz: member 'w' declares shape \(0, 4611686018427387904, .*"
                                        r"more than any array can hold"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros(2, "datetime64[s]"), "member 'w' has dtype datetime64[s]; expected numbers or text"),
        (np.zeros(2, "V8"), "member 'w' has dtype |V8; expected numbers or text"),
        (np.zeros(2, [("a", "<f4")]), "member 'w' holds a structured array"),
    ],
)
def test_weights_of_an_unreadable_dtype_are_refused_at_the_header(tmp_path, array, expected):
    path = tmp_path / "weights.npz"
    write_checkpoint(path, {"w": array}, {"layers": []})
    with pytest.raises(DataError, match=expected.replace("[", r"\[").replace("|", r"\|")):
        read_checkpoint(path)


def test_a_data_archive_with_a_member_twice_is_refused(tmp_path):
    path = tmp_path / "twice.npz"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        archive.writestr("x.npy", npy_bytes(np.zeros(2)))
        archive.writestr("x.npy", npy_bytes(np.ones(2)))
    with pytest.raises(DataError, match="twice.npz: member 'x' appears twice"):
        read_npz(path)


def test_a_member_stored_without_the_npy_suffix_is_data_but_not_weights(tmp_path):
    # np.load reads such a member as an array when it holds one; a netlang weights file never has one.
    path = tmp_path / "bare.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x", npy_bytes(np.arange(3.0)))
    arrays, names = read_npz(path)
    assert names == ["x"]
    np.testing.assert_array_equal(arrays["x"], np.arange(3.0))
    with pytest.raises(DataError, match=r"bare.npz: member 'x' is not an array \(.npy\)"):
        read_checkpoint(path)


def test_the_budget_counts_every_array_read(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros(10, np.uint8), b=np.zeros(10, np.uint8))
    assert list(read_npz(path, budget=20)[0]) == ["a", "b"]
    with pytest.raises(DataError, match="member 'b' declares shape"):
        read_npz(path, budget=19)
