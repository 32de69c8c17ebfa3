"""measure_step(ir, batch, optimizer) -> the measured peak of a real training step, to check the forecast by.

The training loop itself (netlang/train/loop.py) trains on random data of four batches, with tracemalloc
tracing from before the model is built: two steps of warm-up (work arrays and the optimizer's state are made
on first use), then the peak of the third step. NumPy reports its arrays to tracemalloc in a domain of their
own; the Python objects traced at the end of the step are taken off the peak, so that what is compared is
the arrays, as the forecast counts them. The data set is made before tracing starts and is not counted, nor
is the epoch's shuffled order of it (8 bytes a sample).
Imports NumPy: for tests and bench/memory_forecast.py, never for `summary`.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from netlang.backend import build
from netlang.train.loop import Split, Trainer
from netlang.train.progress import Silent

NUMPY_DOMAIN = 389047  # the tracemalloc domain NumPy reports its data allocations in
SHUFFLE_ORDER_BYTES = 8  # the epoch's shuffled order of the data set: an int64 per sample, the data set's part


class _PeakProbe(Silent):
    """Progress that resets tracemalloc's peak after step 2 and reads it after step 3."""

    def __init__(self) -> None:
        self.peak: int | None = None

    def step(self, step: int, seen: int, loss: float, accuracy: float) -> None:
        if step == 2:
            tracemalloc.reset_peak()
        elif step == 3:
            current, peak = tracemalloc.get_traced_memory()
            arrays = sum(trace.size for trace in tracemalloc.take_snapshot().traces if trace.domain == NUMPY_DOMAIN)
            self.peak = peak - (current - arrays)


class _NoInterrupt:
    requested = False


def measure_step(
    ir: dict[str, Any], batch: int, optimizer: str = "sgd", loss: str = "auto", weight_decay: float = 0.0,
    max_shards: int | None = None,
) -> int:
    """The peak bytes of NumPy arrays during the third step of training `ir` at `batch` (see the module doc)."""
    rng = np.random.default_rng(0)
    outputs = int(np.prod(ir["layers"][-1]["out_shape"]))
    x = rng.standard_normal((4 * batch, *ir["input"]["shape"])).astype(np.float32)
    y = rng.integers(0, max(outputs, 2), 4 * batch) if outputs > 1 else rng.integers(0, 2, 4 * batch)
    split = Split(x, y, x[:0], y[:0], x[:0], y[:0])
    config = {
        "optimizer": optimizer, "lr": 1e-9, "batch_size": batch, "epochs": 1, "patience": 0, "seed": 0,
        "weight_decay": weight_decay, "schedule": "none",
    }
    probe = _PeakProbe()
    with tempfile.TemporaryDirectory() as out:
        tracemalloc.start()
        try:
            model = build(ir, loss=loss)
            if max_shards is not None:
                model.max_shards = max_shards
            trainer = Trainer(model, ir, config, split, Path(out), probe)
            with np.errstate(all="ignore"):
                trainer._train_epoch(_NoInterrupt())
        finally:
            tracemalloc.stop()
    assert probe.peak is not None
    return probe.peak - SHUFFLE_ORDER_BYTES * len(x)


def measure_evaluation(
    ir: dict[str, Any], batch: int, eval_batch: int, optimizer: str = "sgd", trained: bool = True,
) -> int:
    """The peak bytes of NumPy arrays while evaluate() runs on `eval_batch` examples at once: after two training
    steps at `batch` (`trained`, as `train` evaluates after an epoch), or on a freshly built model."""
    from netlang.train.evaluate import evaluate

    rng = np.random.default_rng(0)
    outputs = int(np.prod(ir["layers"][-1]["out_shape"]))
    x = rng.standard_normal((2 * batch, *ir["input"]["shape"])).astype(np.float32)
    y = rng.integers(0, max(outputs, 2), 2 * batch)
    x_val = rng.standard_normal((eval_batch, *ir["input"]["shape"])).astype(np.float32)
    y_val = rng.integers(0, max(outputs, 2), eval_batch)
    split = Split(x, y, x[:0], y[:0], x[:0], y[:0])
    config = {
        "optimizer": optimizer, "lr": 1e-9, "batch_size": batch, "epochs": 1, "patience": 0, "seed": 0,
        "weight_decay": 0.0, "schedule": "none",
    }
    with tempfile.TemporaryDirectory() as out:
        tracemalloc.start()
        try:
            model = build(ir)
            if trained:
                trainer = Trainer(model, ir, config, split, Path(out), Silent())
                with np.errstate(all="ignore"):
                    trainer._train_epoch(_NoInterrupt())
            tracemalloc.reset_peak()
            evaluate(model, x_val, y_val, eval_batch)
            current, peak = tracemalloc.get_traced_memory()
            arrays = sum(trace.size for trace in tracemalloc.take_snapshot().traces if trace.domain == NUMPY_DOMAIN)
        finally:
            tracemalloc.stop()
    return peak - (current - arrays)
