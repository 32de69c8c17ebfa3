"""Sweeps: variants trained alike, their curves saved as data; same seed, same curves."""

from __future__ import annotations

import json

import pytest

from netlang.cli import main
from netlang.errors import UsageError
from netlang.experiments.sweep import parse_settings, smooth, variants


def test_settings_with_commas_are_swept_the_others_fixed():
    swept, fixed = parse_settings(["optimizer=sgd,adam", "init=std:0.01,he", "lr=auto"])
    assert swept == {"optimizer": ["sgd", "adam"], "init": ["std:0.01", "he"]}
    assert fixed == {"lr": "auto"}
    assert variants(swept) == [
        {"optimizer": "sgd", "init": "std:0.01"}, {"optimizer": "sgd", "init": "he"},
        {"optimizer": "adam", "init": "std:0.01"}, {"optimizer": "adam", "init": "he"},
    ]


@pytest.mark.parametrize(
    "settings, message",
    [(["lr=0.1"], "nothing to sweep"), (["seed=0,1"], "'seed' cannot vary"), (["lr"], "KEY=VALUE")],
)
def test_bad_settings_are_usage_errors(settings, message):
    with pytest.raises(UsageError, match=message):
        parse_settings(settings)


def test_smooth_is_a_trailing_moving_average():
    assert smooth([3.0, 1.0, 2.0, 6.0], 2) == [3.0, 2.0, 1.5, 4.0]


def sweep(spec, out, capsys, *settings):
    argv = ["sweep", str(spec), *(f"--set={setting}" for setting in settings), "--epochs", "2",
            "--train-subset", "400", "--out", str(out), "--no-plot"]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads((out / "curves.json").read_text())


def test_optimizers_give_different_curves_and_a_rerun_gives_the_same(tiny_spec, tmp_path, capsys):
    first = sweep(tiny_spec, tmp_path / "a", capsys, "optimizer=sgd,momentum,adam", "lr=auto")
    labels = [variant["label"] for variant in first["variants"]]
    assert labels == ["optimizer=sgd", "optimizer=momentum", "optimizer=adam"]
    steps = 2 * 400 // 50
    for variant in first["variants"]:
        assert len(variant["step_loss"]) == steps and len(variant["epochs"]) == 2
        assert variant["config"]["seed"] == first["seed"] == 0
    sgd, momentum, adam = first["variants"]
    # Same seed: the first step sees the same weights and batch, so every variant starts from one loss...
    assert sgd["step_loss"][0] == momentum["step_loss"][0] == adam["step_loss"][0]
    # ...and then the optimizers part ways; at the same lr 0.01 momentum gets further than plain sgd.
    assert len({variant["step_loss"][-1] for variant in first["variants"]}) == 3
    assert momentum["epochs"][-1]["val_loss"] < sgd["epochs"][-1]["val_loss"]
    again = sweep(tiny_spec, tmp_path / "b", capsys, "optimizer=sgd,momentum,adam", "lr=auto")
    timeless = [{key: value for key, value in variant.items() if key != "seconds"} for variant in first["variants"]]
    assert [{key: value for key, value in variant.items() if key != "seconds"} for variant in again["variants"]] \
        == timeless


def test_initialisers_change_the_curves(tiny_spec, tmp_path, capsys):
    curves = sweep(tiny_spec, tmp_path, capsys, "init=std:0.01,he")
    small, he = curves["variants"]
    assert small["step_loss"][0] != he["step_loss"][0]
    assert small["config"]["init"] == "std:0.01" and he["config"]["init"] == "he"


def test_without_matplotlib_search_and_sweep_still_write_their_numbers(tiny_spec, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    common = [str(tiny_spec), "--epochs", "1", "--train-subset", "100"]
    assert main(["sweep", *common, "--set", "optimizer=sgd,adam", "--out", str(tmp_path / "sweep")]) == 0
    assert main(["search", *common, "--trials", "2", "--out", str(tmp_path / "search")]) == 0
    assert capsys.readouterr().err.count('pip install "netlang[plot]"') == 2
    assert (tmp_path / "sweep" / "curves.json").is_file() and not (tmp_path / "sweep" / "curves.png").exists()
    assert (tmp_path / "search" / "best.net").is_file() and not (tmp_path / "search" / "search.png").exists()
