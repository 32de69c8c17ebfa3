"""build(ir, loss=..., init=...) -> Model: the NumPy engine's model, with forward, fused loss, backward and
state handling. It implements the engine interface of netlang/engine.py."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np

from netlang.backend.base import Layer, Workspace, run_steps_together
from netlang.backend.checkpoint import read_checkpoint, write_checkpoint
from netlang.backend.losses import FUSED_ACTIVATION, LOSSES, default_loss
from netlang.backend.parallel import (
    MAX_SHARDS,
    ConcurrencyChooser,
    ShardSync,
    run_in_threads,
    shard_count,
    single_threaded_blas,
    timed,
)
from netlang.backend.plan import PLAN_PASSES, Plan, PlanPass, Step, make_plan
from netlang.engine import check_state
from netlang.errors import DataError, SchemaError
from netlang.initializers import initial_weight, resolve_schemes
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_loss(ir: dict[str, Any], loss: str = "auto") -> str:
    """The loss a model of `ir` trains with: `loss`, or for "auto" the one its last layer implies."""
    if loss == "auto":
        return default_loss(ir["layers"][-1]["op"])
    if loss not in LOSSES:
        raise SchemaError(f"unknown loss {loss!r}; valid: auto, {', '.join(LOSSES)}")
    return loss


class Model:
    """A built network. Its parameter arrays are the layers': writing model.params[k][...] changes it.

    `layers` are in IR order. `plan` (plan.py) says the order forward() runs them in (`pipeline`), the part
    of it a training step runs before the loss (`body`; the loss applies a final softmax/sigmoid itself),
    which layers a conv does the work of, and which arrays live in shared buffers.
    """

    xp = np  # the array module of this engine: optimizers compute with it

    def __init__(
        self,
        ir: dict[str, Any],
        layers: list[Layer],
        dtype: type,
        rng: np.random.Generator,
        loss: str,
        workspace: Workspace,
        passes: tuple[PlanPass, ...] = PLAN_PASSES,
    ):
        self.ir = ir
        self.layers = layers
        self.dtype = np.dtype(dtype)
        self.params = {f"{lay.name}.{k}": v for lay in layers for k, v in lay.params.items()}
        self.buffers = {f"{lay.name}.{k}": v for lay in layers for k, v in lay.buffers.items()}
        self.loss_name = loss
        self.rng = rng
        self.workspace = workspace
        self.max_shards = MAX_SHARDS  # loss_and_gradients splits a batch into at most this many parts
        self._copies: list[Model] = []  # the layer copies those parts run on, made when first needed
        # How many shards run at once, per (training or inference, shards): chosen from timed steps (parallel.py).
        self.choosers: dict[tuple[str, int], ConcurrencyChooser] = {}
        self._macs_per_sample = ir.get("totals", {}).get("macs")  # how much work a step is (parallel.py)
        # Where layers draw random numbers, the shards of a step need generators of their own.
        self._draws_random = any(layer.draws_random for layer in layers)
        self.replan(passes)

    def replan(self, passes: tuple[PlanPass, ...] = PLAN_PASSES) -> Plan:
        """Make the plan from `passes` (netlang/backend/plan.py) and apply it to the layers; () runs every
        layer on its own in IR order, every array fresh. Tests compare plans this way."""
        fused = FUSED_ACTIVATION.get(self.loss_name)
        # The loss applies a final softmax/sigmoid itself (stable, simpler gradient): the body stops before it.
        ends_in_fused = bool(self.layers) and self.layers[-1].node["op"] == fused
        body_length = len(self.layers) - 1 if ends_in_fused else len(self.layers)
        by_name = {layer.name: layer for layer in self.layers}
        self.plan = make_plan([layer.node for layer in self.layers], body_length, by_name, passes)
        for layer in self.layers:  # absorbed layers run no step of their own
            layer.absorb(())
            layer.output_slot = layer.input_grad_slot = None
        for step in self.plan.steps:
            layer = by_name[step.layer]
            layer.absorb(tuple(by_name[name] for name in step.absorbs))
            layer.output_slot, layer.input_grad_slot = step.output_slot, step.input_grad_slot
            layer.needs_input_grad = any(name != NETWORK_INPUT for name in step.inputs)
        self.pipeline = [by_name[step.layer] for step in self.plan.steps]  # the layer of each step
        self.body = self.pipeline[: self.plan.body_length]
        # After step i, the values no later step reads (the last step's own output is the result).
        last_reader = {name: index for index, step in enumerate(self.plan.steps) for name in step.inputs}
        self._last_reads = [[] for _ in self.plan.steps]
        for name, index in last_reader.items():
            self._last_reads[index].append(name)
        return self.plan

    @property
    def rng(self) -> np.random.Generator:
        """The generator dropout draws its masks from; assigning a new one reseeds every dropout layer."""
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._rng = generator
        for layer in self.layers:
            layer.rng = generator

    def _input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        expected = tuple(self.ir["input"]["shape"])
        if x.shape[1:] != expected:
            raise DataError(f"input batch of shape {x.shape} does not fit the network input {list(expected)}")
        return x

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """The last layer's outputs for a batch x (N, *input shape)."""
        return self._run(self.plan.steps, self._input(x), train)

    def _run(self, steps: tuple[Step, ...], x: np.ndarray, train: bool) -> np.ndarray:
        """The value the last of `steps` gives, running them in order from the network input x. A value is
        dropped once its last reader has run (in a chain: at once), as a plain loop over layers would.

        This is _run_lanes() for one lane, written out: at batch 1 the per-layer Python is what inference costs."""
        values = {NETWORK_INPUT: x}
        for step, layer, done in zip(steps, self.pipeline, self._last_reads, strict=False):
            if layer.merge:
                values[step.output] = layer.forward([values[name] for name in step.inputs], train)
            else:
                values[step.output] = layer.forward(values[step.inputs[0]], train)
            for name in done:
                del values[name]
        return values[steps[-1].output]

    def _run_lanes(self, lanes: list[Model], steps: tuple[Step, ...], xs: list[np.ndarray], train: bool) -> list:
        """_run() on each of `lanes` (this model, or the copies of its layers that shards run on) from its own
        input, in lockstep: each step runs on every lane before the next step runs on any."""
        values = [{NETWORK_INPUT: x} for x in xs]
        for index, (step, done) in enumerate(zip(steps, self._last_reads, strict=False)):
            layers = [lane.pipeline[index] for lane in lanes]
            if layers[0].merge:
                inputs = [[lane_values[name] for name in step.inputs] for lane_values in values]
            else:
                inputs = [lane_values[step.inputs[0]] for lane_values in values]
            for lane_values, output in zip(values, _together(layers, "forward", inputs, train), strict=True):
                lane_values[step.output] = output
                for name in done:
                    del lane_values[name]
        return [lane_values[steps[-1].output] for lane_values in values]

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Inference-mode outputs, computed batch_size examples at a time, each batch in shards as in
        loss_and_gradients, side by side or in turn as timed batches say (parallel.ConcurrencyChooser)."""
        x = np.asarray(x)
        chunks = [self._sharded_inference(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        for model in (self, *self._copies):  # do not hold inference-sized buffers for the rest of training
            model.workspace.release()
        if not chunks:
            return np.zeros((0,) + tuple(self.ir["layers"][-1]["out_shape"]), dtype=self.dtype)
        return np.concatenate(chunks)

    def _shards(self, batch: int) -> int:
        """How many shards a batch of `batch` examples runs in (parallel.shard_count, at most max_shards)."""
        return min(shard_count(batch, self._macs_per_sample), self.max_shards)

    def _chooser(self, kind: str, shards: int) -> ConcurrencyChooser:
        """The ConcurrencyChooser of `kind` ("train" or "infer") steps in `shards` shards."""
        if (kind, shards) not in self.choosers:
            self.choosers[kind, shards] = ConcurrencyChooser(shards)
        return self.choosers[kind, shards]

    def evaluate_batch(self, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Inference-mode (mean loss, outputs as predict gives them) of a batch, from one forward: up to the
        activation the loss absorbs, sharded as predict shards, then the loss, which applies it."""
        logits = self._sharded_inference(np.asarray(x), to_loss=True)
        for model in (self, *self._copies):  # as predict: no inference-sized buffers kept
            model.workspace.release()
        loss, outputs, _ = LOSSES[self.loss_name](logits, np.asarray(t))
        return loss, outputs

    def _sharded_inference(self, x: np.ndarray, to_loss: bool = False) -> np.ndarray:
        """Inference-mode outputs of a batch, in shards: of the last layer, or with `to_loss` of the plan's body
        (up to the activation the loss absorbs)."""
        def steps_of(model: Model) -> tuple[Step, ...]:
            return model.plan.body if to_loss else model.plan.steps

        shards = self._shards(len(x))
        if shards <= 1:
            with single_threaded_blas():
                return self._run(steps_of(self), self._input(x), False)
        x = self._input(x)

        def run(concurrency: int) -> np.ndarray:
            task = lambda copy, part: copy._run(steps_of(copy), x[part], False)  # noqa: E731
            outputs, _ = self._in_shards(shards, len(x), task, at_once=concurrency > 1)
            return np.concatenate(outputs)

        return timed(self._chooser("infer", shards), len(x), run)

    @staticmethod
    def _parts(shards: int, n: int) -> list[slice]:
        """range(n) in `shards` even slices."""
        bounds = np.linspace(0, n, shards + 1).round().astype(int).tolist()
        return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]

    def _in_shards(
        self, shards: int, n: int, task, at_once: bool = True, syncs: list[ShardSync] = ()
    ) -> tuple[list, list[int]]:
        """(task(copy, part) for each of `shards` even slices `part` of range(n), each with its own copy of the
        layers and BLAS single-threaded, each on its own thread if `at_once`, else one after another on this
        one; the slices' sizes). A task that fails aborts the `syncs`, so that the shards waiting there stop
        too (with syncs, the tasks must run at once)."""
        parts = self._parts(shards, n)

        def guarded(copy: Model, part: slice):
            try:
                return task(copy, part)
            except BaseException:
                for sync in syncs:
                    sync.abort()
                raise

        tasks = [partial(guarded, copy, part) for copy, part in zip(self._shard_copies(shards), parts, strict=True)]
        with single_threaded_blas():
            results = run_in_threads(tasks) if at_once else [task() for task in tasks]
        return results, [part.stop - part.start for part in parts]

    def _loss_forward(self, x: np.ndarray, t: np.ndarray, train: bool) -> tuple[float, np.ndarray, np.ndarray]:
        out = self._run(self.plan.body, self._input(x), train)
        return LOSSES[self.loss_name](out, t)

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """The mean loss over the batch."""
        return self._loss_forward(x, t, train)[0]

    def loss_and_gradients(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """One training-mode forward and backward -> (mean loss, grads keyed like params, outputs).

        A large enough batch is split into shards that run on threads of their own (see parallel.py), unless
        `max_shards` is 1; BLAS runs on one thread. Batchnorm layers combine their statistics across the shards
        (ShardSync). How many shards run at once is chosen from timed steps, and changes no result.
        """
        shards = self._shards(len(x))
        if shards > 1:
            return timed(
                self._chooser("train", shards), len(x),
                lambda concurrency: self._sharded_loss_and_gradients(x, t, shards, concurrency),
            )
        with single_threaded_blas():
            return self._loss_and_gradients(x, t)

    def _sharded_loss_and_gradients(
        self, x: np.ndarray, t: np.ndarray, shards: int, concurrency: int
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """loss_and_gradients() with the batch in `shards` parts, each run by a copy of the layers: on threads
        of their own, or with `concurrency` 1 in lockstep on this one (_run_lanes), which computes the same
        bits. Every loss is a mean over the batch, so the parts' losses and gradients are averaged, weighted
        by their sizes. Dropout masks come from generators seeded from this model's `rng`, one per part."""
        x, t = self._input(x), np.asarray(t)
        copies = self._shard_copies(shards)
        if self._draws_random:
            for copy, seed in zip(copies, self.rng.integers(0, 2**63 - 1, size=shards), strict=True):
                copy.rng = np.random.default_rng(seed)
        statistics_layers = [position for position, layer in enumerate(self.layers) if layer.batch_statistics]
        syncs = [ShardSync(shards) for _ in statistics_layers] if concurrency > 1 else []
        for index, copy in enumerate(copies):  # which shard each copy is, and how it meets the others
            for number, position in enumerate(statistics_layers):
                copy.layers[position].sync, copy.layers[position].shard = syncs[number] if syncs else None, index
        try:
            if concurrency > 1:
                task = lambda copy, part: copy._loss_and_gradients(x[part], t[part])  # noqa: E731
                results, sizes = self._in_shards(shards, len(x), task, syncs=syncs)
            else:
                parts = self._parts(shards, len(x))
                with single_threaded_blas():
                    results = self._lanes_loss_and_gradients(copies, [x[p] for p in parts], [t[p] for p in parts])
                sizes = [part.stop - part.start for part in parts]
        finally:
            for copy in copies:
                for position in statistics_layers:
                    copy.layers[position].sync, copy.layers[position].shard = None, 0
        weights = [size / len(x) for size in sizes]  # Python floats keep float32 products float32
        loss = sum(weight * part_loss for weight, (part_loss, _, _) in zip(weights, results, strict=True))
        grads = {}
        for name in results[0][1]:
            grads[name] = weights[0] * results[0][1][name]
            for weight, (_, part_grads, _) in zip(weights[1:], results[1:], strict=True):
                grads[name] += weight * part_grads[name]
        return float(loss), grads, np.concatenate([outputs for _, _, outputs in results])

    def _shard_copies(self, count: int) -> list[Model]:
        """`count` models whose layers share this model's parameter and buffer arrays but nothing else."""
        while len(self._copies) < count:
            workspace = Workspace()
            layers = [type(layer)(layer.node, layer.params, layer.buffers, workspace) for layer in self.layers]
            copy = Model(self.ir, layers, self.dtype, np.random.default_rng(0), self.loss_name, workspace)
            self._copies.append(copy)
        return self._copies[:count]

    def _loss_and_gradients(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        return self._lanes_loss_and_gradients([self], [x], [t])[0]

    def _lanes_loss_and_gradients(self, lanes: list[Model], xs: list, ts: list) -> list:
        """(loss, grads, outputs) of a training step of each of `lanes` on its own batch, in lockstep (_run_lanes)."""
        body = self.plan.body
        inputs = [lane._input(x) for lane, x in zip(lanes, xs, strict=True)]
        outputs = [self._run(body, inputs[0], True)] if lanes == [self] else self._run_lanes(lanes, body, inputs, True)
        results = [LOSSES[self.loss_name](out, t) for out, t in zip(outputs, ts, strict=True)]
        # The gradient of each value, added up over its readers (micrograd's `grad +=`), in reverse order.
        pendings = [{body[-1].output: dout} for _, _, dout in results]
        for index in range(len(body) - 1, -1, -1):
            step, layers = body[index], [lane.body[index] for lane in lanes]
            douts = [pending.pop(step.output) for pending in pendings]
            all_input_grads = _together(layers, "backward", douts)
            del douts  # a layer's output gradient is freed once its backward has run, as in a plain loop
            for pending, input_grads in zip(pendings, all_input_grads, strict=True):
                if input_grads is None:
                    continue
                for name, grad in zip(step.inputs, input_grads if layers[0].merge else [input_grads], strict=True):
                    if name == NETWORK_INPUT:
                        continue
                    pending[name] = grad if name not in pending else pending[name] + grad
        return [
            (loss, {f"{lay.name}.{k}": lay.grads[k] for lay in lane.layers for k in lay.params}, out)
            for lane, (loss, out, _) in zip(lanes, results, strict=True)
        ]

    def gradients(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """d(mean loss)/d(param) for every parameter, same keys as params."""
        return self.loss_and_gradients(x, t)[1]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by name (the live arrays, not copies)."""
        return {**self.params, **self.buffers}

    def load_state_dict(self, state: dict[str, np.ndarray], origin: str = "state dict") -> None:
        """Copy tensors into the model; DataError naming the tensor if a name or shape does not match."""
        own = self.state_dict()
        check_state({name: target.shape for name, target in own.items()}, state, origin)
        for name, target in own.items():
            target[...] = state[name]

    def save(self, path: str | os.PathLike) -> None:
        """Write params, buffers and the IR to an .npz checkpoint, atomically."""
        write_checkpoint(path, self.state_dict(), self.ir)

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by save(); DataError if it is unreadable or its tensors do not match."""
        tensors, _ = read_checkpoint(path)
        self.load_state_dict(tensors, origin=str(path))


def _together(layers: list[Layer], method: str, inputs: list, *args: Any) -> list:
    """layer.method(input, *args) for each of one layer's copies (one per lane) and its input. Copies of a
    batch-statistics layer on several lanes run their steps together, sharing totals (base.run_steps_together)."""
    if len(layers) > 1 and layers[0].batch_statistics:
        return run_steps_together(
            [getattr(layer, method + "_steps")(value, *args) for layer, value in zip(layers, inputs, strict=True)]
        )
    return [getattr(layer, method)(value, *args) for layer, value in zip(layers, inputs, strict=True)]


def _make_layer(
    node: dict[str, Any], scheme: str | None, rng: np.random.Generator, dtype: type, workspace: Workspace
) -> Layer:
    """The NumPy layer of an IR node, its tensors made as its op declares (shapes from the IR)."""
    op = OPS.get(node["op"])
    if op is None:
        raise SchemaError(f"layer '{node['name']}': the NumPy backend has no op {node['op']!r}").at(node.get("pos"))
    params = {}
    for param in op.params:
        shape = tuple(node["param_shapes"][param.name])
        if param.fill is None:
            fan_in = param.fan_in(node["args"], node["in_shape"])
            params[param.name] = initial_weight(scheme, shape, fan_in, rng, dtype)
        else:
            params[param.name] = np.full(shape, param.fill, dtype=dtype)
    buffers = {
        buffer.name: np.full(tuple(node["buffer_shapes"][buffer.name]), buffer.fill, dtype=dtype)
        for buffer in op.buffers
    }
    return op.layer(node, params, buffers, workspace)


def build(
    ir: dict[str, Any],
    *,
    loss: str = "auto",
    init: str = "auto",
    dtype: str = "float32",
    seed: int | None = 0,
    passes: tuple[PlanPass, ...] = PLAN_PASSES,
) -> Model:
    """Turn a validated, shape-inferred IR dict into a Model.

    The training choices are passed in, never read from the IR's train section: `loss` ("auto": from the
    last layer), `init` (the network's init scheme; a layer's own `init` arg wins). SchemaError for a bad
    dtype, init or loss.
    """
    if dtype not in DTYPES:
        raise SchemaError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    for node in ir.get("layers", []):
        missing = [field for field in ("inputs", "out_shape", "param_shapes") if field not in node]
        if "in_shape" not in node and "in_shapes" not in node:
            missing.insert(0, "in_shape")
        if missing:
            raise SchemaError(
                f"layer '{node.get('name')}' has no {', '.join(missing)}: build() needs shape-inferred IR "
                "(netlang.language.compiler.compile_ir gives it)"
            ).at(node.get("pos"), ir.get("source"))
    schemes = resolve_schemes(ir, init)
    loss = resolve_loss(ir, loss)
    weight_seed, dropout_seed = np.random.SeedSequence(seed).spawn(2)
    weight_rng = np.random.default_rng(weight_seed)
    workspace = Workspace()
    layers = [
        _make_layer(node, schemes.get(node["name"]), weight_rng, DTYPES[dtype], workspace) for node in ir["layers"]
    ]
    return Model(ir, layers, DTYPES[dtype], np.random.default_rng(dropout_seed), loss, workspace, passes)
