"""Damaged checkpoints and weights: each is refused before any of it is used, naming the file and the member."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from netlang.cli import main

REPO = Path(__file__).resolve().parents[2]
XOR = REPO / "specs" / "xor.net"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("damage") / "run"
    assert main(["train", str(XOR), "--out", str(run), "--epochs", "2"]) == 0
    return run


@pytest.fixture
def run(finished_run, tmp_path, capsys) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    capsys.readouterr()
    return copy


def rewrite(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def resume(capsys, run: Path) -> tuple[int, str, str]:
    code = main(["train", str(XOR), "--resume", str(run), "--epochs", "4"])
    out, err = capsys.readouterr()
    return code, out, err


def state(text: str):
    return lambda arrays: arrays.__setitem__("state/config", np.array(text))


CHECKPOINT_DAMAGE = {
    "optimizer state of another shape": (
        lambda a: a.__setitem__("optimizer/m/affine1.W", np.zeros((4, 2), np.float32)),
        "optimizer/m/affine1.W' has shape [4, 2], expected [2, 4]",
    ),
    "optimizer state of another optimizer": (
        lambda a: a.__setitem__("optimizer/h/affine1.W", np.zeros((2, 4), np.float32)),
        "'optimizer/h/affine1.W' is not state of the adam optimizer",
    ),
    "a foreign generator state": (
        lambda a: a.__setitem__("state/shuffle_rng", np.array('{"bit_generator": "MT19937", "state": {}}')),
        "'state/shuffle_rng' is not the state of a PCG64 random generator",
    ),
    "a generator state out of range": (
        lambda a: a.__setitem__("state/model_rng", np.array(
            '{"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0}')),
        "'state/model_rng' is not the state",
    ),
    "a weight as text": (
        lambda a: a.__setitem__("model/affine2.b", a["model/affine2.b"].astype("U8")),
        "'model/affine2.b' has dtype <U8, expected floating point",
    ),
    "a weight of another shape": (
        lambda a: a.__setitem__("model/affine2.W", np.zeros((4, 3), np.float32)),
        "'model/affine2.W' has shape [4, 3], expected [4, 2]",
    ),
    "a missing weight": (lambda a: a.pop("model/affine1.b"), "member 'model/affine1.b' is missing"),
    "a NaN weight": (
        lambda a: a["model/affine1.W"].__setitem__((0, 0), np.nan), "'model/affine1.W' holds NaN"
    ),
    "an epoch that is not a whole number": (
        lambda a: a.__setitem__("epoch", np.array(2.5)), "member 'epoch' should be a whole number"
    ),
    "a negative step": (lambda a: a.__setitem__("step", np.int64(-3)), "member 'step' is -3"),
    "a step past the epoch's end": (lambda a: a.__setitem__("step", np.int64(5)), "member 'step' is 5"),
    "a config that is not JSON": (state("{lr: 1"), "member 'state/config' is not valid JSON"),
    "a config with a non-integer batch size": (
        lambda a: a.__setitem__("state/config", np.array(
            json.dumps({**json.loads(str(a["state/config"])), "batch_size": 1e308}))),
        "'state/config': field 'batch_size' is 1e+308, expected a whole number",
    ),
    "early stopping state without its fields": (
        lambda a: a.__setitem__("state/early_stopping", np.array("{}")), "member 'state/early_stopping' should be"
    ),
    "epoch sums of the wrong type": (
        lambda a: a.__setitem__("state/epoch_sums", np.array(
            '{"loss": "x", "correct": 0, "seen": 0, "seconds": 0}')), "'state/epoch_sums': 'loss' is 'x'"
    ),
    "an IR that is not an object": (lambda a: a.__setitem__("ir", np.array("[]")), "member 'ir' should be"),
    "a format of the wrong type": (
        lambda a: a.__setitem__("format", np.int64(1)), "member 'format' should be text"
    ),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_is_refused_before_resuming(capsys, run, case):
    change, expected = CHECKPOINT_DAMAGE[case]
    checkpoint = run / "checkpoint.npz"
    rewrite(checkpoint, change)
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    code, out, err = resume(capsys, run)
    assert code == 1 and "resuming after" not in out
    assert err.startswith(str(checkpoint)) and expected in err, err
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_a_bad_crc_names_the_member(capsys, run):
    checkpoint = run / "checkpoint.npz"
    data = bytearray(checkpoint.read_bytes())
    name = b"model/affine1.W.npy"
    start = data.index(name) + len(name)
    data[data.index(b"\x93NUMPY", start) + 130] ^= 0xFF  # a byte of the array's data
    checkpoint.write_bytes(bytes(data))
    code, _, err = resume(capsys, run)
    assert code == 1 and "member 'model/affine1.W' is damaged (Bad CRC-32" in err
    code = main(["eval", str(XOR), "--weights", str(checkpoint)])
    assert code == 1 and "Bad CRC-32" in capsys.readouterr().err


def test_a_broken_metrics_line_is_named_with_its_line(capsys, run):
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n" + '{"epoch": "two"}\n')
    code, out, err = resume(capsys, run)
    assert code == 1 and "resuming after" not in out
    assert err.startswith(f"{metrics}:2: 'epoch' is 'two'")


def test_a_checkpoint_with_an_object_array_is_never_unpickled(capsys, run, tmp_path):
    checkpoint = run / "checkpoint.npz"
    marker = tmp_path / "unpickled"
    rewrite(checkpoint, lambda a: a.__setitem__("model/affine1.W", np.array([Exploit(str(marker))], dtype=object)))
    code, _, err = resume(capsys, run)
    assert code == 1 and "holds Python objects" in err
    assert main(["eval", str(XOR), "--weights", str(checkpoint)]) == 1
    assert not marker.exists()


class Exploit:
    """Unpickling this would create a file: it must never happen."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


WEIGHTS_DAMAGE = {
    "complex weights": (lambda a: a.__setitem__("affine1.W", a["affine1.W"].astype(complex)), "dtype complex128"),
    "integer weights": (lambda a: a.__setitem__("affine1.b", a["affine1.b"].astype(np.int64)), "dtype int64"),
    "infinite weights": (lambda a: a["affine2.W"].__setitem__((0, 0), np.inf), "'affine2.W' holds NaN or inf"),
    "a weight of another shape": (lambda a: a.__setitem__("affine2.b", np.zeros(3, np.float32)), "shape [3]"),
    "an unknown tensor": (lambda a: a.__setitem__("conv9.W", np.zeros(1, np.float32)), "unexpected tensor"),
    "an IR that is not JSON": (lambda a: a.__setitem__("__ir__", np.array("{")), "'__ir__' is not valid JSON"),
    "finite weights too large to compute with": (
        lambda a: [a[name].__setitem__(Ellipsis, 3e38) for name in sorted(a) if name != "__ir__"], "too large"
    ),
}


@pytest.mark.parametrize("case", sorted(WEIGHTS_DAMAGE))
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_damaged_weights_are_refused_by_eval_and_predict(capsys, run, tmp_path, case, command):
    change, expected = WEIGHTS_DAMAGE[case]
    weights = run / "weights.npz"
    rewrite(weights, change)
    sample = tmp_path / "x.npy"
    np.save(sample, np.zeros(2, np.float32))
    argv = ["eval", str(XOR), "--weights", str(weights)]
    if command == "predict":
        argv = ["predict", str(XOR), "--weights", str(weights), str(sample)]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(str(weights)) and expected in err, err


def test_a_member_that_appears_twice_is_refused(capsys, run):
    import warnings
    import zipfile

    weights = run / "weights.npz"
    with zipfile.ZipFile(weights) as archive:
        first = archive.read("affine1.W.npy")
    with warnings.catch_warnings(), zipfile.ZipFile(weights, "a") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name: that is the point
        archive.writestr("affine1.W.npy", first)
    assert main(["eval", str(XOR), "--weights", str(weights)]) == 1
    assert "member 'affine1.W' appears twice" in capsys.readouterr().err


def test_the_optimizer_cannot_change_on_resume(capsys, run):
    code = main(["train", str(XOR), "--resume", str(run), "--epochs", "4", "--optimizer", "sgd"])
    out, err = capsys.readouterr()
    assert code == 2 and "cannot change 'optimizer' when resuming" in err and out == ""
