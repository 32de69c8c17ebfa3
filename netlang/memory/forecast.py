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
evaluation after an epoch adds.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass
from math import prod
from typing import Any

from netlang.backend.plan import PLAN_PASSES, Plan, make_plan
from netlang.memory.arrays import ELIDE_BYTES, KINDS, StopAtEvent, SymArray, SymWorkspace, Tracker, allocate
from netlang.memory.layer import BOOL, LayerMemory
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

LABEL_BYTES = 8  # class labels are int64
INPUT_BYTES = 4  # the data sets' inputs are float32
# As netlang/backend/losses.py (which imports NumPy): the activation each loss applies itself, and the loss a
# network's last layer implies. tests/test_memory.py checks they agree.
FUSED_ACTIVATION = {"cross_entropy": "softmax", "bce": "sigmoid"}
DEFAULT_LOSS_BY_LAST_OP = {"softmax": "cross_entropy", "sigmoid": "bce"}
# The optimizers' state arrays per parameter, as netlang/train/optimizers.py keeps them (`slots`).
OPTIMIZER_SLOTS = {
    "sgd": (), "momentum": ("v",), "nesterov": ("v",), "adagrad": ("h",), "rmsprop": ("h",), "adam": ("m", "v"),
}


def resolve_loss(ir: dict[str, Any], loss: str = "auto") -> str:
    """The loss training uses: `loss`, or for "auto" the one the last layer implies (as backend.model)."""
    if loss and loss != "auto":
        return loss
    return DEFAULT_LOSS_BY_LAST_OP.get(ir["layers"][-1]["op"], "mse")


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
    """How many shards netlang/backend/parallel.py splits a training step of `batch` into, with `threads`."""
    from netlang.backend import parallel

    macs = ir.get("totals", {}).get("macs")
    if parallel.step_is_small(batch, macs):
        return 1
    threads = blas_threads() if threads is None else threads
    return max(1, min(threads, batch // parallel.MIN_SHARD, parallel.MAX_SHARDS))


class SimModel:
    """netlang.backend.model.Model without data: layers' mirrors, the plan applied to them, one workspace."""

    def __init__(self, ir: dict[str, Any], loss: str, tracker: Tracker, itemsize: int,
                 params: dict[str, dict[str, SymArray]] | None = None) -> None:
        self.ir, self.loss_name, self.tracker, self.itemsize = ir, loss, tracker, itemsize
        self.workspace = SymWorkspace(tracker)
        if params is None:  # the model's own tensors; shard copies share them
            params = {node["name"]: _tensors(node, tracker, itemsize) for node in ir["layers"]}
        self.layer_params = params
        self.layers = [
            _layer_memory(node, params[node["name"]], tracker, self.workspace, itemsize) for node in ir["layers"]
        ]
        self.copies: list[SimModel] = []
        fused = FUSED_ACTIVATION.get(loss)
        ends_in_fused = bool(self.layers) and self.layers[-1].node["op"] == fused
        body_length = len(self.layers) - 1 if ends_in_fused else len(self.layers)
        by_name = {layer.name: layer for layer in self.layers}
        self.plan: Plan = make_plan([layer.node for layer in self.layers], body_length, by_name, PLAN_PASSES)
        for step in self.plan.steps:
            layer = by_name[step.layer]
            layer.absorb(tuple(by_name[name] for name in step.absorbs))
            layer.output_slot, layer.input_grad_slot = step.output_slot, step.input_grad_slot
            layer.needs_input_grad = any(name != NETWORK_INPUT for name in step.inputs)
        self.pipeline = [by_name[step.layer] for step in self.plan.steps]
        last_reader = {name: index for index, step in enumerate(self.plan.steps) for name in step.inputs}
        self.last_reads: list[list[str]] = [[] for _ in self.plan.steps]
        for name, index in last_reader.items():
            self.last_reads[index].append(name)
        # The trainable parameters by "layer.name" key, in the model's order (the optimizer's).
        self.params = {
            f"{node['name']}.{param.name}": params[node["name"]][param.name]
            for node in ir["layers"] for param in OPS[node["op"]].params
        }


    def run(self, steps, x: SymArray, train: bool):
        """Model._run, yielding after each layer (sharded steps run their shards in lockstep)."""
        values = {NETWORK_INPUT: x}
        for step, layer, done in zip(steps, self.pipeline, self.last_reads, strict=False):
            if layer.merge:
                values[step.output] = layer.forward([values[name] for name in step.inputs], train)
            else:
                values[step.output] = layer.forward(values[step.inputs[0]], train)
            for name in done:
                del values[name]
            yield
        return values[steps[-1].output]

    def loss_and_gradients(self, x: SymArray, t: SymArray):
        """Model._loss_and_gradients as a generator (yielding after each layer) returning (grads, outputs)."""
        out = yield from self.run(self.plan.body, x, True)
        outputs, dout = _loss(self, out, t)
        del out
        body = self.plan.body
        pending = {body[-1].output: dout}
        input_grads = None
        for step, layer in zip(reversed(body), reversed(self.pipeline[: len(body)]), strict=True):
            input_grads = layer.backward(pending.pop(step.output))
            yield
            if input_grads is None:
                continue
            for name, grad in zip(step.inputs, input_grads if layer.merge else [input_grads], strict=True):
                if name == NETWORK_INPUT:
                    continue
                if name in pending:
                    pending[name] = allocate(self.tracker, (step.layer, "activations"), grad.shape, grad.itemsize)
                else:
                    pending[name] = grad
        del input_grads, dout, pending
        grads = {f"{lay.name}.{k}": lay.grads[k] for lay in self.layers for k in lay.grads}
        return grads, outputs

    def shard_copies(self, count: int) -> list[SimModel]:
        while len(self.copies) < count:
            self.copies.append(SimModel(self.ir, self.loss_name, self.tracker, self.itemsize, self.layer_params))
        return self.copies[:count]


def _tensors(node: dict[str, Any], tracker: Tracker, itemsize: int) -> dict[str, SymArray]:
    """A layer's parameters and buffers, as the model makes them (shapes from the IR)."""
    shapes = {**node.get("param_shapes", {}), **node.get("buffer_shapes", {})}
    return {name: allocate(tracker, (node["name"], "parameters"), tuple(shape), itemsize)
            for name, shape in shapes.items()}


def _layer_memory(node, params, tracker, workspace, itemsize) -> LayerMemory:
    op = OPS[node["op"]]
    if op.memory is None:
        raise ValueError(f"op {op.name!r} declares no memory rule (Op.memory)")
    layer = op.memory(node, params, tracker, workspace, itemsize)
    layer.keeps_no_io = op.layer.keeps_no_io
    return layer


def _loss(model: SimModel, out: SymArray, t: SymArray) -> tuple[SymArray, SymArray]:
    """The loss's arrays (netlang/backend/losses.py): (outputs, dout); its temporaries freed on return."""
    tracker, shape, itemsize = model.tracker, out.shape, out.itemsize
    tag = ("loss", "activations")
    values = prod(shape)
    if model.loss_name == "cross_entropy":
        shifted = allocate(tracker, tag, shape, itemsize)
        probs = allocate(tracker, tag, shape, itemsize)
        dlogits = allocate(tracker, tag, shape, itemsize)
        # np.arange(n) and the values it picks out of log_probs and dlogits, by class index
        tracker.spike(tag, shape[0] * (LABEL_BYTES + itemsize))
        del shifted
        return probs, dlogits
    if model.loss_name == "bce":
        tracker.spike(tag, 4 * values * itemsize)  # the per-element loss's terms
        probs = allocate(tracker, tag, shape, itemsize)
        tracker.spike(tag, 3 * values * itemsize)  # stable_sigmoid's temporaries
        return probs, allocate(tracker, tag, shape, itemsize)
    one_hot = allocate(tracker, tag, shape, itemsize) if prod(shape[1:]) > 1 else None
    diff = allocate(tracker, tag, shape, itemsize)
    tracker.spike(tag, values * itemsize)  # diff * diff
    dout = allocate(tracker, tag, shape, itemsize)
    del one_hot, diff
    return out, dout


def _lockstep(generators: list, tracker: Tracker) -> list:
    """Run generators in turn, one yield (one layer) each, until all have returned; their return values.

    Several generators are the shards of a step, which threads run at once: after each round, the temporaries
    each shard's layer made and freed within its call are counted as if they had all been alive together (the
    shards run the same layer on equal parts at about the same time), as a spike of the round's last layer.
    """
    results: list[Any] = [None] * len(generators)
    running = dict(enumerate(generators))
    while running:
        transient = 0
        for index in list(running):
            tracker.start_call()
            try:
                next(running[index])
            except StopIteration as done:
                results[index] = done.value
                del running[index]
            transient += tracker.call_peak - tracker.total
        if len(generators) > 1 and transient:
            tracker.spike(tracker.last_tag, transient)
    return results


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
        mean_hat = square_hat = None
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
                mean_hat = allocate(tracker, tag, param.shape, param.itemsize)
                square_hat = allocate(tracker, tag, param.shape, param.itemsize)
                tracker.spike(tag, 3 * size)  # lr * mean_hat, sqrt(square_hat), + eps
        del mean_hat, square_hat


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
            new_grads, new_outputs = _lockstep([model.loss_and_gradients(x, t)], tracker)[0]
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
    """evaluate() on one batch: model.loss(x, y, train=False) unsharded, then model.predict(x) (sharded if the
    batch is large), whose workspaces are released after. The batch is a slice of the data set: not counted."""
    tracker = model.tracker
    x = SymArray((batch,) + tuple(model.ir["input"]["shape"]), INPUT_BYTES, None)
    t = SymArray((batch,), LABEL_BYTES, None)
    out = _lockstep([model.run(model.plan.body, x, False)], tracker)[0]
    outputs, dout = _loss(model, out, t)
    del out, outputs, dout
    if shards > 1:
        bounds = [round(i * batch / shards) for i in range(shards + 1)]
        parts = [x.view((stop - start,) + x.shape[1:]) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
        copies = model.shard_copies(shards)
        results = _lockstep([copy.run(copy.plan.steps, part, False) for copy, part in zip(copies, parts, strict=True)],
                            tracker)
        chunk = allocate(tracker, ("loss", "activations"), (batch,) + results[0].shape[1:], results[0].itemsize)
        del results
    else:
        chunk = _lockstep([model.run(model.plan.steps, x, False)], tracker)[0]
    predicted = allocate(tracker, ("loss", "activations"), chunk.shape, chunk.itemsize)  # np.concatenate(chunks)
    del chunk
    for each in (model, *model.copies):
        each.workspace.release()
    tracker.spike(("loss", "activations"), batch * LABEL_BYTES)  # the predicted classes
    del predicted


def _sharded_step(model: SimModel, x: SymArray, t: SymArray, shards: int):
    """Model._sharded_loss_and_gradients: shards in lockstep, then the grads averaged into new arrays."""
    copies = model.shard_copies(shards)
    bounds = [round(i * x.shape[0] / shards) for i in range(shards + 1)]
    parts = [
        (x.view((stop - start,) + x.shape[1:]), t.view((stop - start,)))
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    results = _lockstep(
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
                      config: dict[str, Any] | None = None) -> dict[str, Any]:
    """forecast_step() for training `ir` as its train section (or the resolved `config`) says: its optimizer
    (unless `optimizer` is given), loss and weight decay, in float32."""
    if config is None:
        from netlang.language.trainfields import resolve_training

        config = resolve_training(ir)
    return forecast_step(
        ir, batch, optimizer or config["optimizer"], config.get("loss") or "auto",
        weight_decay=config.get("weight_decay", 0.0),
    )
