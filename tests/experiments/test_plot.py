"""`netlang plot RUN`: the numbers behind the pictures of a trained run, and the pictures' files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netlang.cli import main
from netlang.data import load_dataset


def train(tmp_path, spec):
    run = tmp_path / "run"
    assert main(["train", str(spec), "--epochs", "2", "--out", str(run)]) == 0
    return run


def test_plot_recomputes_the_test_predictions_and_draws_every_picture(tiny_spec, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = train(tmp_path, tiny_spec)
    result = json.loads((run / "result.json").read_text())
    capsys.readouterr()
    assert main(["plot", str(run), "--misclassified", "12"]) == 0
    text = capsys.readouterr().out
    data = json.loads((run / "plots" / "plot.json").read_text())

    confusion = np.array(data["confusion"])
    test = load_dataset("digits")
    assert confusion.shape == (10, 10) and confusion.sum() == len(test.y_test)
    assert np.array_equal(confusion.sum(axis=1), np.bincount(test.y_test, minlength=10))
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result["test_acc"])
    assert data["test_accuracy"] == pytest.approx(result["test_acc"])

    wrong = data["misclassified"]
    assert 0 < len(wrong) <= 12
    assert [item["index"] for item in wrong] == sorted(item["index"] for item in wrong)
    for item in wrong:
        assert item["label"] == test.y_test[item["index"]] and item["predicted"] != item["label"]
    assert f"test accuracy {100 * result['test_acc']:.2f}%" in text
    for name in ("curves", "filters", "misclassified", "confusion"):
        png = run / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_plot_without_a_conv_layer_skips_the_filters(write_spec, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    spec = write_spec("input 1x8x8\naffine 16 -> relu -> affine 10 -> softmax\ntrain {\n  data digits\n}\n")
    run = train(tmp_path, spec)
    assert main(["plot", str(run), "--out", str(tmp_path / "pictures")]) == 0
    assert not (tmp_path / "pictures" / "filters.png").exists()
    assert (tmp_path / "pictures" / "misclassified.png").is_file()


def test_filters_are_the_first_convolution_weights(tiny_spec, tmp_path):
    from netlang.experiments.runs import first_conv_filters, load_trained_model, read_run

    run = train(tmp_path, tiny_spec)
    model = load_trained_model(read_run(run))
    name, filters = first_conv_filters(model)
    with np.load(run / "weights.npz") as saved:
        weights = next(saved[key] for key in saved.files if key.endswith("conv1.W"))
    assert name == "conv1" and filters.shape == (4, 3, 3)
    assert np.array_equal(filters, weights[:, 0])


def test_a_directory_that_is_not_a_run_is_a_usage_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run directory (no metrics.jsonl)" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
