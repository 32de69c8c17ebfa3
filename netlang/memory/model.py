"""SimModel: netlang/backend/model.py's Model without data, on the ops' LayerMemory mirrors; and the losses'.

It builds the model's plan with netlang/backend/plan.py's own passes, asked of the mirrors (can_absorb,
keeps_no_io), applies it as the model does, and runs forward, the loss and backward as Model._run and
Model._loss_and_gradients do, as generators that yield after each layer, so that a sharded step's shards can be
run in turn (lockstep).
"""

from __future__ import annotations

from math import prod
from typing import Any

from netlang.backend.plan import PLAN_PASSES, Plan, make_plan
from netlang.memory.arrays import SymArray, SymWorkspace, Tracker, allocate
from netlang.memory.layer import LayerMemory
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT

LABEL_BYTES = 8  # class labels are int64
INPUT_BYTES = 4  # the data sets' inputs are float32
# As netlang/backend/losses.py (which imports NumPy): the activation each loss applies itself, and the loss a
# network's last layer implies. tests/test_memory.py checks they agree.
FUSED_ACTIVATION = {"cross_entropy": "softmax", "bce": "sigmoid"}
DEFAULT_LOSS_BY_LAST_OP = {"softmax": "cross_entropy", "sigmoid": "bce"}
# The optimizers' state arrays per parameter, as netlang/train/optimizers.py keeps them (`slots`).
def resolve_loss(ir: dict[str, Any], loss: str = "auto") -> str:
    """The loss training uses: `loss`, or for "auto" the one the last layer implies (as backend.model)."""
    if loss and loss != "auto":
        return loss
    return DEFAULT_LOSS_BY_LAST_OP.get(ir["layers"][-1]["op"], "mse")


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
        outputs, dout = loss_arrays(self, out, t)
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


def loss_arrays(model: SimModel, out: SymArray, t: SymArray) -> tuple[SymArray, SymArray]:
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


def lockstep(generators: list, tracker: Tracker) -> list:
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
