"""The seeds' studies on small seeded runs of the embedded digits: the numbers behind the pictures.

Overfitting (a deep MLP on 100 training samples learns them by heart; weight decay and dropout narrow the gap),
batch normalisation (it learns from small initial weights where the plain network does not), and the `measure`
field that records training accuracy by a pass in inference mode and test accuracy for the picture only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from netlang.cli import main
from netlang.errors import UsageError
from netlang.experiments.sweep import chance_accuracy, dimensions, expand_values, grid_axes, learned, parse_settings

MLP = """input 1x8x8
(affine 100 -> relu{dropout}) * 3
affine 10 -> softmax

train {{
  data digits
  optimizer momentum
  lr 0.05
  batch_size 25
  epochs 15
  init he
}}
"""

BATCHNORM = """input 1x8x8
(affine 50 -> {batchnorm}relu) * 3
affine 10 -> softmax

train {{
  data digits
  optimizer sgd
  lr 0.01
  batch_size 50
  epochs 8
}}
"""


def sweep(capsys, out, *argv):
    code = main(["sweep", *map(str, argv), "--out", str(out), "--no-plot"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((out / "curves.json").read_text()), captured.out


def final(record):
    return record["epochs"][-1]


def test_a_small_training_set_is_learned_by_heart_and_weight_decay_and_dropout_narrow_the_gap(tmp_path, capsys):
    plain, dropout = tmp_path / "plain.net", tmp_path / "dropout.net"
    plain.write_text(MLP.format(dropout=""))
    dropout.write_text(MLP.format(dropout=" -> dropout 0.3"))
    curves, out = sweep(capsys, tmp_path / "out", plain, dropout, "--set", "weight_decay=0,0.03",
                        "--train-subset", 100)
    assert "400" not in out and "100 training" in out
    runs = {record["label"]: final(record) for record in curves["variants"]}
    assert list(runs) == ["plain weight_decay=0", "plain weight_decay=0.03", "dropout weight_decay=0",
                          "dropout weight_decay=0.03"]
    assert curves["dimensions"] == [{"name": "spec", "values": ["plain", "dropout"]},
                                    {"name": "weight_decay", "values": ["0", "0.03"]}]

    def gap(epoch):
        return epoch["train_eval_acc"] - epoch["val_acc"]

    def loss_gap(epoch):
        return epoch["val_loss"] - epoch["train_eval_loss"]

    overfit = runs["plain weight_decay=0"]
    assert overfit["train_eval_acc"] >= 0.98  # 100 samples learned (almost) by heart...
    assert gap(overfit) >= 0.12  # ...far better than the 287 held-out ones
    decayed = runs["plain weight_decay=0.03"]
    assert gap(decayed) <= gap(overfit) - 0.02 and loss_gap(decayed) <= 0.8 * loss_gap(overfit)
    dropped = runs["dropout weight_decay=0"]
    assert dropped["train_eval_acc"] <= overfit["train_eval_acc"] - 0.05  # it no longer learns them all
    assert loss_gap(dropped) <= 0.9 * loss_gap(overfit)
    # The training pass is in inference mode (no dropout, weights after the epoch): not the batches' running mean.
    assert dropped["train_eval_acc"] != dropped["train_acc"]
    assert all(epoch.get("test_acc") is None for epoch in runs.values())  # no --test: the test set is not seen


def test_batchnorm_learns_from_small_initial_weights_where_the_plain_network_does_not(tmp_path, capsys):
    with_bn, without = tmp_path / "with_bn.net", tmp_path / "without.net"
    with_bn.write_text(BATCHNORM.format(batchnorm="batchnorm -> "))
    without.write_text(BATCHNORM.format(batchnorm=""))
    curves, out = sweep(capsys, tmp_path / "out", with_bn, without, "--set", "init=std:0.1:0.01:log2",
                        "--train-subset", 300, "--val-subset", 100)
    variants = curves["variants"]
    assert [record["label"] for record in variants] == [
        "with_bn init=std:0.1", "with_bn init=std:0.01", "without init=std:0.1", "without init=std:0.01"]
    chance = chance_accuracy(np.asarray([0, 1, 1, 2]))
    assert chance == 0.5
    from netlang.data import load_dataset, split_validation

    digits = load_dataset("digits")
    _, y_train, _, _ = split_validation(digits.x_train, digits.y_train, 0.2, 0)
    chance = chance_accuracy(y_train[:300])
    assert [learned(record, chance) for record in variants] == [True, True, False, False]
    assert "spec with_bn: 2 of 2" in out and "spec without: 0 of 2" in out
    for record in variants[2:]:  # stuck: every sample gets the same answer
        assert final(record)["train_eval_acc"] <= chance + 0.01


def test_measure_records_a_training_pass_and_the_test_set_without_changing_training(tmp_path, capsys):
    spec = tmp_path / "drop.net"
    spec.write_text(MLP.format(dropout=" -> dropout 0.3").replace("epochs 15", "epochs 2"))
    common = ["train", str(spec), "--train-subset", "200"]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--measure", "train+test", "--out", str(tmp_path / "measured")]) == 0
    capsys.readouterr()
    from netlang.npz import NpzArchive

    with NpzArchive(tmp_path / "plain" / "weights.npz") as a, NpzArchive(tmp_path / "measured" / "weights.npz") as b:
        names = [name for name in a.names if not name.startswith("__")]
        assert names and all(np.array_equal(a.read(name), b.read(name)) for name in names)  # dropout RNG untouched
    records = [json.loads(line) for line in (tmp_path / "measured" / "metrics.jsonl").read_text().splitlines()]
    old = [json.loads(line) for line in (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()]
    assert "train_eval_acc" not in old[-1] and "test_acc" not in old[-1]
    result = json.loads((tmp_path / "measured" / "result.json").read_text())
    assert records[-1]["test_acc"] == result["test_acc"]  # the last epoch's weights are the final ones
    from netlang.experiments.runs import load_trained_model, read_run
    from netlang.train.evaluate import evaluate
    from netlang.train.session import load_split

    assert main(["plot", str(tmp_path / "measured"), "--no-plot"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "train_eval_acc", "test_acc"]
    assert table[3].split()[-1] == f"{100 * records[-1]['test_acc']:.2f}%"
    run = read_run(tmp_path / "measured")
    split, _ = load_split(run.ir, run.config)
    assert len(split.x_train) == 200
    model = load_trained_model(run)
    assert records[-1]["train_eval_acc"] == evaluate(model, split.x_train, split.y_train).accuracy


def test_the_study_specs_are_valid(capsys):
    from pathlib import Path

    studies = sorted((Path(__file__).parents[2] / "specs" / "studies").glob("*.net"))
    assert len(studies) == 4 and main(["check", *map(str, studies)]) == 0


def test_spaced_values_and_the_axes_of_a_sweep():
    assert expand_values("init", "std:1:1e-4:log5") == ["std:1", "std:0.1", "std:0.01", "std:0.001", "std:0.0001"]
    assert len(expand_values("init", "std:1:1e-4:log16")) == 16
    assert expand_values("lr", "0.1:0.3:lin3") == ["0.1", "0.2", "0.3"]
    assert expand_values("init", "std:0.01") == ["std:0.01"]
    swept, fixed = parse_settings(["init=std:1:0.01:log3", "lr=0.1"])
    assert swept == {"init": ["std:1", "std:0.1", "std:0.01"]} and fixed == {"lr": "0.1"}
    axes = dimensions(["a/with.net", "b/without.net"], swept)
    assert axes == [{"name": "spec", "values": ["with", "without"]},
                    {"name": "init", "values": ["std:1", "std:0.1", "std:0.01"]}]
    assert grid_axes(axes) == (1, 0)  # one small plot per weight scale, one line per spec
    assert dimensions(["x/a.net", "y/a.net"], {})[0]["values"] == ["x/a.net", "y/a.net"]
    assert parse_settings([], need_swept=False) == ({}, {})


@pytest.mark.parametrize("text, message", [
    ("init=std:1:0:log3", "both ends above 0"), ("lr=0.1:1:log1", "must be 2 to 1000"),
    ("lr=1.2.3:1:log3", "must be numbers"), ("lr=1e999:1:lin3", "finite"),
])
def test_bad_spaced_values_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_settings([text])


def test_specs_that_would_train_on_different_data_are_refused(tmp_path, capsys):
    first, second = tmp_path / "a.net", tmp_path / "b.net"
    first.write_text(MLP.format(dropout=""))
    second.write_text(MLP.format(dropout="").replace("data digits", "data digits\n  seed 3"))
    assert main(["sweep", str(first), str(second), "--out", str(tmp_path / "o")]) == 2
    assert "the specs set 'seed' differently (a: 0, b: 3)" in capsys.readouterr().err
    assert main(["sweep", str(first), "--set", "measure=train,val", "--out", str(tmp_path / "o")]) == 2
    assert "measure" in capsys.readouterr().err
    assert main(["sweep", str(first), "--set", "measure=val", "--set", "lr=0.1,0.2", "--test"]) == 2
    assert "--test measures the test set" in capsys.readouterr().err
    assert main(["sweep", str(first)]) == 2
    assert "nothing to sweep" in capsys.readouterr().err
