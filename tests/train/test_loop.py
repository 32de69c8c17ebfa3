"""The training loop on a tiny stand-in model: metrics, determinism, resume, interrupts, NaN, early stop."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from tiny_model import TINY_IR, TinyModel, base_config, tiny_split

from netlang.errors import DataError, TrainingError
from netlang.train.checkpoint import check_same_network, load_checkpoint
from netlang.train.evaluate import evaluate
from netlang.train.loop import Trainer, TrainingInterrupted, add_weight_decay


def weights_of(path):
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


def assert_same_arrays(left, right):
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def without_seconds(records):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


class Recording:
    """Wraps a model's loss_and_gradients to record every batch and, optionally, act on call number n."""

    def __init__(self, model, on_call=None):
        self.model = model
        self.inner = model.loss_and_gradients
        self.on_call = on_call or {}
        self.batches = []
        self.losses = []
        model.loss_and_gradients = self

    def __call__(self, x, t):
        call = len(self.batches) + 1
        if call in self.on_call:
            self.on_call[call]()
        loss, grads, outputs = self.inner(x, t)
        self.batches.append(x.copy())
        self.losses.append(loss)
        return loss, grads, outputs


def test_run_directory_files_hold_the_epochs_metrics(tmp_path, make_trainer):
    run = tmp_path / "run"
    trainer = make_trainer(run, epochs=2, batch_size=16)
    recording = Recording(trainer.model)
    result = trainer.fit()

    data = trainer.data
    steps = 8  # ceil(120 / 16): 7 full batches and one of 8
    assert len(recording.batches) == 2 * steps
    for epoch in range(2):
        batches = recording.batches[epoch * steps:(epoch + 1) * steps]
        assert [len(batch) for batch in batches] == [16] * 7 + [8]

    records = read_metrics(run)
    assert [record["epoch"] for record in records] == [1, 2]
    assert set(records[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    first_epoch_losses = np.array(recording.losses[:steps])
    sizes = np.array([16] * 7 + [8])
    assert records[0]["train_loss"] == pytest.approx(float(np.sum(first_epoch_losses * sizes) / 120))
    assert all(record["lr"] == 0.1 for record in records)

    val = evaluate(trainer.model, data.x_val, data.y_val)
    test = evaluate(trainer.model, data.x_test, data.y_test)
    assert records[1]["val_loss"] == pytest.approx(val.loss)
    assert records[1]["val_acc"] == pytest.approx(val.accuracy)

    saved = json.loads((run / "result.json").read_text())
    assert saved == result
    assert saved["finished"] is True
    assert saved["epochs"] == 2
    assert saved["test_acc"] == pytest.approx(test.accuracy)
    assert saved["test_loss"] == pytest.approx(test.loss)
    assert saved["config"]["optimizer"] == "momentum"
    assert saved["best_epoch"] in (1, 2)
    assert json.loads((run / "model.ir.json").read_text()) == TINY_IR
    assert_same_arrays(weights_of(run / "weights.npz"), trainer.model.state_dict())
    assert sorted(path.name for path in run.iterdir()) == [
        "best.npz", "checkpoint.npz", "metrics.jsonl", "model.ir.json", "result.json", "weights.npz",
    ]
    assert test.accuracy > 0.7  # the blobs are learnable: the loop does train


def test_each_epoch_sees_every_sample_once(tmp_path, make_trainer):
    trainer = make_trainer(tmp_path / "run", epochs=1, batch_size=32)
    recording = Recording(trainer.model)
    original_x = trainer.data.x_train.copy()
    ids = []
    inner = recording.inner

    def by_row(x, t):
        ids.extend(int(np.flatnonzero((original_x == row).all(axis=1))[0]) for row in x)
        return inner(x, t)

    recording.inner = by_row
    trainer.fit()
    assert sorted(ids) == list(range(len(original_x)))
    assert ids != sorted(ids)  # shuffled


def test_same_seed_gives_bit_identical_weights_and_metrics(tmp_path, make_trainer):
    first = make_trainer(tmp_path / "a", epochs=2)
    first.fit()
    second = make_trainer(tmp_path / "b", epochs=2)
    second.fit()
    other_seed = make_trainer(tmp_path / "c", epochs=2, seed=1)
    other_seed.fit()

    assert_same_arrays(weights_of(tmp_path / "a" / "weights.npz"), weights_of(tmp_path / "b" / "weights.npz"))
    assert without_seconds(read_metrics(tmp_path / "a")) == without_seconds(read_metrics(tmp_path / "b"))
    other = weights_of(tmp_path / "c" / "weights.npz")["fc.W"]
    assert (other != weights_of(tmp_path / "a" / "weights.npz")["fc.W"]).any()


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "nesterov"])
def test_one_epoch_then_resume_equals_two_epochs(tmp_path, make_trainer, optimizer):
    straight = make_trainer(tmp_path / "straight", epochs=2, optimizer=optimizer, lr=0.01)
    straight.fit()

    make_trainer(tmp_path / "resumed", epochs=1, optimizer=optimizer, lr=0.01).fit()
    checkpoint = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    assert (checkpoint.epoch, checkpoint.step) == (1, 0)
    resumed = make_trainer(tmp_path / "resumed", epochs=2, optimizer=optimizer, lr=0.01)
    resumed.restore(checkpoint)
    result = resumed.fit()

    assert result["epochs"] == 2
    assert_same_arrays(
        weights_of(tmp_path / "straight" / "weights.npz"), weights_of(tmp_path / "resumed" / "weights.npz")
    )
    straight_metrics = without_seconds(read_metrics(tmp_path / "straight"))
    assert straight_metrics == without_seconds(read_metrics(tmp_path / "resumed"))
    straight_state = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    resumed_state = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    assert_same_arrays(straight_state.optimizer, resumed_state.optimizer)
    assert straight_state.state["model_rng"] == resumed_state.state["model_rng"]


def test_ctrl_c_mid_epoch_saves_that_step_and_resumes_bit_identically(tmp_path, make_trainer):
    make_trainer(tmp_path / "straight", epochs=2).fit()

    run = tmp_path / "stopped"
    trainer = make_trainer(run, epochs=2)
    trainer.resume_command = "netlang train tiny.net --resume stopped --epochs 2"
    # Call 11 is step 3 of epoch 2 (8 steps per epoch): Ctrl-C arrives during it, training stops after it.
    Recording(trainer.model, on_call={11: lambda: os.kill(os.getpid(), signal.SIGINT)})
    with pytest.raises(TrainingInterrupted) as caught:
        trainer.fit()
    assert caught.value.exit_code == 130
    message = str(caught.value)
    assert "the state after step 3 of epoch 2" in message
    assert "resume with:\n  netlang train tiny.net --resume stopped --epochs 2" in message
    checkpoint = load_checkpoint(run / "checkpoint.npz")
    assert (checkpoint.epoch, checkpoint.step) == (1, 3)
    assert [record["epoch"] for record in read_metrics(run)] == [1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    resumed = make_trainer(run, epochs=2)
    resumed.restore(checkpoint)
    resumed.fit()
    assert_same_arrays(weights_of(tmp_path / "straight" / "weights.npz"), weights_of(run / "weights.npz"))
    assert without_seconds(read_metrics(tmp_path / "straight")) == without_seconds(read_metrics(run))


def test_keyboard_interrupt_inside_a_step_keeps_the_last_epoch(tmp_path, make_trainer):
    run = tmp_path / "run"
    trainer = make_trainer(run, epochs=3)
    trainer.resume_command = "netlang train tiny.net --resume run --epochs 3"

    def interrupt():
        raise KeyboardInterrupt

    Recording(trainer.model, on_call={12: interrupt})
    with pytest.raises(TrainingInterrupted) as caught:
        trainer.fit()
    assert "holds the state after epoch 1" in str(caught.value)
    assert "netlang train tiny.net --resume run --epochs 3" in str(caught.value)
    checkpoint = load_checkpoint(run / "checkpoint.npz")
    assert (checkpoint.epoch, checkpoint.step) == (1, 0)
    assert not [path for path in run.iterdir() if path.name.endswith(".tmp")]


def test_interrupt_before_any_epoch_keeps_the_initial_weights(tmp_path, make_trainer):
    run = tmp_path / "run"
    trainer = make_trainer(run, epochs=1)
    initial = trainer.model.state_dict()

    def interrupt():
        raise KeyboardInterrupt

    Recording(trainer.model, on_call={2: interrupt})
    with pytest.raises(TrainingInterrupted, match="the initial weights"):
        trainer.fit()
    checkpoint = load_checkpoint(run / "checkpoint.npz")
    assert (checkpoint.epoch, checkpoint.step) == (0, 0)
    assert_same_arrays(checkpoint.model, initial)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path, make_trainer):
    run = tmp_path / "run"
    trainer = make_trainer(run, epochs=3)
    recording = Recording(trainer.model)
    inner = recording.inner

    def poisoned(x, t):
        loss, grads, outputs = inner(x, t)
        return (float("nan") if len(recording.batches) == 10 else loss), grads, outputs

    recording.inner = poisoned
    trainer.progress.end_epoch = lambda record: None
    # snapshot the checkpoint once epoch 1 is saved, to compare after the failure
    snapshots = {}
    save_epoch = trainer._save_epoch

    def snapshot_after_save(improved):
        save_epoch(improved)
        snapshots["bytes"] = (run / "checkpoint.npz").read_bytes()

    trainer._save_epoch = snapshot_after_save
    with pytest.raises(TrainingError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "the training loss became nan in epoch 2, step 3 of 8" in message
    assert "still holds the state after epoch 1" in message
    assert (run / "checkpoint.npz").read_bytes() == snapshots["bytes"]
    assert [record["epoch"] for record in read_metrics(run)] == [1]


def test_early_stopping_reports_the_best_epoch(tmp_path, make_trainer, monkeypatch):
    import netlang.train.loop as loop

    val_losses = iter([1.0, 0.5, 0.6, 0.7, 0.4])
    real_evaluate = loop.evaluate

    def scripted(model, x, y, batch_size=1000):
        measured = real_evaluate(model, x, y, batch_size)
        if len(x) == 30:  # the validation set
            measured.loss = next(val_losses)
        return measured

    monkeypatch.setattr(loop, "evaluate", scripted)
    run = tmp_path / "run"
    trainer = make_trainer(run, epochs=10, patience=2)
    result = trainer.fit()
    assert result["epochs"] == 4
    assert result["best_epoch"] == 2
    assert result["best_val_loss"] == 0.5
    assert result["stopped_early"] is True
    assert [record["val_loss"] for record in read_metrics(run)] == [1.0, 0.5, 0.6, 0.7]
    assert (weights_of(run / "best.npz")["fc.W"] != weights_of(run / "weights.npz")["fc.W"]).any()


def test_step_schedule_lowers_the_logged_lr(tmp_path, make_trainer):
    run = tmp_path / "run"
    make_trainer(run, epochs=3, schedule="step", step_size=2, gamma=0.5, lr=0.2).fit()
    assert [record["lr"] for record in read_metrics(run)] == [0.2, 0.2, 0.1]


def test_no_validation_split_leaves_val_fields_empty(tmp_path):
    data = tiny_split()
    data.x_val, data.y_val = data.x_val[:0], data.y_val[:0]
    trainer = Trainer(TinyModel(4, 3, 0), TINY_IR, base_config(epochs=1), data, tmp_path / "run")
    result = trainer.fit()
    record = read_metrics(tmp_path / "run")[0]
    assert record["val_loss"] is None and record["val_acc"] is None
    assert result["best_epoch"] is None


def test_weight_decay_adds_l2_on_weights_only():
    params = {"fc.W": np.array([[1.0, -2.0]]), "fc.b": np.array([3.0])}
    grads = {"fc.W": np.array([[0.5, 0.5]]), "fc.b": np.array([1.0])}
    loss, decayed = add_weight_decay(1.0, grads, params, 0.1)
    assert loss == pytest.approx(1.0 + 0.5 * 0.1 * (1 + 4))
    np.testing.assert_allclose(decayed["fc.W"], [[0.6, 0.3]])
    np.testing.assert_array_equal(decayed["fc.b"], [1.0])
    np.testing.assert_array_equal(grads["fc.W"], [[0.5, 0.5]])  # the caller's arrays are untouched


def test_resume_refuses_a_different_network():
    changed = json.loads(json.dumps(TINY_IR))
    changed["layers"][0]["args"]["units"] = 5
    changed["layers"][0]["param_shapes"]["W"] = [4, 5]
    with pytest.raises(DataError, match="layer 'fc'"):
        check_same_network(TINY_IR, changed, "run/checkpoint.npz")
    check_same_network(TINY_IR, json.loads(json.dumps(TINY_IR)), "run/checkpoint.npz")
