"""`netlang train` and `predict` through the command line on hostile and unusual data: one line, exit 1.

One tiny network is trained once, on an npz data set in Keras' (N, H, W) layout, and then fed inputs that
are empty, NaN, text, oversized or in the shapes people have.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from netlang import cli
from netlang.cli import main

SPEC = """\
input 1x4x4
affine 3 -> softmax
train {
  data npz:DATA
  lr 0.1
  epochs 2
  batch_size 6
  val_split 0
}
"""


def keras_set(n_train: int = 12, n_test: int = 6) -> dict[str, np.ndarray]:
    """Arrays of a 3-class set in Keras' layout: uint8 images (N, 4, 4), the class in the brightest row."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 3, size=count)
        images = rng.integers(0, 40, size=(count, 4, 4), dtype=np.uint8)
        images[np.arange(count), labels, :] = 250
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def netlang(capsys, *argv) -> tuple[int, str, str]:
    """Run the command line; (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_spec(directory, data_path):
    spec = directory / "tiny.net"
    spec.write_text(SPEC.replace("DATA", str(data_path)))
    return spec


@pytest.fixture(autouse=True)
def only_training_commands(monkeypatch):
    """Parse with just the commands under test, so a sibling command being written cannot break these."""
    monkeypatch.setattr(cli, "COMMANDS", ("train", "predict"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(spec, run directory) of the tiny network, trained on a Keras-layout npz: that layout must train."""
    directory = tmp_path_factory.mktemp("trained")
    data = directory / "keras.npz"
    np.savez(data, **keras_set())
    spec = write_spec(directory, data)
    run = directory / "run"
    assert main(["train", str(spec), "--out", str(run)]) == 0
    return spec, run


def test_predict_accepts_keras_batches_and_single_images(capsys, tmp_path, trained):
    spec, run = trained
    images = keras_set()["x_test"]
    np.save(tmp_path / "batch.npy", images)  # (N, 4, 4)
    np.save(tmp_path / "one.npy", images[0])  # (4, 4): one sample
    np.save(tmp_path / "channels_last.npy", images[..., np.newaxis])  # (N, 4, 4, 1)
    code, out, err = netlang(capsys, "predict", spec, "--weights", run, tmp_path / "batch.npy", "--json")
    assert code == 0, err
    batch = json.loads(out)["predictions"]
    assert len(batch) == len(images)
    for name, count in (("one.npy", 1), ("channels_last.npy", len(images))):
        code, out, err = netlang(capsys, "predict", spec, "--weights", run, tmp_path / name, "--json")
        assert code == 0, err
        rows = json.loads(out)["predictions"]
        assert len(rows) == count
        # Alone or in a batch, a sample gets the same classes; its probabilities agree to float32 rounding (BLAS
        # may take another kernel for one row than for six).
        for row, batch_row in zip(rows, batch[:count], strict=True):
            assert [entry["class"] for entry in row["top"]] == [entry["class"] for entry in batch_row["top"]]
            assert [entry["p"] for entry in row["top"]] == pytest.approx([entry["p"] for entry in batch_row["top"]],
                                                                         rel=1e-5, abs=1e-7)


def huge_png(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height 8-bit gray pixels (its data is a few zero rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(bytes(3 * (width + 1)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "write", "expected"),
    [
        ("nan.npy", lambda p: np.save(p, np.full((2, 1, 4, 4), np.nan)), "holds 32 NaN or infinite values"),
        ("inf.npz", lambda p: np.savez(p, x=np.full((4, 4), np.inf)), "array 'x' holds 16 NaN or infinite"),
        ("empty.npy", lambda p: np.save(p, np.zeros((0, 4, 4))), "holds no samples"),
        ("text.npz", lambda p: np.savez(p, x=np.array(["a", "b"])), "array 'x' holds text (dtype <U1)"),
        ("complex.npy", lambda p: np.save(p, np.ones((1, 4, 4)) * 1j), "holds complex numbers"),
        ("objects.npy", lambda p: np.save(p, np.array([None]), allow_pickle=True), "never unpickles"),
        ("huge.png", lambda p: p.write_bytes(huge_png(20000, 20000)), "is a 20000x20000 PNG image"),
        ("wide.png", lambda p: p.write_bytes(huge_png(16, 1)), "expects (1, 4, 4), a 4x4 grayscale image"),
    ],
)
def test_predict_refuses_bad_inputs_with_one_line_and_exit_1(capsys, tmp_path, trained, name, write, expected):
    spec, run = trained
    path = tmp_path / name
    write(path)
    code, out, err = netlang(capsys, "predict", spec, "--weights", run, path)
    assert code == 1 and out == ""
    assert err.startswith(f"{path}: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"x_train": np.zeros((0, 4, 4))}, "x_train holds no samples (shape (0, 4, 4)); expected at least one"),
        ({"x_test": np.zeros((0, 4, 4)), "y_test": np.zeros(0, int)}, "x_test holds no samples"),
        ({"x_train": np.full((12, 4, 4), np.nan)}, "x_train holds 192 NaN or infinite values"),
        ({"y_test": np.array(["cat"] * 6)}, "y_test holds text (dtype <U3); expected integer class labels"),
    ],
)
def test_train_refuses_bad_data_sets_before_writing_a_run(capsys, tmp_path, arrays, expected):
    data = tmp_path / "bad.npz"
    base = keras_set()
    if "x_train" in arrays and len(arrays["x_train"]) == 0:
        base["y_train"] = np.zeros(0, int)
    np.savez(data, **{**base, **arrays})
    run = tmp_path / "run"
    code, out, err = netlang(capsys, "train", write_spec(tmp_path, data), "--out", run)
    assert code == 1
    assert err.startswith(f"{data}: ") and expected in err, err
    assert "Traceback" not in err
    assert not run.exists()
