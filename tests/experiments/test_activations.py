"""Activations of a fresh network: the seeds' weight-initialisation study, checked on its numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from netlang.cli import main
from netlang.errors import UsageError
from netlang.experiments.activations import BINS, histogram, layer_stats, normal_batch, parse_inits, study
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training

SIGMOID_STUDY = Path(__file__).resolve().parent / "specs" / "sigmoid_5x100.net"


@pytest.fixture(scope="module")
def sigmoid_study():
    ir = compile_ir(SIGMOID_STUDY)
    x = normal_batch([100], 1000, seed=0)
    result = study(ir, resolve_training(ir), x, ["std:1", "std:0.01", "xavier"])
    return {init["init"]: [layer for layer in init["layers"] if layer["op"] == "sigmoid"] for init in result["inits"]}


def test_std_1_saturates_every_sigmoid_layer_at_0_and_1(sigmoid_study):
    for layer in sigmoid_study["std:1"]:
        counts = np.array(layer["histogram"]["counts"])
        assert counts.sum() == 1000 * 100
        assert layer["saturated"] > 0.4
        assert (counts[0] + counts[-1]) / counts.sum() > 0.4  # the two end bins, as in the seeds' picture
        assert counts[0] > counts[1:-1].max() and counts[-1] > counts[1:-1].max()


def test_std_0_01_collapses_every_layer_at_one_half(sigmoid_study):
    middle = BINS // 2
    for layer in sigmoid_study["std:0.01"]:
        counts = np.array(layer["histogram"]["counts"])
        assert layer["saturated"] == 0 and abs(layer["mean"] - 0.5) < 0.01 and layer["std"] < 0.03
        assert counts[middle - 2:middle + 2].sum() / counts.sum() > 0.95  # the four bins around 0.5


def test_xavier_keeps_the_activations_spread(sigmoid_study):
    for layer in sigmoid_study["xavier"]:
        counts = np.array(layer["histogram"]["counts"])
        assert layer["saturated"] < 0.01 and 0.1 < layer["std"] < 0.25
        assert np.count_nonzero(counts) >= 15
        assert counts.max() / counts.sum() < 0.2  # no bin holds the bulk, unlike std:0.01


def test_stats_on_known_values():
    sigmoid = np.array([[0.005, 0.5, 0.995, 0.7]])
    assert layer_stats("sigmoid", sigmoid)["saturated"] == 0.5
    assert layer_stats("tanh", np.array([[-0.995, 0.0, 0.5, 0.999]]))["saturated"] == 0.5
    relu = layer_stats("relu", np.array([[0.0, 0.0, 0.0, 2.0]]))
    assert relu == {"mean": 0.5, "std": pytest.approx(np.sqrt(0.75)), "saturated": None, "dead": 0.75}
    counts = histogram("relu", np.array([0.0, 0.0, 1.0, 2.0, 3.0]))
    assert counts["zeros"] == 2 and sum(counts["counts"]) == 3 and counts["edges"][0] == 1.0
    bounded = histogram("sigmoid", np.array([0.0, 0.49, 1.0]))
    assert bounded["edges"][0] == 0 and bounded["edges"][-1] == 1 and len(bounded["counts"]) == BINS


def test_bad_init_lists_are_usage_errors():
    assert parse_inits(None) == ["auto"]
    assert parse_inits("std:1, xavier") == ["std:1", "xavier"]
    with pytest.raises(UsageError, match="unknown init scheme 'xavir'"):
        parse_inits("std:1,xavir")


def test_the_command_prints_a_table_per_init_and_writes_the_numbers(tmp_path, capsys):
    out = tmp_path / "act"
    argv = ["activations", str(SIGMOID_STUDY), "--input", "normal", "--init", "std:1,xavier", "--batch", "200",
            "--out", str(out), "--no-plot"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("layer     op") == 2
    saved = json.loads((out / "activations.json").read_text())
    assert [init["init"] for init in saved["inits"]] == ["std:1", "xavier"]
    first = saved["inits"][0]["layers"][1]
    assert first["name"] == "sigmoid1" and f"{100 * first['saturated']:.1f}%" in text


def test_a_data_set_that_does_not_fit_suggests_normal_inputs(capsys):
    assert main(["activations", str(SIGMOID_STUDY), "--no-plot"]) == 1
    assert "--input normal" in capsys.readouterr().err


def test_relu_network_on_digits_reports_dead_units(tiny_spec, tmp_path, capsys):
    assert main(["activations", str(tiny_spec), "--out", str(tmp_path), "--no-plot"]) == 0
    layers = json.loads((tmp_path / "activations.json").read_text())["inits"][0]["layers"]
    relu = next(layer for layer in layers if layer["op"] == "relu")
    assert 0.1 < relu["dead"] < 0.9 and relu["histogram"]["zeros"] == round(relu["dead"] * 1000 * 4 * 8 * 8)


def test_without_matplotlib_the_text_still_comes_and_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    out = tmp_path / "act"
    argv = ["activations", str(SIGMOID_STUDY), "--input", "normal", "--batch", "50", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert 'pip install "netlang[plot]"' in captured.err
    assert "sigmoid5" in captured.out and (out / "activations.json").is_file()
    assert not (out / "activations.png").exists()


def test_layer_outputs_are_each_layers_own_output(tiny_spec):
    from netlang.backend import build
    from netlang.experiments.activations import layer_outputs

    ir = compile_ir(tiny_spec)
    x = normal_batch([1, 8, 8], 20, seed=1)
    outputs = layer_outputs(build(ir, seed=0), x)
    assert [node["name"] for node, _ in outputs] == [layer["name"] for layer in ir["layers"]]
    for depth, (_, kept) in enumerate(outputs):
        fresh = build(ir, seed=0)
        out = x
        for layer in fresh.layers[:depth + 1]:
            out = layer.forward(out, False)
        np.testing.assert_array_equal(kept, out)
