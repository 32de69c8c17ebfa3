"""State dicts and .npz checkpoints: round trips, atomic writes, clear errors for misfits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netlang.backend import build
from netlang.errors import DataError
from netlang.language.compiler import compile_ir

SPEC = "input 1x6x6\nconv 2 3x3 -> batchnorm -> relu -> affine 3 -> softmax\n"


def model(seed=0, spec=SPEC):
    return build(compile_ir(spec), seed=seed)


def test_state_dict_names_params_in_layer_order_then_buffers():
    assert list(model().state_dict()) == [
        "conv1.W",
        "conv1.b",
        "batchnorm1.gamma",
        "batchnorm1.beta",
        "affine1.W",
        "affine1.b",
        "batchnorm1.running_mean",
        "batchnorm1.running_var",
    ]


def test_save_load_round_trip_reproduces_outputs(tmp_path):
    source, target = model(seed=1), model(seed=2)
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6))
    source.forward(x, train=True)  # move the running averages off their start values
    path = tmp_path / "net.npz"
    source.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary file left behind
    target.load(path)
    np.testing.assert_array_equal(target.predict(x), source.predict(x))
    np.testing.assert_array_equal(target.buffers["batchnorm1.running_mean"], source.buffers["batchnorm1.running_mean"])


def test_checkpoint_carries_the_ir_without_pickle(tmp_path):
    path = tmp_path / "net.npz"
    m = model()
    m.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["__ir__"].shape == ()
        assert json.loads(str(archive["__ir__"]))["layers"][0]["name"] == "conv1"


def test_load_keeps_the_arrays_shared_with_layers(tmp_path):
    m = model()
    weights = m.params["conv1.W"]
    path = tmp_path / "net.npz"
    model(seed=5).save(path)
    m.load(path)
    assert m.params["conv1.W"] is weights and m.layers[0].params["W"] is weights


def test_load_refuses_a_checkpoint_of_another_network_naming_file_and_tensor(tmp_path):
    path = tmp_path / "other.npz"
    model(spec="input 1x6x6\nconv 3 3x3 -> batchnorm -> relu -> affine 3 -> softmax\n").save(path)
    with pytest.raises(DataError, match=r"other\.npz.*conv1\.W.*\[3, 1, 3, 3\].*\[2, 1, 3, 3\]"):
        model().load(path)
    path = tmp_path / "fewer.npz"
    model(spec="input 1x6x6\nconv 2 3x3 -> relu -> affine 3 -> softmax\n").save(path)
    with pytest.raises(DataError, match="batchnorm1.gamma"):
        model().load(path)


@pytest.mark.parametrize("content", [b"not a zip file at all", b"PK\x03\x04 truncated", b""])
def test_load_refuses_corrupt_files_with_a_data_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="bad.npz"):
        model().load(path)


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        model().load(tmp_path / "nothing.npz")


def test_load_state_dict_checks_shapes():
    m = model()
    state = {k: v.copy() for k, v in m.state_dict().items()}
    state["affine1.b"] = np.zeros(4)
    with pytest.raises(DataError, match=r"affine1\.b.*\[4\].*\[3\]"):
        m.load_state_dict(state)
