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
    ir                     JSON: the network's IR, to check a resumed run trains the same network
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netlang.errors import DataError
from netlang.train.files import write_npz

FORMAT = "netlang-checkpoint-1"
STATE_ENTRIES = ("config", "shuffle_rng", "model_rng", "early_stopping", "epoch_sums", "seconds")


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


def load_checkpoint(path: Path) -> Checkpoint:
    """Read checkpoint.npz, raising DataError when it is missing or not a netlang checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no checkpoint at '{path}' (expected the checkpoint.npz of a training run)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "format" not in npz.files or str(npz["format"]) != FORMAT:
                raise DataError(f"'{path}' is not a netlang training checkpoint (expected format {FORMAT})")
            model = {name[len("model/"):]: npz[name] for name in npz.files if name.startswith("model/")}
            optimizer = {
                name[len("optimizer/"):]: npz[name] for name in npz.files if name.startswith("optimizer/")
            }
            state = {
                name[len("state/"):]: json.loads(str(npz[name]))
                for name in npz.files
                if name.startswith("state/")
            }
            missing = [entry for entry in STATE_ENTRIES if entry not in state]
            if missing:
                raise DataError(f"checkpoint '{path}' lacks 'state/{missing[0]}'; it cannot be resumed")
            return Checkpoint(
                model=model,
                optimizer=optimizer,
                epoch=int(npz["epoch"]),
                step=int(npz["step"]),
                state=state,
                ir=json.loads(str(npz["ir"])),
            )
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"cannot read checkpoint '{path}': {err}") from err


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
