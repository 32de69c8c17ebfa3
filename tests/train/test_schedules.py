"""Learning-rate schedules, early stopping, the progress display, resume rules and checkpoint layout."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from netlang.errors import UsageError
from netlang.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from netlang.train.progress import Progress, format_duration
from netlang.train.schedules import EarlyStopping, epoch_lr
from netlang.train.session import resumed_config


def test_step_schedule():
    config = {"schedule": "step", "step_size": 3, "gamma": 0.5}
    assert [epoch_lr(config, 0.8, epoch) for epoch in range(7)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]


def test_cosine_schedule_runs_from_lr_towards_min_lr():
    config = {"schedule": "cosine", "epochs": 4, "min_lr": 0.1}
    rates = [epoch_lr(config, 1.1, epoch) for epoch in range(4)]
    # min_lr + (lr - min_lr) * (1 + cos(pi * e / 4)) / 2 with lr - min_lr = 1
    expected = [1.1, 0.1 + (1 + math.sqrt(0.5)) / 2, 0.6, 0.1 + (1 - math.sqrt(0.5)) / 2]
    assert rates == pytest.approx(expected)


def test_no_schedule_keeps_the_rate():
    assert epoch_lr({"schedule": "none"}, 0.01, 50) == 0.01


def test_early_stopping_counts_epochs_without_improvement():
    early = EarlyStopping(patience=2)
    assert early.observe(1, 1.0) is True
    assert early.observe(2, 1.0) is False  # equal is not better
    assert not early.should_stop
    assert early.observe(3, 1.5) is False
    assert early.should_stop and early.best_epoch == 1
    restored = EarlyStopping(2)
    restored.load_state_dict(early.state_dict())
    assert restored.should_stop and restored.best_loss == 1.0


def test_patience_zero_never_stops():
    early = EarlyStopping(patience=0)
    for epoch in range(1, 20):
        early.observe(epoch, float(epoch))
    assert not early.should_stop and early.best_epoch == 1


def test_progress_bar_shows_rate_and_eta_on_a_terminal():
    out, bar = io.StringIO(), io.StringIO()
    progress = Progress(out=out, bar=bar, live=True)
    progress.start_epoch(2, 5, steps=10)
    progress.step(10, 1000, loss=0.25, acc=0.5)
    drawn = bar.getvalue()
    assert drawn.startswith("\repoch 2/5 [########################] 10/10  loss 0.2500  acc  50.00%")
    assert "samples/s  ETA 0:00" in drawn
    progress.end_epoch({"epoch": 2, "train_loss": 0.25, "train_acc": 0.5, "val_loss": None, "lr": 0.01,
                        "seconds": 1.5})
    assert out.getvalue() == "epoch 2/5  loss 0.2500  acc  50.00%  lr 0.01  1.5s\n"


def test_progress_without_a_terminal_prints_only_epoch_lines():
    out, bar = io.StringIO(), io.StringIO()
    progress = Progress(out=out, bar=bar, live=False)
    progress.start_epoch(1, 1, steps=3)
    progress.step(1, 10, loss=1.0, acc=0.0)
    assert bar.getvalue() == ""


def test_durations():
    assert [format_duration(s) for s in (5, 65, 3723)] == ["0:05", "1:05", "1:02:03"]


def test_resume_keeps_data_seed_and_mid_epoch_batch_size():
    saved = {"data": "digits", "seed": 0, "val_split": 0.2, "batch_size": 100, "epochs": 2}
    wanted = {**saved, "epochs": 5, "batch_size": 50, "seed": 1}
    assert resumed_config(saved, wanted, {"epochs": "5", "batch_size": "50"})["batch_size"] == 50
    with pytest.raises(UsageError, match="cannot change 'batch_size'"):
        resumed_config(saved, wanted, {"batch_size": "50"}, mid_epoch=True)
    with pytest.raises(UsageError, match="cannot change 'seed'"):
        resumed_config(saved, wanted, {"seed": "1"})
    assert resumed_config(saved, wanted, {"epochs": "5"}) == {**saved, "epochs": 5}


def test_checkpoint_stores_json_state_as_unicode_scalars(tmp_path):
    from netlang.language.trainfields import resolve_training

    state = {"model_rng": np.random.default_rng(3).bit_generator.state, "config": resolve_training({}),
             "shuffle_rng": np.random.default_rng(4).bit_generator.state,
             "early_stopping": {"best_loss": float("inf"), "best_epoch": 0, "epochs_without_improvement": 0},
             "epoch_sums": {"loss": 0.5, "correct": 3, "seen": 4, "seconds": 0.1}, "seconds": 0.0}
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, Checkpoint({"fc.W": np.ones((2, 2))}, {"steps": np.int64(4)}, 1, 2, state, {"x": 1}))
    with np.load(path, allow_pickle=False) as npz:
        assert npz["state/model_rng"].shape == () and npz["state/model_rng"].dtype.kind == "U"
    loaded = load_checkpoint(path)
    assert loaded.state == state and (loaded.epoch, loaded.step) == (1, 2) and loaded.ir == {"x": 1}
    generator = np.random.default_rng()
    generator.bit_generator.state = loaded.state["model_rng"]
    assert generator.random() == np.random.default_rng(3).random()


def test_default_run_directory_is_named_after_the_spec_and_time(tmp_path, monkeypatch):
    import time

    from netlang.train.session import default_run_dir

    monkeypatch.chdir(tmp_path)
    now = time.mktime((2026, 3, 4, 5, 6, 7, 0, 0, -1))
    first = default_run_dir("specs/digits_convnet.net", now)
    assert str(first) == "runs/digits_convnet-20260304-050607"
    first.mkdir(parents=True)
    assert str(default_run_dir("specs/digits_convnet.net", now)) == "runs/digits_convnet-20260304-050607-2"
