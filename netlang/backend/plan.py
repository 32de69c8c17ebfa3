"""The plan a model runs its layers by: in which order, which layers another does the work of, and where each
array handed from layer to layer lives. The model builds it once from PLAN_PASSES and applies it to its layers.

    IR order --swap_relu_before_max_pool--> --fuse_into_layers--> --plan_buffers--> Plan

A Plan is plain data (layer names and slot names). Each pass takes a Plan and the model's layers by name,
which it only asks (can_absorb, keeps_no_io), and returns a new Plan.

Who owns the arrays that forward and backward return (the rules plan_buffers follows):
- An output is read by the steps that take it as input (in a chain: the next step), and, for the last step
  of the network and the last step before the loss, by the caller or the loss: those are always fresh.
- An output lives in a handed-on slot of the workspace only if its producer and every reader keep no
  reference to it (Layer.keeps_no_io). It stays there, untouched, from the step that writes it until the last
  step that reads it: no other output is given that slot in between, and no step writes its output into the
  slot of its own input.
- The same holds, in reverse order, for the input gradients backward returns: the one of a step is read by
  the step that produced its input. Forward's handed-on arrays are dead by then (their readers kept nothing),
  so backward reuses the slots.
- Each layer's scratch arrays are its own; the workspace's temporary slots (base.Slot) live within one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from netlang.backend.base import Layer, Slot


@dataclass(frozen=True)
class Step:
    """One layer's turn: `layer` runs, doing the work of the `absorbs` layers after it too. What it returns
    lives in the workspace slots `output_slot` (forward, in training) and `input_grad_slot` (backward), or is
    fresh where they are None."""

    layer: str
    absorbs: tuple[str, ...] = ()
    output_slot: str | None = None
    input_grad_slot: str | None = None


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


def initial_plan(layer_names: list[str], body_length: int) -> Plan:
    """Every layer its own step, in IR order."""
    return Plan(tuple(Step(name) for name in layer_names), body_length)


def swap_relu_before_max_pool(plan: Plan, layers: Layers) -> Plan:
    """A relu directly followed by a max pool runs after the pool.

    relu(maxpool(x)) == maxpool(relu(x)): relu is monotone, and every window holds at least one real value
    (padding is -inf). Pooling first lets relu touch KH*KW times fewer values, forward and backward; the
    gradient is the same (a window whose maximum is <= 0 gets none either way).
    """
    steps = list(plan.steps)
    i = 0
    while i < len(steps) - 1:
        first, second = layers[steps[i].layer], layers[steps[i + 1].layer]
        if first.node["op"] == "relu" and second.node["op"] == "pool" and second.args.get("kind") == "max":
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
            i += 2
        else:
            i += 1
    return replace(plan, steps=tuple(steps))


def fuse_into_layers(plan: Plan, layers: Layers) -> Plan:
    """Steps whose layer can do the work of the layers after it (Layer.can_absorb: a conv takes in a max pool
    and a relu) absorb them; never past the end of the body."""
    steps: list[Step] = []
    body_length = plan.body_length
    for index, step in enumerate(plan.steps):
        if steps and index < plan.body_length:
            last = steps[-1]
            absorbed = tuple(layers[name] for name in last.absorbs)
            if layers[last.layer].can_absorb(layers[step.layer], absorbed):
                steps[-1] = replace(last, absorbs=(*last.absorbs, step.layer))
                body_length -= 1
                continue
        steps.append(step)
    return Plan(tuple(steps), body_length)


def plan_buffers(plan: Plan, layers: Layers) -> Plan:
    """Handed-on workspace slots for the outputs and input gradients that the ownership rules above allow."""
    steps = plan.steps
    body = plan.body_length
    # In a chain each step reads the output of the step before it; the loss and the caller read the outputs
    # of the last body step and of the last step.
    readers = {index: [index + 1] for index in range(len(steps) - 1)}
    external = {body - 1, len(steps) - 1}

    def keeps_no_io(step: Step) -> bool:
        return all(layers[name].keeps_no_io for name in (step.layer, *step.absorbs))

    def shareable(index: int) -> bool:
        return index not in external and keeps_no_io(steps[index]) and all(
            keeps_no_io(steps[reader]) for reader in readers[index]
        )

    output_slots = _colour(
        {index: (index, max(readers[index])) for index in range(len(steps)) if shareable(index)}
    )
    # Backward, in reverse: the input gradient of body step i is written at its turn and read at the turn
    # of step i - 1. Times count backward turns (body - 1 - i). The first step returns none.
    gradient_slots = _colour(
        {index: (body - 1 - index, body - index) for index in range(1, body) if keeps_no_io(steps[index])}
    )
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
    layer_names: list[str], body_length: int, layers: Layers, passes: tuple[PlanPass, ...] = PLAN_PASSES
) -> Plan:
    """The plan of running `layers` (named in IR order; the first `body_length` before the loss)."""
    plan = initial_plan(layer_names, body_length)
    for plan_pass in passes:
        plan = plan_pass(plan, layers)
    return plan
