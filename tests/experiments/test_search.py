"""Random search: trials on the validation split only, ranking, the results file, resume, parallel jobs."""

from __future__ import annotations

import json

import pytest

from netlang.cli import main
from netlang.errors import UsageError
from netlang.experiments.ranges import parse_ranges
from netlang.experiments.search import RESULTS_FILE, SearchPlan, ranked, read_results, run_search
from netlang.experiments.training import experiment_split
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training


def plan_for(spec, **changes) -> SearchPlan:
    settings = dict(spec=str(spec), ranges=parse_ranges(["lr=1e-4:1e-1:log", "batch_size=25,50"]), epochs=1,
                    train_subset=300, val_subset=200)
    settings.update(changes)
    return SearchPlan(**settings)


def search(spec, out_dir, trials, jobs=1, **changes):
    ir = compile_ir(spec)
    plan = plan_for(spec, **changes)
    split, _ = experiment_split(ir, resolve_training(ir, plan.overrides), plan.train_subset, plan.val_subset)
    finished = []
    records = run_search(ir, plan, split, trials, out_dir, jobs=jobs, on_record=lambda r, done: finished.append(r))
    return records, finished


def test_trials_are_scored_on_the_validation_split_never_the_test_set(tiny_spec):
    ir = compile_ir(tiny_spec)
    split, _ = experiment_split(ir, resolve_training(ir), 300, 200)
    assert (len(split.x_train), len(split.x_val), len(split.x_test)) == (300, 200, 0)
    with pytest.raises(UsageError, match="val_split is 0"):
        experiment_split(ir, resolve_training(ir, {"val_split": "0"}), None, None)


def test_search_records_every_trial_and_ranks_them(tiny_spec, tmp_path):
    records, finished = search(tiny_spec, tmp_path, trials=4)
    assert [record["trial"] for record in records] == [0, 1, 2, 3]
    assert len(finished) == 4
    lines = (tmp_path / RESULTS_FILE).read_text().splitlines()
    assert [json.loads(line)["trial"] for line in lines] == sorted(r["trial"] for r in finished)
    for record in records:
        assert set(record) >= {"trial", "values", "seed", "val_acc", "val_loss", "seconds"}
        assert 0 <= record["val_acc"] <= 1 and record["seed"] == 0 and record["epochs"] == 1
    order = ranked(records)
    accuracies = [record["val_acc"] for record in order]
    assert accuracies == sorted(accuracies, reverse=True)
    assert accuracies[0] > accuracies[-1]  # lr spans three decades: the trials really differ


def test_ranking_breaks_ties_by_loss_and_puts_failures_last():
    records = [
        {"trial": 0, "val_acc": None, "val_loss": None},
        {"trial": 1, "val_acc": 0.8, "val_loss": 0.7},
        {"trial": 2, "val_acc": 0.9, "val_loss": 0.5},
        {"trial": 3, "val_acc": 0.8, "val_loss": 0.6},
    ]
    assert [record["trial"] for record in ranked(records)] == [2, 3, 1, 0]


def test_an_interrupted_search_resumes_without_rerunning_finished_trials(tiny_spec, tmp_path):
    straight, _ = search(tiny_spec, tmp_path / "straight", trials=5)
    resumed_dir = tmp_path / "resumed"
    search(tiny_spec, resumed_dir, trials=3)
    results = resumed_dir / RESULTS_FILE
    results.write_text(results.read_text() + '{"trial": 3, "values": {"lr": "0.0')  # cut short by a crash
    resumed, finished = search(tiny_spec, resumed_dir, trials=5)
    assert sorted(record["trial"] for record in finished) == [3, 4]
    assert [r["values"] for r in resumed] == [r["values"] for r in straight]
    assert [r["val_acc"] for r in resumed] == [r["val_acc"] for r in straight]
    assert sorted(read_results(results)) == [0, 1, 2, 3, 4]


def test_resuming_with_other_settings_is_refused(tiny_spec, tmp_path):
    search(tiny_spec, tmp_path, trials=1)
    with pytest.raises(UsageError, match="other settings .search_seed"):
        search(tiny_spec, tmp_path, trials=2, search_seed=1)


def test_parallel_trials_give_the_same_records(tiny_spec, tmp_path):
    serial, _ = search(tiny_spec, tmp_path / "serial", trials=3)
    parallel, _ = search(tiny_spec, tmp_path / "parallel", trials=3, jobs=2)
    assert [(r["values"], r["val_acc"], r["val_loss"]) for r in parallel] == \
        [(r["values"], r["val_acc"], r["val_loss"]) for r in serial]


def test_the_command_prints_a_ranked_table_and_writes_the_best_spec(tiny_spec, tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["search", str(tiny_spec), "--trials", "4", "--epochs", "1", "--train-subset", "300",
            "--range", "lr=1e-4:1e-1:log", "--set", "weight_decay=1e-5", "--out", str(out), "--no-plot"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    table = text[text.index("\nrank ") + 1:].splitlines()
    assert table[0].split() == ["rank", "trial", "lr", "val_acc", "val_loss", "seconds"]
    ranks = [row.split() for row in table[2:6]]
    assert [row[0] for row in ranks] == ["1", "2", "3", "4"]
    shown = [float(row[3].rstrip("%")) for row in ranks]
    assert shown == sorted(shown, reverse=True)

    best = ranked(list(read_results(out / RESULTS_FILE).values()))[0]
    spec = (out / "best.net").read_text()
    assert spec.startswith(tiny_spec.read_text().split("train {")[0])  # the network lines, as written
    config = resolve_training(compile_ir(out / "best.net"))
    assert config["lr"] == float(best["values"]["lr"])
    assert (config["weight_decay"], config["epochs"], config["batch_size"]) == (1e-5, 7, 50)
    assert f"validation accuracy {100 * best['val_acc']:.2f}%" in spec

    # The same command again: everything is read back, nothing re-trained.
    assert main(argv) == 0
    before_table = capsys.readouterr().out.split("\nrank ")[0]
    assert "resuming: 4 trials already" in before_table and "] trial" not in before_table


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--range", "seed=1:5"], "'seed' cannot vary"),
        (["--range", "lr=1e-3:1e-1:log", "--set", "lr=0.1"], "both searched"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--set", "val_split=0"], "val_split is 0"),
    ],
)
def test_search_usage_errors_exit_2(tiny_spec, tmp_path, capsys, extra, message):
    assert main(["search", str(tiny_spec), "--out", str(tmp_path / "s"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_ctrl_c_leaves_finished_trials_recorded_and_the_stopped_one_pending(tiny_spec, tmp_path, monkeypatch):
    import netlang.experiments.search as search_module
    from netlang.train.loop import TrainingInterrupted

    real = search_module.train_variant
    calls = []

    def interrupted_at_the_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise TrainingInterrupted("interrupted")
        return real(*args)

    monkeypatch.setattr(search_module, "train_variant", interrupted_at_the_third)
    with pytest.raises(TrainingInterrupted):
        search(tiny_spec, tmp_path, trials=4)
    assert sorted(read_results(tmp_path / RESULTS_FILE)) == [0, 1]
    monkeypatch.setattr(search_module, "train_variant", real)
    _, finished = search(tiny_spec, tmp_path, trials=4)
    assert [record["trial"] for record in finished] == [2, 3]


def test_a_diverging_trial_is_recorded_as_failed_and_ranked_last(tiny_spec, tmp_path, monkeypatch, capsys):
    from netlang.errors import TrainingError
    from netlang.train.loop import Trainer

    def diverge(self):
        raise TrainingError("the training loss became nan in epoch 1, step 3 of 6 (lr 10); stopped")

    monkeypatch.setattr(Trainer, "fit", diverge)
    argv = ["search", str(tiny_spec), "--trials", "2", "--epochs", "1", "--out", str(tmp_path), "--no-plot"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "failed (the training loss became nan in epoch 1, step 3 of 6 (lr 10))" in captured.out
    assert "no trial finished" in captured.err
    records = read_results(tmp_path / RESULTS_FILE)
    assert [(r["val_acc"], r["error"]) for r in records.values()] == \
        [(None, "the training loss became nan in epoch 1, step 3 of 6 (lr 10)")] * 2


def test_a_trial_too_large_for_memory_is_refused_before_allocating_and_the_others_run(tiny_spec, tmp_path, monkeypatch):
    from netlang.memory.forecast import forecast_evaluation, training_forecast

    ir = compile_ir(tiny_spec)
    # a step at batch 25 and the evaluation of 10 validation samples after it fit; a step at batch 50 does not
    fits = max(training_forecast(ir, 25, "sgd")["total"], forecast_evaluation(ir, 25, 10, "sgd", trained=True)["total"])
    assert training_forecast(ir, 50, "sgd")["total"] > 1.1 * fits
    monkeypatch.setenv("NETLANG_MAX_MEMORY", str(int(1.1 * fits)))
    argv = ["search", str(tiny_spec), "--range", "batch_size=25,50", "--set", "optimizer=sgd", "--trials", "8",
            "--epochs", "1", "--val-subset", "10", "--out", str(tmp_path), "--no-plot"]
    assert main(argv) == 0
    records = list(read_results(tmp_path / RESULTS_FILE).values())
    failed = [r for r in records if r["error"]]
    assert failed and all(r["values"]["batch_size"] == "50" for r in failed)
    assert len(failed) < len(records)  # trials drew both sizes
    assert all("needs about" in r["error"] and "NETLANG_MAX_MEMORY allows" in r["error"] for r in failed)
    assert all(r["val_acc"] is not None for r in records if r["values"]["batch_size"] == "25")
