"""The training loop: epochs of shuffled mini-batches, validation, checkpoints, resume, interrupts.

One Trainer trains one model into one run directory. Everything random is seeded, and everything a resumed
run needs is in checkpoint.npz, so the same seed gives bit-identical weights whether a run went straight
through or was stopped and resumed (at an epoch boundary or, after a Ctrl-C, between two steps).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netlang.engine import Model
from netlang.errors import TrainingError
from netlang.train.checkpoint import Checkpoint, save_checkpoint
from netlang.train.evaluate import accuracy_count, evaluate
from netlang.train.files import read_history, write_json, write_jsonl
from netlang.train.optimizers import base_lr, make_optimizer
from netlang.train.progress import Progress, Silent
from netlang.train.schedules import EarlyStopping, epoch_lr

# The shuffling generator is seeded with (seed, SHUFFLE_STREAM) so it never shares a stream with the
# generators the backend seeds with `seed` alone (weight init, dropout).
SHUFFLE_STREAM = 1
EVAL_BATCH_SIZE = 1000


class TrainingInterrupted(TrainingError):
    """Ctrl-C stopped training; the message says what was saved and how to resume. Exits with 130."""

    exit_code = 130


@dataclass
class Split:
    """The arrays one run trains, validates and tests on (validation may be empty)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class EpochSums:
    """Running totals of the epoch in progress, so a run stopped mid-epoch can finish its averages."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0


@dataclass
class Position:
    """Where training stands: completed epochs, completed steps of the next one, and its shuffle seed."""

    epoch: int = 0
    step: int = 0
    shuffle_state: dict[str, Any] = field(default_factory=dict)  # shuffler state before this epoch's draw
    sums: EpochSums = field(default_factory=EpochSums)
    seconds: float = 0.0  # training seconds over all finished epochs


class Trainer:
    """Trains `model` on `data` as `config` says, writing the run directory `out_dir` after every epoch."""

    def __init__(
        self,
        model: Model,
        ir: dict[str, Any],
        config: dict[str, Any],
        data: Split,
        out_dir: Path,
        progress: Progress | None = None,
        resume_command: str = "",
    ) -> None:
        self.model = model
        self.ir = ir
        self.config = config
        self.data = data
        self.out_dir = Path(out_dir)
        self.progress = progress if progress is not None else Silent()
        self.resume_command = resume_command
        self.optimizer = make_optimizer(config, model.xp)
        self.base_lr = base_lr(config)
        self.early = EarlyStopping(config["patience"])
        # The lr schedule spans the epochs the run started with, and keeps that span on resume (as Keras'
        # CosineDecay and a restored PyTorch scheduler do): more epochs continue at the schedule's end.
        self.schedule_epochs = config["epochs"]
        self.shuffler = np.random.default_rng([config["seed"], SHUFFLE_STREAM])
        self.position = Position(shuffle_state=self.shuffler.bit_generator.state)
        self.history: list[dict[str, Any]] = []
        self.saved: tuple[int, int] | None = None  # (epoch, step) of the checkpoint on disk
        # In a distributed run every process trains, one writes the run directory, and all stop together:
        # agree_to_stop(this process's wish) is True when any process was asked to stop.
        self.writes_files = True
        # What trained the run, for result.json: the engine, and where it ran (the train command fills it in).
        self.engine: dict[str, Any] = {"name": "numpy", "dtype": str(np.dtype(model.dtype))}
        self.agree_to_stop: Callable[[bool], bool] = bool

    # -- checkpoints ------------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """The whole state of the run as it stands between two steps."""
        position = self.position
        state = {
            "config": self.config,
            "shuffle_rng": position.shuffle_state,
            "model_rng": self.model.rng.bit_generator.state,
            "early_stopping": self.early.state_dict(),
            "epoch_sums": vars(position.sums),
            "seconds": position.seconds,
            "schedule_epochs": self.schedule_epochs,
        }
        return Checkpoint(
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            epoch=position.epoch,
            step=position.step,
            state=state,
            ir=self.ir,
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from `checkpoint` (the caller checked its network): weights, optimizer, RNGs, sums."""
        state = checkpoint.state
        self.model.load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self.model.rng.bit_generator.state = state["model_rng"]
        self.early.load_state_dict(state["early_stopping"])
        self.position = Position(
            epoch=checkpoint.epoch,
            step=checkpoint.step,
            shuffle_state=state["shuffle_rng"],
            sums=EpochSums(**state["epoch_sums"]),
            seconds=float(state["seconds"]),
        )
        self.schedule_epochs = int(state.get("schedule_epochs", state["config"]["epochs"]))
        self.history = read_history(self.out_dir / "metrics.jsonl", checkpoint.epoch)
        self.saved = (checkpoint.epoch, checkpoint.step)

    def _save_checkpoint(self) -> None:
        if self.writes_files:
            save_checkpoint(self.out_dir / "checkpoint.npz", self.checkpoint())
        self.saved = (self.position.epoch, self.position.step)

    # -- the loop ---------------------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train up to config["epochs"] epochs (or an early stop), test, and return result.json's contents."""
        if self.writes_files:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.out_dir / "model.ir.json", self.ir)
        if self.saved is None:
            self._save_checkpoint()
        epochs = self.config["epochs"]
        # A diverging run ends with a clear TrainingError from the loss check below, not NumPy's warnings.
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        with _deferred_interrupt(announce=self.writes_files) as interrupt, quiet:
            try:
                while self.position.epoch < epochs and not self.early.should_stop:
                    self._train_epoch(interrupt)
                    if self.agree_to_stop(interrupt.requested) and self.position.epoch < epochs:
                        raise self._interrupted()
            except KeyboardInterrupt:
                raise self._interrupted() from None
        return self._finish()

    def _train_epoch(self, interrupt: _Interrupt) -> None:
        """Train one epoch (or the rest of one), validate, and save the run directory."""
        x, y = self.data.x_train, self.data.y_train
        batch_size = self.config["batch_size"]
        steps = math.ceil(len(x) / batch_size)
        position = self.position
        epoch = position.epoch + 1
        lr = epoch_lr({**self.config, "epochs": self.schedule_epochs}, self.base_lr, position.epoch)
        self.optimizer.lr = lr

        self.shuffler.bit_generator.state = position.shuffle_state
        order = self.shuffler.permutation(len(x))
        sums = position.sums
        started = time.perf_counter()
        seconds_before = sums.seconds
        self.progress.start_epoch(epoch, self.config["epochs"], steps, first_step=position.step)
        for step in range(position.step, steps):
            batch = order[step * batch_size:(step + 1) * batch_size]
            loss, grads, outputs = self.model.loss_and_gradients(x[batch], y[batch])
            loss, grads = add_weight_decay(loss, grads, self.model.params, self.config["weight_decay"])
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the training loss became {loss} in epoch {epoch}, step {step + 1} of {steps} "
                    f"(lr {lr:g}); stopped without saving, so {self.out_dir / 'checkpoint.npz'} still holds "
                    f"{self._describe_saved()}. Try a smaller learning rate (--lr)"
                )
            self.optimizer.update(self.model.params, grads)
            sums.loss += loss * len(batch)
            sums.correct += accuracy_count(outputs, y[batch])
            sums.seen += len(batch)
            position.step = step + 1
            sums.seconds = seconds_before + time.perf_counter() - started
            self.progress.step(position.step, sums.seen, sums.loss / sums.seen, sums.correct / sums.seen)
            if self.agree_to_stop(interrupt.requested) and position.step < steps:
                self._save_checkpoint()
                raise self._interrupted()

        record = {
            "epoch": epoch,
            "train_loss": sums.loss / sums.seen,
            "train_acc": sums.correct / sums.seen,
            "val_loss": None,
            "val_acc": None,
            "lr": lr,
            "seconds": 0.0,
        }
        improved = False
        if len(self.data.x_val):
            val = evaluate(self.model, self.data.x_val, self.data.y_val, EVAL_BATCH_SIZE)
            if not math.isfinite(val.loss):
                raise TrainingError(
                    f"the validation loss became {val.loss} after epoch {epoch}; stopped without saving, so "
                    f"{self.out_dir / 'checkpoint.npz'} still holds {self._describe_saved()}. "
                    "Try a smaller learning rate (--lr)"
                )
            record["val_loss"], record["val_acc"] = val.loss, val.accuracy
            improved = self.early.observe(epoch, val.loss)
        record.update(measure_extra(self.model, self.data, self.config.get("measure", "val")))
        record["seconds"] = seconds_before + time.perf_counter() - started

        self.position = Position(
            epoch=epoch,
            step=0,
            shuffle_state=self.shuffler.bit_generator.state,
            seconds=position.seconds + record["seconds"],
        )
        self.history.append(record)
        self._save_epoch(improved)
        self.progress.end_epoch(record)
        if self.early.should_stop:
            self.progress.message(
                f"early stop: no better validation loss for {self.early.patience} epochs; "
                f"best was epoch {self.early.best_epoch} (weights in {self.out_dir / 'best.npz'})"
            )

    def _save_epoch(self, improved: bool) -> None:
        """Write the run directory for a finished epoch; checkpoint.npz last, as the commit point."""
        if not self.writes_files:
            return
        self.model.save(self.out_dir / "weights.npz")
        if improved:
            self.model.save(self.out_dir / "best.npz")
        write_jsonl(self.out_dir / "metrics.jsonl", self.history)
        write_json(self.out_dir / "result.json", self._result(test=None))
        self._save_checkpoint()

    def _finish(self) -> dict[str, Any]:
        """Test the final weights and write the finished result.json."""
        test = evaluate(self.model, self.data.x_test, self.data.y_test, EVAL_BATCH_SIZE)
        result = self._result(test=test)
        if self.writes_files:
            write_json(self.out_dir / "result.json", result)
        return result

    def _result(self, test: Any) -> dict[str, Any]:
        return {
            "finished": test is not None,
            "test_acc": None if test is None else test.accuracy,
            "test_loss": None if test is None else test.loss,
            "epochs": self.position.epoch,
            "seconds": self.position.seconds,
            "best_epoch": self.early.best_epoch or None,
            "best_val_loss": self.early.best_loss if self.early.best_epoch else None,
            "stopped_early": self.early.should_stop,
            "source": self.ir.get("source"),
            "config": self.config,
            "engine": self.engine,
        }

    def _describe_saved(self) -> str:
        return _describe(*self.saved) if self.saved else "nothing"

    def write_failed(self, err: OSError) -> TrainingError:
        """The error for a write fit() could not make (a full disk): what the checkpoint holds, how to resume.

        Every file is written atomically, so the run directory keeps its last complete checkpoint.
        """
        where = err.filename or self.out_dir
        message = (
            f"cannot write {where}: {err.strerror or err}; {self.out_dir / 'checkpoint.npz'} holds "
            f"{self._describe_saved()}"
        )
        if self.resume_command and self.saved:
            message += f"\nonce there is room, resume with:\n  {self.resume_command}"
        return TrainingError(message)

    def _interrupted(self) -> TrainingInterrupted:
        message = f"interrupted; {self.out_dir / 'checkpoint.npz'} holds {self._describe_saved()}"
        if self.resume_command:
            message += f"\nresume with:\n  {self.resume_command}"
        return TrainingInterrupted(message)


def measure_extra(model: Model, data: Split, measure: str) -> dict[str, float | None]:
    """The metrics `measure` asks for besides validation, in inference mode: train_eval_loss/acc (a pass over
    the training split, as the seeds measure training accuracy) and test_loss/acc (reported, never used to
    choose anything); non-finite values become None."""
    splits = []
    if "train" in measure.split("+"):
        splits.append(("train_eval", data.x_train, data.y_train))
    if "test" in measure.split("+") and len(data.x_test):
        splits.append(("test", data.x_test, data.y_test))
    metrics: dict[str, float | None] = {}
    for name, x, y in splits:
        result = evaluate(model, x, y, EVAL_BATCH_SIZE)
        for key, value in (("loss", result.loss), ("acc", result.accuracy)):
            metrics[f"{name}_{key}"] = value if math.isfinite(value) else None
    return metrics


def add_weight_decay(
    loss: float, grads: dict[str, np.ndarray], params: dict[str, np.ndarray], decay: float
) -> tuple[float, dict[str, np.ndarray]]:
    """L2 on weights only (keys ending in ".W"): loss + decay/2 * sum(W^2), grad + decay * W (new arrays)."""
    if decay == 0.0:
        return float(loss), grads
    penalty = 0.0
    decayed = dict(grads)
    for key, weights in params.items():
        if key.endswith(".W"):
            flat = weights.ravel()  # a view: the squared norm without a temporary array
            penalty += 0.5 * decay * float(flat @ flat)  # @: NumPy's dot, or another engine's
            decayed[key] = grads[key] + decay * weights
    return float(loss) + penalty, decayed


def _describe(epoch: int, step: int) -> str:
    if step:
        return f"the state after step {step} of epoch {epoch + 1}"
    if epoch == 0:
        return "the initial weights (no epoch finished)"
    return f"the state after epoch {epoch}"


class _Interrupt:
    requested = False


@contextmanager
def _deferred_interrupt(announce: bool = True) -> Iterator[_Interrupt]:
    """While active, a first Ctrl-C only asks the loop to stop after the current step (saying so if `announce`);
    a second one stops now.

    Only the main thread can take signals; elsewhere Ctrl-C keeps raising KeyboardInterrupt at once.
    """
    interrupt = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if interrupt.requested:
            raise KeyboardInterrupt
        interrupt.requested = True
        if announce:
            print("\nstopping after this step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
