"""`netlang train`, `eval` and `predict` end to end through the command line, on small real networks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from netlang import cli
from netlang.cli import main
from netlang.language.trainfields import field_schemas

REPO = Path(__file__).resolve().parents[2]

# Convolution, batchnorm (buffers) and dropout (the model's generator): all a checkpoint must carry.
SMALL_SPEC = """\
input 1x8x8
conv 4 3x3 -> batchnorm -> relu -> pool 2 -> dropout 0.2 -> affine 10 -> softmax
train {
  data digits
  lr 0.01
  batch_size 200
  epochs 2
}
"""


@pytest.fixture(autouse=True)
def only_training_commands(monkeypatch):
    """Parse with just the commands under test, so a sibling command being written cannot break these."""
    monkeypatch.setattr(cli, "COMMANDS", ("train", "eval", "predict"))


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.net"
    path.write_text(SMALL_SPEC)
    return path


def netlang(capsys, *argv):
    """Run the command line; (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def weights_of(path):
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files if not key.startswith("__")}


def test_train_writes_the_run_directory(capsys, tmp_path, spec):
    run = tmp_path / "run"
    code, out, err = netlang(capsys, "train", spec, "--out", run, "--epochs", "3", "--set", "batch_size=100")
    assert code == 0, err
    assert re.search(r"^epoch 1/3  loss \d\.\d{4}  acc .*val_loss", out, re.M)
    assert "test accuracy" in out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2, 3]
    result = json.loads((run / "result.json").read_text())
    assert result["config"]["batch_size"] == 100  # --set
    assert result["config"]["epochs"] == 3  # --epochs beats the spec's 2
    assert result["config"]["lr"] == 0.01  # the spec's train section
    assert result["config"]["optimizer"] == "adam"  # the default
    assert f"test accuracy {100 * result['test_acc']:.2f}%" in out
    saved_ir = json.loads((run / "model.ir.json").read_text())
    assert saved_ir["train"]["batch_size"]["value"] == 100


def test_resume_continues_bit_identically(capsys, tmp_path, spec):
    assert netlang(capsys, "train", spec, "--out", tmp_path / "straight", "--epochs", "2")[0] == 0
    assert netlang(capsys, "train", spec, "--out", tmp_path / "resumed", "--epochs", "1")[0] == 0
    code, out, err = netlang(capsys, "train", spec, "--resume", tmp_path / "resumed", "--epochs", "2")
    assert code == 0, err
    assert "resuming after epoch 1" in out
    assert "epoch 2/2" in out and "epoch 1/2" not in out
    straight = weights_of(tmp_path / "straight" / "weights.npz")
    resumed = weights_of(tmp_path / "resumed" / "weights.npz")
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    assert "batchnorm1.running_mean" in straight


def test_resume_refuses_another_network(capsys, tmp_path, spec):
    assert netlang(capsys, "train", spec, "--out", tmp_path / "run", "--epochs", "1")[0] == 0
    other = tmp_path / "other.net"
    other.write_text(SMALL_SPEC.replace("conv 4 3x3", "conv 6 3x3"))
    code, _, err = netlang(capsys, "train", other, "--resume", tmp_path / "run")
    assert code == 1
    assert "the spec does not match" in err and "conv1" in err


def test_resume_refuses_another_seed(capsys, tmp_path, spec):
    assert netlang(capsys, "train", spec, "--out", tmp_path / "run", "--epochs", "1")[0] == 0
    code, _, err = netlang(capsys, "train", spec, "--resume", tmp_path / "run", "--seed", "3")
    assert code == 2
    assert "cannot change 'seed' when resuming" in err


def test_train_subset_trains_on_the_first_n_of_the_shuffled_training_split(capsys, tmp_path, spec):
    from netlang.data import load_dataset, split_validation

    code, out, err = netlang(capsys, "train", spec, "--out", tmp_path / "run", "--epochs", "1", "--train-subset", 300)
    assert code == 0, err
    assert "(300 train, 287 validation" in out  # digits: 1,437 training samples, 20% (287) held out to validate
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["config"]["train_subset"] == 300
    assert len(records) == 1
    # the same 300 samples as search and sweep take: the first of the split the seed shuffles
    from netlang.language.compiler import compile_ir
    from netlang.language.trainfields import resolve_training
    from netlang.train.session import load_split

    ir = compile_ir(spec)
    split, _ = load_split(ir, {**resolve_training(ir), "train_subset": 300})
    digits = load_dataset("digits")
    x_train, _, _, _ = split_validation(digits.x_train, digits.y_train, 0.2, 0)
    np.testing.assert_array_equal(split.x_train, x_train[:300])
    code, _, err = netlang(capsys, "train", spec, "--resume", tmp_path / "run", "--epochs", "2", "--train-subset", 200)
    assert code == 2 and "cannot change 'train_subset' when resuming" in err


def test_resume_without_a_checkpoint_is_a_usage_error(capsys, tmp_path, spec):
    code, _, err = netlang(capsys, "train", spec, "--resume", tmp_path / "nowhere")
    assert code == 2
    assert "no checkpoint at" in err


def test_ctrl_c_prints_the_resume_command_and_exits_130(capsys, tmp_path, spec, monkeypatch):
    from netlang.backend.model import Model

    calls = {"count": 0}
    real = Model.loss_and_gradients

    def interrupted_on_the_third_step(self, x, t):
        calls["count"] += 1
        if calls["count"] == 9:  # 6 steps per epoch at batch 200: step 3 of epoch 2
            raise KeyboardInterrupt
        return real(self, x, t)

    monkeypatch.setattr(Model, "loss_and_gradients", interrupted_on_the_third_step)
    run = tmp_path / "run"
    code, out, err = netlang(capsys, "train", spec, "--out", run)
    assert code == 130
    assert "holds the state after epoch 1" in err
    assert f"resume with:\n  netlang train {spec} --resume {run}" in err
    monkeypatch.setattr(Model, "loss_and_gradients", real)
    code, out, err = netlang(capsys, "train", spec, "--resume", run)
    assert code == 0, err
    assert json.loads((run / "result.json").read_text())["epochs"] == 2


def test_bad_overrides_are_usage_errors(capsys, spec):
    code, _, err = netlang(capsys, "train", spec, "--lr", "abc")
    assert code == 2 and "--lr" in err and "abc" in err
    code, _, err = netlang(capsys, "train", spec, "--set", "lr")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = netlang(capsys, "train", spec, "--set", "learning_rate=0.1")
    assert code == 2 and "unknown training field 'learning_rate'" in err
    code, _, err = netlang(capsys, "train", spec, "--patience", "2", "--val-split", "0")
    assert code == 2 and "val_split" in err


def test_every_training_field_has_a_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    usage = capsys.readouterr().out
    for name in field_schemas():
        assert "--" + name.replace("_", "-") in usage


def test_xor_learns_its_truth_table(capsys, tmp_path):
    run = tmp_path / "xor"
    code, out, err = netlang(capsys, "train", REPO / "specs" / "xor.net", "--out", run)
    assert code == 0, err
    assert json.loads((run / "result.json").read_text())["test_acc"] == 1.0
    inputs = tmp_path / "truth.npy"
    np.save(inputs, np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32))
    code, out, err = netlang(capsys, "predict", REPO / "specs" / "xor.net", "--weights", run, inputs, "--json")
    assert code == 0, err
    predictions = json.loads(out)["predictions"]
    assert [row["class"] for row in predictions] == [0, 1, 1, 0]
    assert [row["input"] for row in predictions] == [f"{inputs}[{i}]" for i in range(4)]


def test_eval_prints_accuracy_and_confusion_matrix(capsys, tmp_path, spec):
    run = tmp_path / "run"
    assert netlang(capsys, "train", spec, "--out", run)[0] == 0
    result = json.loads((run / "result.json").read_text())
    code, out, err = netlang(capsys, "eval", spec, "--weights", run / "weights.npz")
    assert code == 0, err
    assert f"accuracy {100 * result['test_acc']:.2f}% (" in out
    lines = out.splitlines()
    header = lines.index("confusion matrix (rows: true class, columns: predicted class):")
    matrix = [[int(cell) for cell in line.split()[1:]] for line in lines[header + 2:header + 12]]
    counts = np.array(matrix)
    assert counts.shape == (10, 10)
    assert counts.sum() == 360  # the digits test set
    assert counts.trace() == round(result["test_acc"] * 360)


def test_predict_reads_a_checkpoint_too(capsys, tmp_path, spec):
    from netlang.data import load_dataset

    run = tmp_path / "run"
    assert netlang(capsys, "train", spec, "--out", run)[0] == 0
    sample = tmp_path / "one.npy"
    np.save(sample, load_dataset("digits").x_test[0])  # one sample of shape (1, 8, 8)
    from_weights = netlang(capsys, "predict", spec, "--weights", run / "weights.npz", sample, "--top", "2")
    from_checkpoint = netlang(capsys, "predict", spec, "--weights", run / "checkpoint.npz", sample, "--top", "2")
    assert from_weights[0] == 0 and from_weights[1] == from_checkpoint[1]
    assert re.fullmatch(rf"{re.escape(str(sample))}  \d\s+\(\d \d\.\d{{3}}, \d \d\.\d{{3}}\)\n", from_weights[1])


def test_a_diverging_run_stops_with_a_training_error(capsys, tmp_path):
    from netlang.train.checkpoint import load_checkpoint

    spec = tmp_path / "plain.net"
    spec.write_text("input 1x8x8\nconv 4 3x3 -> relu -> affine 10 -> softmax\n")
    run = tmp_path / "run"
    argv = ["--out", run, "--optimizer", "sgd", "--lr", "1e30", "--batch-size", "200"]
    code, _, err = netlang(capsys, "train", spec, *argv)
    assert code == 1
    assert re.search(r"the training loss became (nan|inf) in epoch 1, step \d+ of 6", err)
    assert "RuntimeWarning" not in err
    assert load_checkpoint(run / "checkpoint.npz").epoch == 0
    assert not (run / "metrics.jsonl").exists()


def test_a_weights_file_that_is_not_npz_is_named_plainly(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("garbage")
    spec = Path(__file__).resolve().parents[2] / "specs" / "digits_convnet.net"
    code = main(["eval", str(spec), "--weights", str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and f"{bad}: not a weights file; expected an .npz archive written by netlang" in err
