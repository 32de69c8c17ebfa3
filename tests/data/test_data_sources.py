"""Golden values of the embedded digits, the logic gates, the npz source, and the source registry."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netlang.data import SOURCES, Dataset, class_names, digits, load_dataset
from netlang.errors import DataError

# Images per class in the embedded digits file, as documented by scikit-learn.
DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(scope="module")
def digits_set() -> Dataset:
    return load_dataset("digits")


def test_digits_counts_shapes_and_types(digits_set):
    ds = digits_set
    assert len(ds.x_train) == 1437 and len(ds.x_test) == 360
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.input_shape == (1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.classes == [str(digit) for digit in range(10)]
    all_labels = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(all_labels).tolist() == DIGITS_CLASS_COUNTS


def test_digits_split_is_the_documented_fixed_permutation(digits_set):
    order = np.random.RandomState(0).permutation(1797)
    in_split_order = np.concatenate([digits_set.x_train, digits_set.x_test])  # train = order[:1437]
    first = in_split_order[np.flatnonzero(order == 0)[0]]
    # scikit-learn's first digit, a zero, whose top row is 0,0,5,13,9,1,0,0 (out of 16).
    np.testing.assert_array_equal(first[0, 0] * 16, [0, 0, 5, 13, 9, 1, 0, 0])
    # Golden sums pin the split: they change if the permutation or the file changes.
    assert int(digits_set.y_train.sum()) == 6424 and int(digits_set.y_test.sum()) == 1646
    assert digits_set.y_train[:10].tolist() == [2, 8, 2, 6, 6, 7, 1, 9, 8, 5]


def test_damaged_digits_file_is_a_data_error(tmp_path, monkeypatch):
    broken = tmp_path / "digits.csv.gz"
    broken.write_bytes(gzip.compress(b"1,2,3\n")[:-4])
    monkeypatch.setattr(digits, "DIGITS_FILE", broken)
    with pytest.raises(DataError, match=f"{broken}: the embedded digits file is unreadable"):
        load_dataset("digits")
    broken.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(DataError, match=r"has shape \(2, 3\); expected \(1797, 65\)"):
        load_dataset("digits")


def test_digits_file_and_licence_are_in_the_wheel(tmp_path):
    builders = pytest.importorskip("hatchling.builders.wheel")
    root = Path(digits.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        pytest.skip("not running from a source checkout")
    # Build from a copy, so a top-level file still being written elsewhere cannot break this test.
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "netlang", project / "netlang", ignore=ignore)
    for extra in ("grammar",):
        if (root / extra).is_dir():
            shutil.copytree(root / extra, project / extra, ignore=ignore)
    shutil.copy(root / "pyproject.toml", project)
    readme = root / "README.md"
    (project / "README.md").write_text(readme.read_text() if readme.exists() else "netlang\n")
    builder = builders.WheelBuilder(str(project))
    wheel = next(builder.build(directory=str(tmp_path / "dist"), versions=["standard"]))
    names = zipfile.ZipFile(wheel).namelist()
    assert "netlang/data/digits.csv.gz" in names and "netlang/data/DIGITS_LICENSE.txt" in names


@pytest.mark.parametrize(
    ("gate", "outputs"),
    [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("nand", [1, 1, 1, 0])],
)
def test_gates(gate, outputs):
    ds = load_dataset(gate)
    assert ds.name == gate and ds.input_shape == (2,) and ds.classes == ["0", "1"]
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert ds.y_train.tolist() == outputs and ds.y_test.tolist() == outputs
    np.testing.assert_array_equal(ds.x_test, ds.x_train)


def test_unknown_source_suggests_the_nearest():
    with pytest.raises(DataError) as caught:
        load_dataset("fashion_mnist")
    message = str(caught.value)
    assert "unknown data set 'fashion_mnist'; did you mean 'fashion-mnist'?" in message
    assert "digits, mnist, fashion-mnist, xor, and, or, nand, npz:PATH" in message
    with pytest.raises(DataError, match="'npz:' needs a file path"):
        load_dataset("npz:")
    assert set(SOURCES) == {"digits", "mnist", "fashion-mnist", "xor", "and", "or", "nand"}


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_source_scales_uint8_and_keeps_floats(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    source = save_npz(
        tmp_path / "set.npz",
        x_train=images,
        y_train=np.array([0, 2]),
        x_test=np.full((1, 3, 4), 0.5),
        y_test=np.array([1.0]),
    )
    ds = load_dataset(source)
    assert ds.name == source and ds.input_shape == (3, 4)
    assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int64
    np.testing.assert_allclose(ds.x_train, images / 255, atol=1e-6)
    np.testing.assert_allclose(ds.x_test, 0.5)
    assert ds.y_test.tolist() == [1] and ds.classes == ["0", "1", "2"]


def test_npz_class_names(tmp_path):
    source = save_npz(
        tmp_path / "named.npz",
        x_train=np.zeros((2, 2)),
        y_train=np.array([0, 1]),
        x_test=np.zeros((1, 2)),
        y_test=np.array([1]),
        classes=np.array(["cat", "dog"]),
    )
    assert load_dataset(source).classes == ["cat", "dog"]


def npz_refusal(path, **arrays) -> str:
    source = save_npz(path, **arrays)
    with pytest.raises(DataError) as caught:
        load_dataset(source)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_npz_missing_keys_lists_found_and_expected(tmp_path):
    message = npz_refusal(tmp_path / "partial.npz", x_train=np.zeros((2, 2)), labels=np.zeros(2))
    assert "missing y_train, x_test, y_test; expected arrays x_train, y_train, x_test, y_test" in message
    assert "(found: labels, x_train)" in message


def test_npz_refuses_mismatched_and_bad_arrays(tmp_path):
    good = {"x_test": np.zeros((1, 2)), "y_test": np.array([0])}
    message = npz_refusal(tmp_path / "a.npz", x_train=np.zeros((3, 2)), y_train=np.array([0, 1]), **good)
    assert "x_train has shape (3, 2) but y_train has 2 labels" in message
    message = npz_refusal(tmp_path / "b.npz", x_train=np.zeros((2, 2)), y_train=np.array([0.5, 1]), **good)
    assert "y_train must hold whole-number class labels; sample 0 is" in message
    message = npz_refusal(tmp_path / "c.npz", x_train=np.full((2, 2), 300), y_train=np.array([0, 1]), **good)
    assert "x_train holds integers from 300 to 300" in message
    message = npz_refusal(tmp_path / "d.npz", x_train=np.zeros((2, 3)), y_train=np.array([0, 1]), **good)
    assert "x_train samples have shape (3,) but x_test samples (2,)" in message


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    expected = f"{path}: member 'x_train' holds Python objects, which netlang never unpickles"
    with pytest.raises(DataError, match=expected):
        load_dataset(f"npz:{path}")


def test_npz_missing_or_corrupt_file(tmp_path):
    with pytest.raises(DataError, match="absent.npz: no such file; expected a NumPy .npz archive"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(
        DataError, match=r"junk.npz: is not a NumPy .npz archive \(it does not start with a zip"
    ):
        load_dataset(f"npz:{junk}")
    cut = tmp_path / "cut.npz"
    np.savez(cut, x_train=np.zeros(100))
    cut.write_bytes(cut.read_bytes()[:60])
    with pytest.raises(DataError, match="cut.npz: is not a readable NumPy .npz archive"):
        load_dataset(f"npz:{cut}")


def test_class_names_without_loading(tmp_path):
    assert class_names("fashion-mnist")[0] == "T-shirt/top" and len(class_names("mnist")) == 10
    assert class_names("digits") == [str(digit) for digit in range(10)] and class_names("xor") == ["0", "1"]
    for name in ("digits", "xor", "and", "or", "nand"):
        assert class_names(name) == load_dataset(name).classes
    source = save_npz(
        tmp_path / "named.npz",
        x_train=np.zeros((1, 2)),
        y_train=np.array([0]),
        x_test=np.zeros((1, 2)),
        y_test=np.array([0]),
        classes=np.array(["cat", "dog"]),
    )
    assert class_names(source) == ["cat", "dog"]
