"""checkpoint.npz: everything needed to continue a training run exactly where it stopped.

Layout (all plain arrays, no pickle):

    format                 "netlang-checkpoint-1"
    model/<layer>.<name>   the model's state_dict: parameters and buffers (batchnorm running statistics)
    optimizer/<entry>      the optimizer's state_dict ("steps", "v/conv1.W", ...)
    epoch                  completed epochs
    step                   completed steps of the next epoch (0 at an epoch boundary)
    state/config           JSON (each state/ entry is a 0-d unicode array): the resolved training config
    state/shuffle_rng      JSON: the mini-batch shuffler's bit_generator state before the next epoch's draw
    state/model_rng        JSON: the dropout generator's bit_generator state
    state/early_stopping   JSON: best validation loss and epoch, epochs without improvement
    state/epoch_sums       JSON: running loss/accuracy sums and seconds of a partly done epoch
    state/seconds          JSON: training seconds of all finished epochs
    state/schedule_epochs  JSON: the epochs the lr schedule spans, fixed when the run started
    ir                     JSON: the network's IR, to check a resumed run trains the same network
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netlang.backend.checkpoint import check_finite, check_tensor, read_json_member, read_text_member
from netlang.errors import DataError
from netlang.limits import MAX_COUNT
from netlang.npz import NpzArchive, shown
from netlang.train.files import write_npz

FORMAT = "netlang-checkpoint-1"
STATE_ENTRIES = ("config", "shuffle_rng", "model_rng", "early_stopping", "epoch_sums", "seconds")
# Entries later versions added; a checkpoint without them still resumes (see check_state for the default).
OPTIONAL_STATE_ENTRIES = ("schedule_epochs",)
KNOWN_MEMBERS = ("format", "epoch", "step", "ir")


@dataclass
class Checkpoint:
    """The contents of checkpoint.npz, as Python values."""

    model: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    epoch: int
    step: int
    state: dict[str, Any] = field(default_factory=dict)
    ir: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically."""
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "epoch": np.int64(checkpoint.epoch),
        "step": np.int64(checkpoint.step),
        "ir": np.array(json.dumps(checkpoint.ir)),
    }
    arrays.update({f"state/{key}": np.array(json.dumps(value)) for key, value in checkpoint.state.items()})
    arrays.update({f"model/{key}": value for key, value in checkpoint.model.items()})
    arrays.update({f"optimizer/{key}": value for key, value in checkpoint.optimizer.items()})
    write_npz(path, arrays)


def load_checkpoint(path: Path, ir: dict[str, Any] | None = None) -> Checkpoint:
    """Read and check checkpoint.npz before anything of it is used; DataError naming the file and member.

    Every member is checked for its type and shape, the state entries for their structure, and with `ir`
    (the network being resumed) the saved network must be that network and every model and optimizer tensor
    must have the shape its parameter has, compared from the members' headers before their data is read.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError(f"no checkpoint at '{path}' (expected the checkpoint.npz of a training run)")
    with NpzArchive(path) as archive:
        members = archive.members
        if "format" not in members or read_text_member(archive, "format") != FORMAT:
            raise DataError(f"'{path}' is not a netlang training checkpoint (expected format {FORMAT})")
        epoch, step = _count(archive, "epoch"), _count(archive, "step")
        saved_ir = read_json_member(archive, "ir")
        if not isinstance(saved_ir, dict):
            raise DataError(f"{where}: member 'ir' should be a JSON object (the network's IR)")
        state = {}
        for entry in STATE_ENTRIES:
            if f"state/{entry}" not in members:
                raise DataError(f"checkpoint '{path}' lacks 'state/{entry}'; it cannot be resumed")
            state[entry] = read_json_member(archive, f"state/{entry}")
        for entry in OPTIONAL_STATE_ENTRIES:
            if f"state/{entry}" in members:
                state[entry] = read_json_member(archive, f"state/{entry}")
        check_state(state, where)
        model_names = [name for name in members if name.startswith("model/")]
        optimizer_names = [name for name in members if name.startswith("optimizer/")]
        unknown = [name for name in members if name not in KNOWN_MEMBERS and name not in model_names
                   and name not in optimizer_names and not name.startswith("state/")]
        if unknown:
            raise DataError(f"{where}: unexpected member '{shown(unknown[0])}'")
        if ir is not None:
            try:
                check_same_network(saved_ir, ir, where)
            except (KeyError, TypeError, IndexError, AttributeError):
                raise DataError(f"{where}: member 'ir' is not a netlang IR") from None
            _check_shapes(archive, model_names, tensor_shapes(ir), "model/")
            params = {name: shape for name, shape in tensor_shapes(ir, buffers=False).items()}
            _check_optimizer(archive, optimizer_names, state["config"]["optimizer"], params)
        else:
            for name in model_names:
                check_tensor(where, name, members[name])
        model = {}
        for name in model_names:
            model[name[len("model/"):]] = array = archive.read(name)
            check_finite(where, name, array)
        optimizer: dict[str, Any] = {}
        for name in optimizer_names:
            optimizer[name[len("optimizer/"):]] = array = archive.read(name)
            check_finite(where, name, array)
    return Checkpoint(model=model, optimizer=optimizer, epoch=epoch, step=step, state=state, ir=saved_ir)


def _count(archive: NpzArchive, name: str) -> int:
    """A 0-d integer member that counts something (epochs, steps): DataError unless it is one, >= 0."""
    member = archive.members.get(name)
    if member is None:
        raise DataError(f"{archive.path}: member '{name}' is missing")
    if member.dtype.kind not in "iu" or member.shape != ():
        raise DataError(
            f"{archive.path}: member '{name}' should be a whole number, "
            f"found dtype {member.dtype} and shape {list(member.shape)}"
        )
    value = int(archive.read(name))
    if not 0 <= value <= MAX_COUNT:
        raise DataError(f"{archive.path}: member '{name}' is {value}, expected 0 to {MAX_COUNT}")
    return value


def tensor_shapes(ir: dict[str, Any], buffers: bool = True) -> dict[str, tuple[int, ...]]:
    """What the network's state_dict holds: "<layer>.<tensor>" -> shape, from the IR's inferred shapes."""
    shapes = {}
    for layer in ir["layers"]:
        kinds = ("param_shapes", "buffer_shapes") if buffers else ("param_shapes",)
        for kind in kinds:
            for tensor, shape in layer.get(kind, {}).items():
                shapes[f"{layer['name']}.{tensor}"] = tuple(shape)
    return shapes


def _check_shapes(archive: NpzArchive, names: list[str], expected: dict[str, tuple[int, ...]], prefix: str) -> None:
    present = {name[len(prefix):] for name in names}
    for name in expected:
        if name not in present:
            raise DataError(f"{archive.path}: member '{prefix}{name}' is missing")
    for name in names:
        key = name[len(prefix):]
        if key not in expected:
            raise DataError(f"{archive.path}: unexpected member '{shown(name)}' (no such parameter or buffer)")
        check_tensor(archive.path, name, archive.members[name], expected[key])


def _check_optimizer(
    archive: NpzArchive, names: list[str], optimizer: str, params: dict[str, tuple[int, ...]]
) -> None:
    """Optimizer entries: 'steps', then SLOT/PARAM arrays of the optimizer's slots shaped like their parameter."""
    from netlang.train.optimizers import OPTIMIZERS

    if "optimizer/steps" not in names:
        raise DataError(f"{archive.path}: member 'optimizer/steps' is missing")
    _count(archive, "optimizer/steps")
    slots = OPTIMIZERS[optimizer].slots
    for name in names:
        if name == "optimizer/steps":
            continue
        slot, _, param = name[len("optimizer/"):].partition("/")
        if slot not in slots:
            raise DataError(
                f"{archive.path}: member '{shown(name)}' is not state of the {optimizer} optimizer "
                f"(its state is {', '.join(slots) or 'only a step count'})"
            )
        if param not in params:
            raise DataError(f"{archive.path}: member '{shown(name)}' names no parameter of the network")
        check_tensor(archive.path, name, archive.members[name], params[param])


def check_state(state: dict[str, Any], where: str) -> None:
    """DataError naming the first state/ entry whose structure is not what training saved."""
    config = state["config"]
    if not isinstance(config, dict):
        raise DataError(f"{where}: member 'state/config' should be a JSON object")
    state["config"] = config = with_later_fields(config)
    problem = config_problem(config)
    if problem:
        raise DataError(f"{where}: member 'state/config': {problem}")
    for entry in ("shuffle_rng", "model_rng"):
        if not _is_generator_state(state[entry]):
            raise DataError(f"{where}: member 'state/{entry}' is not the state of a PCG64 random generator")
    numbers = {
        "early_stopping": {"best_loss": float, "best_epoch": int, "epochs_without_improvement": int},
        "epoch_sums": {"loss": float, "correct": int, "seen": int, "seconds": float},
    }
    for entry, fields in numbers.items():
        value = state[entry]
        if not isinstance(value, dict) or set(value) != set(fields):
            raise DataError(f"{where}: member 'state/{entry}' should be an object with {', '.join(fields)}")
        for name, kind in fields.items():
            if not _is_number(value[name], kind, allow_inf=name == "best_loss"):
                raise DataError(f"{where}: member 'state/{entry}': '{name}' is {value[name]!r}, not a number >= 0")
    if not _is_number(state["seconds"], float):
        raise DataError(f"{where}: member 'state/seconds' is {state['seconds']!r}, not a number >= 0")
    horizon = state.get("schedule_epochs", config["epochs"])
    if not _is_number(horizon, int) or horizon < 1:
        raise DataError(f"{where}: member 'state/schedule_epochs' is {horizon!r}, not a whole number >= 1")


# Training fields added after runs were saved, with the value a run saved before them had in effect.
LATER_FIELDS = {"train_subset": 0, "measure": "val"}


def with_later_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the fields that netlang added since filled in (a run saved before had them so)."""
    return {**config, **{name: value for name, value in LATER_FIELDS.items() if name not in config}}


def config_problem(config: dict[str, Any]) -> str | None:
    """The first problem of a saved training config (missing, unknown, mistyped or non-finite field), or None."""
    from netlang.language.schema import validate_train
    from netlang.language.trainfields import field_schemas

    schemas = field_schemas()
    for name, schema in schemas.items():
        if name not in config:
            return f"field '{name}' is missing"
        value = config[name]
        declared = schema.get("type")
        types = declared if isinstance(declared, list) else [declared]
        if "integer" in types and not (value is None and "null" in types) and not _is_number(value, int, 0):
            return f"field '{name}' is {value!r}, expected a whole number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"field '{name}' is {value!r}, expected a finite number"
    unknown = [name for name in config if name not in schemas]
    if unknown:
        return f"unknown field '{shown(str(unknown[0]))}'"
    return validate_train({name: {"value": value} for name, value in config.items()})


def _is_number(value: Any, kind: type, least: float = 0, allow_inf: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        return False
    if kind is int and abs(value) > MAX_COUNT:
        return False
    return value >= least and (math.isfinite(value) or (allow_inf and value == math.inf))


def _is_generator_state(value: Any) -> bool:
    if not isinstance(value, dict) or value.get("bit_generator") != "PCG64":
        return False
    try:
        np.random.PCG64().state = value  # the generator checks every field and range itself
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def architecture(ir: dict[str, Any]) -> list[Any]:
    """What must match for weights to carry over: input shape and each layer's name, op, args and shapes."""
    layers = [
        [layer["name"], layer["op"], layer.get("args", {}), layer.get("param_shapes", {}),
         layer.get("buffer_shapes", {})]
        for layer in ir["layers"]
    ]
    return [ir["input"]["shape"], layers]


def check_same_network(saved_ir: dict[str, Any], ir: dict[str, Any], where: str) -> None:
    """Raise DataError, naming the first difference, when `ir` is not the network saved in `where`."""
    saved_input, saved_layers = architecture(saved_ir)
    input_shape, layers = architecture(ir)
    if saved_input != input_shape:
        raise DataError(
            f"the spec does not match {where}: input shape {input_shape} here, "
            f"{saved_input} in the checkpoint"
        )
    for saved, current in zip(saved_layers, layers, strict=False):
        if saved != current:
            raise DataError(
                f"the spec does not match {where}: layer '{current[0]}' ({current[1]} {current[2]}) "
                f"was '{saved[0]}' ({saved[1]} {saved[2]}) in the checkpoint"
            )
    if len(saved_layers) != len(layers):
        raise DataError(
            f"the spec does not match {where}: {len(layers)} layers here, "
            f"{len(saved_layers)} in the checkpoint"
        )
