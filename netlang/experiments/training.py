"""Short training runs for experiments: the data a search or sweep shares, and one run of a variant.

A run goes through netlang's own Trainer (the same loop `netlang train` uses) into a temporary directory,
and keeps what an experiment compares: the per-epoch metrics and the training loss of every step.
The test split is handed to these runs only when a sweep is asked to report test accuracy; a search never
sees it, and nothing an experiment chooses is chosen on test data.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netlang.errors import TrainingError, UsageError
from netlang.train.loop import Split, Trainer, TrainingInterrupted
from netlang.train.progress import Silent

# Fields that choose the data split (and the shuffle): every variant of an experiment must share them,
# or their validation scores would not be comparable.
SHARED_FIELDS = ("data", "val_split", "seed")


# How the error of a run refused for memory starts (any other failed run diverged).
TOO_LARGE = "too large for memory: "


def failure_label(error: str) -> str:
    """A failed run in a word or two, for tables and pictures: "too large for memory" or "diverged"."""
    return TOO_LARGE.removesuffix(": ") if error.startswith(TOO_LARGE) else "diverged"


@dataclass
class RunOutcome:
    """What one short training run gives: per-epoch metrics, per-step training loss, time, or an error."""

    history: list[dict[str, Any]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def final(self) -> dict[str, Any]:
        """The last finished epoch's metrics ({} if none finished)."""
        return self.history[-1] if self.history else {}


class StepRecorder(Silent):
    """A silent progress reporter that keeps every step's own loss.

    The Trainer reports the running mean loss of the epoch after each step; the step's loss is recovered
    from two successive running sums.
    """

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []
        self._sum = 0.0
        self._seen = 0

    def start_epoch(self, epoch: int, epochs: int, steps: int, first_step: int = 0) -> None:
        self._sum, self._seen = 0.0, 0

    def step(self, done: int, samples: int, loss: float, acc: float) -> None:
        total = loss * samples
        self.losses.append((total - self._sum) / max(1, samples - self._seen))
        self._sum, self._seen = total, samples


def check_not_shared(names: list[str], option: str) -> None:
    """UsageError if an experiment tries to vary a field every variant must share."""
    for name in names:
        if name in SHARED_FIELDS:
            raise UsageError(
                f"{option}: '{name}' cannot vary between runs ({', '.join(SHARED_FIELDS)} choose the data split "
                f"every run is scored on); fix it with --set {name}=VALUE instead"
            )


def experiment_split(
    ir: dict[str, Any], config: dict[str, Any], train_subset: int | None, val_subset: int | None,
    with_test: bool = False,
) -> tuple[Split, Any]:
    """The config's train/validation split, cut to the first N (already shuffled) samples; no test data unless
    `with_test` (a sweep that reports test accuracy: reported only, never used to choose)."""
    from netlang.train.session import load_split

    if config["val_split"] == 0:
        raise UsageError(
            "experiments are scored on the validation split, but val_split is 0; "
            "hold some data out with --set val_split=0.2"
        )
    split, dataset = load_split(ir, {**config, "train_subset": 0})
    train_subset = train_subset or config.get("train_subset") or None  # the flag, else the spec's field
    x_train, y_train = split.x_train[:train_subset], split.y_train[:train_subset]
    x_val, y_val = split.x_val[:val_subset], split.y_val[:val_subset]
    test_size = None if with_test else 0
    x_test, y_test = split.x_test[:test_size], split.y_test[:test_size]
    return Split(x_train, y_train, x_val, y_val, x_test, y_test), dataset


def train_variant(ir: dict[str, Any], config: dict[str, Any], split: Split) -> RunOutcome:
    """Train a freshly built model of `ir` as `config` says on `split`; a diverging run is an outcome too, and so
    is a variant whose training step, or evaluation after an epoch, would need more memory than the machine
    has (refused before anything is allocated, as `netlang train` refuses it: one such variant of a search
    or sweep does not end the others)."""
    from netlang.memory.guard import check_evaluation_memory, check_step_memory
    from netlang.train.loop import EVAL_BATCH_SIZE
    from netlang.train.session import build_model, with_training

    trained_ir = with_training(ir, config)
    evaluated = min(EVAL_BATCH_SIZE, max(len(split.x_val), len(split.x_test)))
    try:
        check_step_memory(trained_ir, config)
        if evaluated:
            check_evaluation_memory(
                trained_ir, config, evaluated, trained=True, what="evaluating after an epoch of training"
            )
    except TrainingError as err:
        return RunOutcome(error=TOO_LARGE + err.message.split(";")[0])
    model = build_model(trained_ir, config)
    recorder = StepRecorder()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="netlang-run-") as run_dir:
        trainer = Trainer(model, trained_ir, config, split, Path(run_dir), recorder)
        try:
            trainer.fit()
            error = None
        except TrainingInterrupted:
            raise  # Ctrl-C: the run did not fail, it did not finish; it must not be recorded
        except TrainingError as err:
            error = err.message.split(";")[0]
    return RunOutcome(
        history=list(trainer.history),
        step_losses=[float(loss) for loss in recorder.losses],
        seconds=time.perf_counter() - started,
        error=error,
    )


def as_float(value: Any) -> float | None:
    """A JSON-safe float: None for missing or non-finite values."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
