"""The plan a model runs its layers by: in which order, which layers another does the work of, and where each
array handed from layer to layer lives. The model builds it once from PLAN_PASSES and applies it to its layers.

    IR order --swap_relu_before_max_pool--> --fuse_into_layers--> --plan_buffers--> Plan

A Plan is plain data (layer names and slot names). Each pass takes a Plan and the model's layers by name,
which it only asks (can_absorb, keeps_no_io), and returns a new Plan. A step reads values by name: "input" (the
network's input) or the output of an earlier step, named after the last layer whose work the step does.

Who owns the arrays that forward and backward return (the rules plan_buffers follows):
- A value is read by the steps that name it among their inputs, and, for the last step of the network and
  the last step before the loss, by the caller or the loss: those two are always fresh arrays.
- A value lives in a handed-on slot of the workspace only if its producer and every reader keep no reference
  to it (Layer.keeps_no_io). It stays there, untouched, from the step that writes it until the last step
  that reads it: no other value is given that slot in between, so a value two branches read survives until
  both have, and no step writes into the slot of a value it reads.
- Backward runs the steps in reverse. The input gradient a step returns is read when the step that produced
  that input runs backward (gradients of a value read by several steps are added up first, into a fresh
  array). A step that does not keep_no_io may return a view of the gradient it was handed (flatten, add):
  then that gradient must live until the view is read, and the plan keeps it so. Forward's handed-on arrays
  are dead by then (their readers kept nothing), so backward reuses the slots.
- Each layer's scratch arrays are its own; the workspace's temporary slots (base.Slot) live within one call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from netlang.backend.base import Layer, Slot


@dataclass(frozen=True)
class Step:
    """One layer's turn: `layer` runs on the values named `inputs`, doing the work of the `absorbs` layers
    after it too. What it returns lives in the workspace slots `output_slot` (forward, in training) and
    `input_grad_slot` (backward), or is fresh where they are None."""

    layer: str
    inputs: tuple[str, ...]
    absorbs: tuple[str, ...] = ()
    output_slot: str | None = None
    input_grad_slot: str | None = None

    @property
    def output(self) -> str:
        """The name of the value this step gives: its last layer's."""
        return self.absorbs[-1] if self.absorbs else self.layer


@dataclass(frozen=True)
class Plan:
    """The steps in run order. A training step runs the first `body_length` of them and then the loss; the
    rest (a final softmax or sigmoid that the loss applies itself) run only in forward()."""

    steps: tuple[Step, ...]
    body_length: int

    @property
    def body(self) -> tuple[Step, ...]:
        return self.steps[: self.body_length]


Layers = Mapping[str, Layer]
PlanPass = Callable[[Plan, Layers], Plan]


def initial_plan(nodes: list[dict[str, Any]], body_length: int) -> Plan:
    """Every IR layer its own step, in IR (topological) order."""
    return Plan(tuple(Step(node["name"], tuple(node["inputs"])) for node in nodes), body_length)


def _reader_counts(steps: tuple[Step, ...] | list[Step]) -> Counter[str]:
    return Counter(name for step in steps for name in step.inputs)


def _renamed(step: Step, old: str, new: str) -> Step:
    return replace(step, inputs=tuple(new if name == old else name for name in step.inputs))


def swap_relu_before_max_pool(plan: Plan, layers: Layers) -> Plan:
    """A relu whose only reader is a max pool right after it runs after the pool instead.

    relu(maxpool(x)) == maxpool(relu(x)): relu is monotone, and every window holds at least one real value
    (padding is -inf). Pooling first lets relu touch KH*KW times fewer values, forward and backward; the
    gradient is the same (a window whose maximum is <= 0 gets none either way). The pool's readers then read
    the relu.
    """
    steps = list(plan.steps)
    readers = _reader_counts(steps)
    i = 0
    while i < len(steps) - 1:
        relu, pool = steps[i], steps[i + 1]
        pool_layer = layers[pool.layer]
        if (
            layers[relu.layer].node["op"] == "relu" and pool_layer.node["op"] == "pool"
            and pool_layer.args.get("kind") == "max" and pool.inputs == (relu.output,) and readers[relu.output] == 1
        ):
            steps[i] = replace(pool, inputs=relu.inputs)
            steps[i + 1] = replace(relu, inputs=(pool.output,))
            steps[i + 2 :] = [_renamed(step, pool.output, relu.output) for step in steps[i + 2 :]]
            i += 2
        else:
            i += 1
    return replace(plan, steps=tuple(steps))


def fuse_into_layers(plan: Plan, layers: Layers) -> Plan:
    """A step whose layer can do the work of the step right after it (Layer.can_absorb: a conv takes in a max
    pool and a relu) absorbs it, where that step reads its output alone and is its only reader; never past the
    end of the body."""
    readers = _reader_counts(plan.steps)
    steps: list[Step] = []
    body_length = plan.body_length
    for index, step in enumerate(plan.steps):
        if steps and index < plan.body_length:
            last = steps[-1]
            absorbed = tuple(layers[name] for name in last.absorbs)
            if (
                step.inputs == (last.output,) and readers[last.output] == 1
                and layers[last.layer].can_absorb(layers[step.layer], absorbed)
            ):
                steps[-1] = replace(last, absorbs=(*last.absorbs, step.layer))
                body_length -= 1
                continue
        steps.append(step)
    return Plan(tuple(steps), body_length)


def plan_buffers(plan: Plan, layers: Layers) -> Plan:
    """Handed-on workspace slots for the outputs and input gradients that the ownership rules above allow."""
    steps, body = plan.steps, plan.body_length
    producer = {step.output: index for index, step in enumerate(steps)}
    readers: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        for name in step.inputs:
            readers.setdefault(name, []).append(index)
    external = {steps[body - 1].output, steps[-1].output} if body else {steps[-1].output}

    def keeps_no_io(step: Step) -> bool:
        return all(layers[name].keeps_no_io for name in (step.layer, *step.absorbs))

    forward_lives = {}
    for index, step in enumerate(steps):
        value_readers = readers.get(step.output, [])
        if step.output in external or not value_readers or not keeps_no_io(step):
            continue
        if all(keeps_no_io(steps[reader]) for reader in value_readers):
            forward_lives[index] = (index, max(value_readers))
    output_slots = _colour(forward_lives)

    # Backward turns count from the last body step (turn 0) to the first. The gradient a step returns for its
    # input is read at the turn of that input's producer, or, where the producer may hand on a view of it (it
    # does not keep_no_io), as long as what the producer returns is read in turn.
    def turn(index: int) -> int:
        return body - 1 - index

    read_until: dict[int, int] = {}  # step -> the last turn at which what its backward returns may be read
    for index, step in enumerate(steps[:body]):
        until = turn(index)
        for name in step.inputs:
            if name in producer and not keeps_no_io(steps[producer[name]]):
                until = max(until, read_until[producer[name]])
        read_until[index] = max(
            [until] + [turn(producer[name]) for name in step.inputs if name in producer]
        )
    backward_lives = {
        index: (turn(index), read_until[index])
        for index, step in enumerate(steps[:body])
        if keeps_no_io(step) and len(step.inputs) == 1 and step.inputs[0] in producer
    }
    gradient_slots = _colour(backward_lives)
    planned = tuple(
        replace(step, output_slot=output_slots.get(index), input_grad_slot=gradient_slots.get(index))
        for index, step in enumerate(steps)
    )
    return replace(plan, steps=planned)


def _colour(lives: dict[int, tuple[int, int]]) -> dict[int, str]:
    """A slot for each value, given (written at, last read at) turns: the first slot whose last value was
    last read before this one is written. A value is never given the slot of a value its writer reads."""
    slot_free_after: list[int] = []  # per slot, the turn its current value is last read at
    slots = {}
    for value, (written, last_read) in sorted(lives.items(), key=lambda item: item[1]):
        free = [number for number, busy_until in enumerate(slot_free_after) if busy_until < written]
        number = free[0] if free else len(slot_free_after)
        if not free:
            slot_free_after.append(0)
        slot_free_after[number] = last_read
        slots[value] = Slot.handed_on(number)
    return slots


#: The passes that make a model's plan, in order.
PLAN_PASSES: tuple[PlanPass, ...] = (swap_relu_before_max_pool, fuse_into_layers, plan_buffers)


def make_plan(
    nodes: list[dict[str, Any]], body_length: int, layers: Layers, passes: tuple[PlanPass, ...] = PLAN_PASSES
) -> Plan:
    """The plan of running `layers` (the IR's `nodes`, in order; the first `body_length` before the loss)."""
    plan = initial_plan(nodes, body_length)
    for plan_pass in passes:
        plan = plan_pass(plan, layers)
    return plan
