"""check_against (shapes, labels, finite values), split_validation, and read_inputs for `netlang predict`."""

from __future__ import annotations

import numpy as np
import pytest

from netlang.data import Dataset, check_against, match_input_shape, read_inputs, split_validation
from netlang.errors import DataError


def make_set(x_train, y_train, x_test=None, y_test=None, name="unit") -> Dataset:
    x_test = x_train if x_test is None else x_test
    y_test = y_train if y_test is None else y_test
    return Dataset(name, np.asarray(x_train), np.asarray(y_train), np.asarray(x_test), np.asarray(y_test), [])


def test_matching_shapes_pass_unchanged():
    ds = make_set(np.zeros((3, 1, 28, 28), np.float32), np.array([0, 1, 9]))
    checked = check_against(ds, (1, 28, 28), 10)
    assert checked.x_train is ds.x_train and checked.input_shape == (1, 28, 28)


def test_flat_rows_are_reshaped_for_an_image_input_and_images_flattened_for_a_vector_input():
    flat = make_set(np.arange(2 * 784, dtype=np.float32).reshape(2, 784) / 2000, np.array([0, 1]))
    images = check_against(flat, (1, 28, 28), 10)
    assert images.x_train.shape == (2, 1, 28, 28) and images.x_test.shape == (2, 1, 28, 28)
    assert images.x_train[1, 0, 0, 1] == flat.x_train[1, 1]
    vectors = check_against(images, [784], 10)
    assert vectors.x_train.shape == (2, 784)
    np.testing.assert_array_equal(vectors.x_train, flat.x_train)


def test_other_shapes_are_refused_with_both_shapes_and_the_source():
    ds = make_set(np.zeros((2, 1, 8, 8), np.float32), np.array([0, 1]), name="digits")
    with pytest.raises(DataError) as caught:
        check_against(ds, (1, 28, 28), 10)
    assert str(caught.value) == (
        "data set 'digits': x_train samples have shape (1, 8, 8) per sample; "
        "the network's input expects (1, 28, 28)"
    )
    with pytest.raises(DataError) as caught:
        match_input_shape(np.zeros((1, 14, 56)), (1, 28, 28), source="seven.npy")
    assert str(caught.value) == (
        "seven.npy: inputs have shape (14, 56) per sample; the network's input expects (1, 28, 28) "
        "(flat rows or a flat input of the same size would be reshaped)"
    )


def test_labels_must_fit_the_outputs():
    ds = make_set(np.zeros((4, 2), np.float32), np.array([0, 1, 10, 3]), name="npz:my.npz")
    with pytest.raises(DataError) as caught:
        check_against(ds, (2,), 10)
    assert str(caught.value) == (
        "data set 'npz:my.npz': y_train has 1 label(s) out of range, the first is 10 at sample 2; "
        "expected class labels 0..9 for a network with 10 outputs"
    )
    with pytest.raises(DataError, match="the first is -1 at sample 0"):
        check_against(make_set(np.zeros((1, 2), np.float32), np.array([-1])), (2,), 3)


def test_one_output_network_takes_zero_one_targets():
    gates = make_set(np.zeros((4, 2), np.float32), np.array([0, 1, 1, 0]), name="xor")
    assert check_against(gates, (2,), 1).y_train.tolist() == [0, 1, 1, 0]
    bad = make_set(np.zeros((2, 2), np.float32), np.array([0, 2]), name="xor")
    with pytest.raises(DataError, match="expected 0/1 targets for a network with 1 output"):
        check_against(bad, (2,), 1)


def test_labels_must_be_integers_one_per_sample():
    with pytest.raises(
        DataError, match="y_train is float64 of shape \\(2,\\); expected integer class labels"
    ):
        check_against(make_set(np.zeros((2, 2), np.float32), np.array([0.0, 1.0])), (2,), 2)
    with pytest.raises(DataError, match="x_test has 2 samples but y_test has 3 labels"):
        check_against(
            make_set(np.zeros((1, 2), np.float32), np.array([0]), np.zeros((2, 2)), np.array([0, 1, 1])),
            (2,),
            2,
        )


def test_nan_and_inf_are_counted_with_the_first_sample():
    x = np.zeros((5, 3), np.float32)
    x[3, 1] = np.nan
    x[3, 2] = np.inf
    x[4, 0] = -np.inf
    ds = make_set(np.zeros((5, 3), np.float32), np.zeros(5, int), x_test=x, name="mnist")
    with pytest.raises(DataError) as caught:
        check_against(ds, (3,), 2)
    assert str(caught.value) == (
        "data set 'mnist': x_test holds 3 NaN or infinite values (first in sample 3); expected finite numbers"
    )


def test_split_validation_is_seeded_and_disjoint():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.3, seed=7)
    assert len(x_val) == 3 and len(x_tr) == 7
    assert sorted(np.concatenate([y_tr, y_val]).tolist()) == list(range(10))
    np.testing.assert_array_equal(x_val[:, 0] // 2, y_val)  # rows stay paired with their labels
    again = split_validation(x, y, 0.3, seed=7)
    np.testing.assert_array_equal(again[3], y_val)
    assert split_validation(x, y, 0.3, seed=8)[3].tolist() != y_val.tolist()


def test_split_validation_edges():
    x, y = np.zeros((10, 1)), np.arange(10)
    assert len(split_validation(x, y, 0.0, seed=0)[2]) == 0
    assert len(split_validation(x, y, 0.01, seed=0)[2]) == 1  # a positive fraction holds out at least one
    assert len(split_validation(x, y, 0.99, seed=0)[0]) == 1  # and keeps at least one
    with pytest.raises(DataError, match="validation fraction must be at least 0 and below 1; received 1.5"):
        split_validation(x, y, 1.5, seed=0)
    with pytest.raises(DataError, match="from 1 sample"):
        split_validation(x[:1], y[:1], 0.5, seed=0)


def test_read_inputs_from_npy_npz_and_png(tmp_path, make_png):
    np.save(tmp_path / "batch.npy", np.full((2, 1, 4, 4), 0.25, np.float32))
    np.savez(tmp_path / "named.npz", other=np.zeros((9, 9)), x=np.full((1, 1, 4, 4), 255, np.uint8))
    np.savez(tmp_path / "first.npz", a=np.zeros((1, 1, 4, 4)))
    (tmp_path / "digit.png").write_bytes(make_png(np.full((4, 4, 1), 51), color_type=0))
    names = ["batch.npy", "named.npz", "first.npz", "digit.png"]
    batch = read_inputs([tmp_path / name for name in names])
    assert batch.shape == (5, 1, 4, 4) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[:, 0, 0, 0], [0.25, 0.25, 1.0, 0.0, 0.2], atol=1e-6)


def test_read_inputs_single_sample_when_shape_matches(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 4, 4)))
    assert read_inputs([tmp_path / "one.npy"], input_shape=(1, 4, 4)).shape == (1, 1, 4, 4)
    assert read_inputs([tmp_path / "one.npy"]).shape == (1, 4, 4)  # without a shape: a batch of one


def test_read_inputs_refusals(tmp_path, make_png):
    (tmp_path / "a.png").write_bytes(make_png(np.zeros((4, 4, 1)), color_type=0))
    (tmp_path / "b.png").write_bytes(make_png(np.zeros((3, 4, 1)), color_type=0))
    with pytest.raises(DataError, match=r"different sample shapes: .*a.png \(1, 4, 4\), .*b.png \(1, 3, 4\)"):
        read_inputs([tmp_path / "a.png", tmp_path / "b.png"])
    with pytest.raises(DataError, match=r"notes.txt: has an unknown input type '.txt'; expected one of .npy"):
        read_inputs([tmp_path / "notes.txt"])
    with pytest.raises(DataError, match="gone.npy: no such file"):
        read_inputs([tmp_path / "gone.npy"])
    np.save(tmp_path / "objects.npy", np.array([None], dtype=object))
    with pytest.raises(DataError, match="objects.npy: holds Python objects"):
        read_inputs([tmp_path / "objects.npy"])
    with pytest.raises(DataError, match="no input files given"):
        read_inputs([])


def test_read_inputs_names_a_file_that_is_not_numpy(tmp_path):
    (tmp_path / "text.npy").write_text("1,2,3")
    with pytest.raises(DataError, match=r"text.npy: is not a NumPy .npy array \(it does not start with"):
        read_inputs([tmp_path / "text.npy"])
