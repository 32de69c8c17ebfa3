"""forecast_step(ir, batch, ...) -> the memory a training step of `ir` takes at that batch size, and where it goes.

Pure Python on the compiled IR (no NumPy): the model, its plan (netlang/backend/plan.py, run on the ops'
LayerMemory mirrors), the loss, the optimizer and the training loop's own arrays are replayed with arrays
that have sizes but no data (netlang/memory/arrays.py), as netlang/backend/model.py and
netlang/train/loop.py run them: two steps, the second measured after one of warm-up (work arrays and the
optimizer's state are made on first use); netlang/memory/measure.py measures the real loop with tracemalloc.

What is counted: every NumPy array training holds or makes during the step: parameters and buffers,
gradients (the loop still holds the previous step's while the next one runs), the optimizer's state and its
temporaries, the batch (its copy of inputs and labels), what each layer keeps for backward, the values
handed between layers, the layers' work arrays and the shared workspace, and in a sharded step each shard's
copy of the layers' arrays. Not counted: the data set itself, Python objects, BLAS's own buffers, and what
evaluation after an epoch adds (forecast_evaluation() forecasts that).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from netlang.memory.arrays import ELIDE_BYTES, KINDS, StopAtEvent, SymArray, Tracker, allocate
from netlang.memory.layer import BOOL
from netlang.memory.model import (
    INPUT_BYTES,
    LABEL_BYTES,
    SimModel,
    lockstep,
    loss_arrays,
    resolve_loss,
)

OPTIMIZER_SLOTS = {
    "sgd": (), "momentum": ("v",), "nesterov": ("v",), "adagrad": ("h",), "rmsprop": ("h",), "adam": ("m", "v"),
}


def blas_threads() -> int:
    """The BLAS threads a step may shard over: the loaded BLAS's setting once NumPy is loaded, else what
    OpenBLAS would choose (its environment variables, or the CPUs this process may run on)."""
    if "numpy" in sys.modules:
        from netlang.backend.parallel import blas_threads as loaded

        return loaded()
    for variable in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(variable, "").strip()
        if text.isdigit() and int(text) > 0:
            return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def shard_count(ir: dict[str, Any], batch: int, threads: int | None = None) -> int:
    """How many shards netlang/backend/parallel.py splits a step of `batch` examples of `ir` into: its own
    shard_count() once NumPy (and so BLAS) is loaded, else its rule with blas_threads()' estimate (or `threads`)."""
    from netlang.backend import parallel

    macs = ir.get("totals", {}).get("macs")
    if threads is None and "numpy" in sys.modules:
        return parallel.shard_count(batch, macs)
    if parallel.step_is_small(batch, macs):
        return 1
    threads = blas_threads() if threads is None else threads
    return max(1, min(threads, batch // parallel.MIN_SHARD, parallel.MAX_SHARDS))


class SimOptimizer:
    """netlang/train/optimizers.py's state and temporaries, per optimizer."""

    def __init__(self, name: str, tracker: Tracker) -> None:
        if name not in OPTIMIZER_SLOTS:
            raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZER_SLOTS)}")
        self.name, self.tracker = name, tracker
        self.state: dict[str, dict[str, SymArray]] = {slot: {} for slot in OPTIMIZER_SLOTS[name]}

    def _slot(self, slot: str, key: str, like: SymArray) -> SymArray:
        arrays = self.state[slot]
        if key not in arrays:
            arrays[key] = allocate(self.tracker, (key.rsplit(".", 1)[0], "optimizer state"), like.shape, like.itemsize)
        return arrays[key]

    def update(self, params: dict[str, SymArray]) -> None:
        name, tracker = self.name, self.tracker
        denominator = step = None
        for key, param in params.items():
            tag, size = (key.rsplit(".", 1)[0], "work buffers"), param.nbytes
            large = size >= ELIDE_BYTES
            if name == "sgd":
                tracker.spike(tag, size)
            elif name == "momentum":
                self._slot("v", key, param)
                tracker.spike(tag, size)
            elif name == "nesterov":
                self._slot("v", key, param)
                tracker.spike(tag, size * (2 if large else 3))
            elif name in ("adagrad", "rmsprop"):
                self._slot("h", key, param)
                tracker.spike(tag, size * (1 if large or name == "adagrad" else 2))
                tracker.spike(tag, 3 * size)  # lr * g, sqrt(h), + eps (a Python number: never in place)
            else:  # adam
                self._slot("m", key, param)
                tracker.spike(tag, size)
                self._slot("v", key, param)
                tracker.spike(tag, size * (1 if large else 2))
                denominator = allocate(tracker, tag, param.shape, param.itemsize)  # sqrt(v), then in place
                step = allocate(tracker, tag, param.shape, param.itemsize)  # m / denominator, then in place
        del denominator, step


@dataclass(frozen=True)
class Setup:
    """What to replay: `train_steps` training steps (0, or 2: one of warm-up and the measured one) at `batch`,
    then, if `evaluate` is set, one batch of that many examples of evaluate() (netlang/train/evaluate.py)."""

    batch: int
    optimizer: str = "sgd"
    loss: str = "cross_entropy"
    itemsize: int = 4
    shards: int = 1
    weight_decay: float = 0.0
    train_steps: int = 2
    evaluate: int | None = None
    evaluate_shards: int = 1


def _simulate(ir: dict[str, Any], setup: Setup, tracker: Tracker) -> int:
    """Replay `setup`; the tracker's peak is reset before the part measured (the last training step, or the
    evaluation). Returns the bytes held when that part starts."""
    model = SimModel(ir, setup.loss, tracker, setup.itemsize)
    sim_optimizer = SimOptimizer(setup.optimizer, tracker)
    input_shape = tuple(ir["input"]["shape"])
    batch, itemsize = setup.batch, setup.itemsize
    grads = outputs = None
    before = tracker.total
    for step in range(setup.train_steps):
        if step == setup.train_steps - 1 and setup.evaluate is None:
            tracker.reset_peak()
            before = tracker.total
        x = allocate(tracker, ("batch", "batch"), (batch,) + input_shape, INPUT_BYTES)
        if itemsize != INPUT_BYTES:
            x = allocate(tracker, ("batch", "batch"), (batch,) + input_shape, itemsize)
        t = allocate(tracker, ("batch", "batch"), (batch,), LABEL_BYTES)
        if setup.shards > 1:
            new_grads, new_outputs = _sharded_step(model, x, t, setup.shards)
        else:
            new_grads, new_outputs = lockstep([model.loss_and_gradients(x, t)], tracker)[0]
        del x, t
        # The loop holds the previous step's gradients and outputs until the new ones are returned.
        grads, outputs = new_grads, new_outputs
        del new_grads, new_outputs
        if setup.weight_decay:
            grads = dict(grads)
            for key, weights in model.params.items():
                if key.endswith(".W"):  # grads[key] + decay * weights, into the temporary if it is large
                    if weights.nbytes < ELIDE_BYTES:
                        tracker.spike((key.rsplit(".", 1)[0], "work buffers"), weights.nbytes)
                    grads[key] = allocate(tracker, (key.rsplit(".", 1)[0], "gradients"), weights.shape, itemsize)
        sim_optimizer.update(model.params)
        labels = allocate(tracker, ("batch", "batch"), (batch,), LABEL_BYTES)  # accuracy_count's y[batch]
        tracker.spike(("batch", "batch"), batch * (LABEL_BYTES + BOOL))  # the predicted classes, compared
        del labels
    if setup.evaluate is not None:
        del grads, outputs  # the epoch's loop has ended
        tracker.reset_peak()
        before = tracker.total
        _evaluate_batch(model, setup.evaluate, setup.evaluate_shards)
    return before


def _evaluate_batch(model: SimModel, batch: int, shards: int) -> None:
    """evaluate() on one batch: model.evaluate_batch(x, y), one forward up to the loss (sharded if the batch is
    large) whose workspaces are released after, then the loss on its outputs. The batch is a slice of the data
    set: not counted."""
    tracker = model.tracker
    x = SymArray((batch,) + tuple(model.ir["input"]["shape"]), INPUT_BYTES, None)
    t = SymArray((batch,), LABEL_BYTES, None)
    if shards > 1:
        bounds = [round(i * batch / shards) for i in range(shards + 1)]
        parts = [x.view((stop - start,) + x.shape[1:]) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
        copies = model.shard_copies(shards)
        results = lockstep([copy.run(copy.plan.body, part, False) for copy, part in zip(copies, parts, strict=True)],
                            tracker)
        logits = allocate(tracker, ("loss", "activations"), (batch,) + results[0].shape[1:], results[0].itemsize)
        del results
    else:
        logits = lockstep([model.run(model.plan.body, x, False)], tracker)[0]
    for each in (model, *model.copies):
        each.workspace.release()
    outputs, dout = loss_arrays(model, logits, t)
    del logits, dout
    tracker.spike(("loss", "activations"), batch * LABEL_BYTES)  # the predicted classes
    del outputs


def _sharded_step(model: SimModel, x: SymArray, t: SymArray, shards: int):
    """Model._sharded_loss_and_gradients: shards in lockstep, then the grads averaged into new arrays."""
    copies = model.shard_copies(shards)
    bounds = [round(i * x.shape[0] / shards) for i in range(shards + 1)]
    parts = [
        (x.view((stop - start,) + x.shape[1:]), t.view((stop - start,)))
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    results = lockstep(
        [copy.loss_and_gradients(px, pt) for copy, (px, pt) in zip(copies, parts, strict=True)], model.tracker
    )
    grads = {}
    for name, part in results[0][0].items():
        grads[name] = allocate(model.tracker, (name.rsplit(".", 1)[0], "gradients"), part.shape, part.itemsize)
        if len(results) > 1:
            model.tracker.spike((name.rsplit(".", 1)[0], "work buffers"), part.nbytes)
    outputs = allocate(model.tracker, ("loss", "activations"), (x.shape[0],) + results[0][1].shape[1:],
                       results[0][1].itemsize)
    del results
    return grads, outputs


def forecast_step(
    ir: dict[str, Any],
    batch: int,
    optimizer: str = "sgd",
    loss: str = "auto",
    itemsize: int = 4,
    shards: int | None = None,
    weight_decay: float = 0.0,
) -> dict[str, Any]:
    """The peak bytes of a training step of `ir` on `batch` examples, and what they are at that moment.

    Returns plain data: `total` (bytes), `shards`, `by_kind` (KINDS -> bytes), `layers` (one row per layer
    that holds memory then: name, bytes, and bytes by kind; plus "batch", "loss" rows), `dominant` (the row
    with the most), `persistent` (held between steps). `shards` None: as netlang/backend/parallel.py would
    split the step on this machine.
    """
    loss = resolve_loss(ir, loss)
    shards = shard_count(ir, batch) if shards is None else shards
    setup = Setup(batch, optimizer, loss, itemsize, shards, weight_decay)
    return {"batch": batch, "optimizer": optimizer, "loss": loss, "shards": shards, "itemsize": itemsize,
            **_forecast(ir, setup)}


def forecast_evaluation(
    ir: dict[str, Any], batch: int, eval_batch: int, optimizer: str = "sgd", loss: str = "auto",
    itemsize: int = 4, weight_decay: float = 0.0, trained: bool = True,
) -> dict[str, Any]:
    """forecast_step()'s figures for evaluating `eval_batch` examples at once (evaluate(), netlang/train/
    evaluate.py): after training steps at `batch` (`trained`: as `train` evaluates after each epoch, the
    training state still held), or on a freshly built model (`eval`, `predict`)."""
    loss = resolve_loss(ir, loss)
    shards = shard_count(ir, batch)
    setup = Setup(batch, optimizer, loss, itemsize, shards, weight_decay, train_steps=2 if trained else 0,
                  evaluate=eval_batch, evaluate_shards=shard_count(ir, eval_batch))
    return {"batch": eval_batch, "optimizer": optimizer, "loss": loss, "shards": setup.evaluate_shards,
            "itemsize": itemsize, **_forecast(ir, setup)}


def _forecast(ir: dict[str, Any], setup: Setup) -> dict[str, Any]:
    """Replay `setup` twice: once for the peak, once more up to the peak for what is live there."""
    tracker = Tracker()
    before = _simulate(ir, setup, tracker)
    peak, event = tracker.peak, tracker.peak_event
    at_peak = Tracker(stop_at=event)
    try:
        _simulate(ir, setup, at_peak)
    except StopAtEvent:
        pass
    live = at_peak.snapshot
    by_owner: dict[str, Counter[str]] = {}
    for (owner, kind), nbytes in live.items():
        by_owner.setdefault(owner, Counter())[kind] += nbytes
    order = {node["name"]: index for index, node in enumerate(ir["layers"])}
    rows = [
        {"name": owner, "bytes": sum(kinds.values()), "by_kind": {kind: kinds[kind] for kind in KINDS if kinds[kind]}}
        for owner, kinds in sorted(by_owner.items(), key=lambda item: order.get(item[0], len(order)))
    ]
    by_kind = {kind: sum(nbytes for (_, k), nbytes in live.items() if k == kind) for kind in KINDS}
    dominant = max(rows, key=lambda row: row["bytes"]) if rows else None
    return {
        "total": peak,
        "persistent": before,
        "by_kind": by_kind,
        "layers": rows,
        "dominant": dominant["name"] if dominant else None,
    }


def training_forecast(ir: dict[str, Any], batch: int, optimizer: str | None = None,
                      config: dict[str, Any] | None = None, itemsize: int = 4) -> dict[str, Any]:
    """forecast_step() for training `ir` as its train section (or the resolved `config`) says: its optimizer
    (unless `optimizer` is given), loss and weight decay, in floats of `itemsize` bytes (float32 by default)."""
    if config is None:
        from netlang.language.trainfields import resolve_training

        config = resolve_training(ir)
    return forecast_step(
        ir, batch, optimizer or config["optimizer"], config.get("loss") or "auto",
        itemsize=itemsize, weight_decay=config.get("weight_decay", 0.0),
    )
