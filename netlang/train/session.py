"""From a compiled spec and a training config to the pieces a run needs: data split, model, run directory.

These are the steps `netlang train`, `netlang eval` and `netlang predict` share; each takes plain values
and returns plain values, and raises a NetlangError the command line can print.
"""

from __future__ import annotations

import copy
import json
import time
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from netlang.engine import Model
from netlang.errors import DataError, UsageError
from netlang.language.trainfields import check_config  # noqa: F401 (where the commands find it)
from netlang.train.checkpoint import load_checkpoint
from netlang.train.loop import Split

# Changing these on resume would silently train on other data or another shuffle, or (optimizer) leave the
# checkpoint's optimizer state without an owner: refused.
FIXED_ON_RESUME = ("data", "val_split", "seed", "train_subset", "optimizer")


def with_training(ir: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `ir` whose train section holds every resolved field (source positions kept where known).

    A run's model.ir.json then records the whole config.
    """
    trained = copy.deepcopy(ir)
    section = trained.get("train", {})
    trained["train"] = {
        name: {**section.get(name, {}), "value": value} for name, value in config.items()
    }
    return trained


def compile_spec(spec: str) -> dict[str, Any]:
    """A SPEC argument -> inferred IR: `-` reads standard input, anything else is a file (UsageError if absent)."""
    import sys

    from netlang.language.compiler import compile_ir

    if spec == "-":
        return compile_ir(sys.stdin.read(), filename="<stdin>")
    return compile_ir(Path(spec))


def n_outputs(ir: dict[str, Any]) -> int:
    """The number of values the network outputs per sample."""
    return int(np.prod(ir["layers"][-1]["out_shape"]))


def load_split(ir: dict[str, Any], config: dict[str, Any]) -> tuple[Split, Any]:
    """The config's data set checked against the network and split into train/validation/test."""
    from netlang.data import check_against, load_dataset, split_validation

    dataset = check_against(load_dataset(config["data"]), ir["input"]["shape"], n_outputs(ir))
    x_train, y_train, x_val, y_val = split_validation(
        dataset.x_train, dataset.y_train, config["val_split"], config["seed"]
    )
    subset = config.get("train_subset") or None  # the first N of the shuffled training split; 0: all of it
    return Split(x_train[:subset], y_train[:subset], x_val, y_val, dataset.x_test, dataset.y_test), dataset


ENGINES = ("numpy", "torch")


def build_model(
    ir: dict[str, Any], config: dict[str, Any], dtype: str = "float32", engine: str = "numpy", device: Any = "cpu"
) -> Model:
    """The model of `ir`, with the config's loss and init, seeded by the config, built by `engine` (numpy, the
    reference, or torch on `device`): both give the same initial weights."""
    if engine == "torch":
        from netlang.targets.torch_engine import build as build_torch

        return build_torch(
            ir, loss=config["loss"], init=config["init"], dtype=dtype, seed=config["seed"], device=device
        )
    from netlang.backend import build

    return build(ir, loss=config["loss"], init=config["init"], dtype=dtype, seed=config["seed"])


def default_run_dir(spec: str, now: float | None = None) -> Path:
    """runs/<spec stem>-<YYYYmmdd-HHMMSS>, with -2, -3... appended if that directory exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name = "stdin" if spec == "-" else Path(spec).stem
    base = Path("runs") / f"{name}-{stamp}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def checkpoint_file(run: str | Path) -> Path:
    """The checkpoint of `run`: the path itself if it is a file, else RUN/checkpoint.npz."""
    path = Path(run)
    return path if path.suffix == ".npz" else path / "checkpoint.npz"


def resumed_config(
    saved: dict[str, Any], overridden: dict[str, Any], overrides: dict[str, str], mid_epoch: bool = False
) -> dict[str, Any]:
    """The saved run's config with the command line's overrides applied; UsageError for a fixed field.

    A run stopped mid-epoch also keeps its batch size: the steps it did are counted in batches.
    """
    config = dict(saved)
    fixed = FIXED_ON_RESUME + (("batch_size",) if mid_epoch else ())
    for name in overrides:
        if name in fixed and overridden[name] != saved.get(name):
            raise UsageError(
                f"cannot change '{name}' when resuming (the run used {saved.get(name)!r}, "
                f"received {overridden[name]!r}); start a new run instead"
            )
        config[name] = overridden[name]
    return config


def weights_file(weights: str | Path) -> Path:
    """A weights path as given: a .npz file, or a run directory meaning its weights.npz; UsageError if absent."""
    path = Path(weights)
    if path.is_dir():
        path = path / "weights.npz"
    if not path.is_file():
        raise UsageError(
            f"--weights {weights}: no such file '{path}' (expected weights.npz, best.npz or checkpoint.npz of a run)"
        )
    return path


def run_config(weights: Path) -> dict[str, Any] | None:
    """The training config of the run a weights file sits in (from its result.json), if there is one.

    A result.json that cannot be read, or whose config is not a valid training config, is ignored: the spec's
    own train section is used instead.
    """
    from netlang.train.checkpoint import config_problem, with_later_fields

    result = weights.parent / "result.json"
    try:
        config = json.loads(result.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(config, dict) or config_problem(with_later_fields(config)):
        return None
    return with_later_fields(config)


def load_weights(model: Model, weights: Path) -> None:
    """Fill `model` from weights.npz/best.npz (backend format) or a training checkpoint.npz.

    The file's tensors are checked against the model's names and shapes before their data is read.
    """
    from netlang.backend.checkpoint import read_checkpoint
    from netlang.npz import NpzArchive

    if not zipfile.is_zipfile(weights):  # else the message would be about a zip's internals
        raise DataError(f"{weights}: not a weights file; expected an .npz archive written by netlang")
    with NpzArchive(weights) as archive:
        is_checkpoint = "format" in archive.names
    if is_checkpoint:
        tensors = load_checkpoint(weights, model.ir).model
    else:
        expected = {name: tuple(array.shape) for name, array in model.state_dict().items()}
        tensors, _ = read_checkpoint(weights, expected)
    model.load_state_dict(tensors, origin=str(weights))


def untrainable_layer(ir: dict[str, Any]) -> dict[str, Any] | None:
    """The first layer training cannot pass a gradient through (an op that is not differentiable: `step`)."""
    from netlang.ops import OPS

    return next((layer for layer in ir["layers"] if not OPS[layer["op"]].differentiable), None)


def check_trainable(ir: dict[str, Any]) -> None:
    """TrainingError at the layer's source line when the network cannot be trained by gradient descent."""
    from netlang.errors import TrainingError

    layer = untrainable_layer(ir)
    if layer is not None:
        raise TrainingError(
            f"layer '{layer['name']}' ({layer['op']}) has no useful gradient, so this network cannot be trained; "
            "use sigmoid or relu instead (check, summary, eval and predict accept it)"
        ).at(layer.get("pos"), ir.get("source"))


def resolved_loss(ir: dict[str, Any], config: dict[str, Any]) -> str:
    """The loss training uses: the config's, or for "auto" the one the network's last layer implies."""
    from netlang.backend.model import resolve_loss

    return resolve_loss(ir, config.get("loss") or "auto")


def check_data_flag(name: str | None, flag: str = "--data") -> None:
    """A data set named on the command line must exist: an unknown name or missing npz file is a UsageError."""
    from netlang.data import SOURCES
    from netlang.errors import did_you_mean

    if name is None:
        return
    if name.startswith("npz:"):
        path = Path(name[len("npz:"):])
        if name != "npz:" and not path.is_file():
            raise UsageError(f"{flag} {name}: no such file '{path}'")
        return
    if name not in SOURCES:
        known = ", ".join([*SOURCES, "npz:PATH"])
        hint = did_you_mean(name.lower(), SOURCES)
        raise UsageError(f"{flag}: unknown data set '{name}'; expected one of: {known}{hint}")


class Trained(NamedTuple):
    """A spec's model with trained weights loaded, and where they came from."""

    ir: dict[str, Any]
    config: dict[str, Any]
    model: Any
    weights: Path


def load_trained(spec: str, weights: str | Path | None, data: str | None = None) -> Trained:
    """The model of `spec` with trained weights: the run's own config when the weights sit in a run directory
    (else the spec's), `data` replacing its data set if given. What eval and predict share.

    Without `weights`, an ONNX file's own initializers (UsageError for any other spec)."""
    from netlang.language.compiler import compile_onnx
    from netlang.language.trainfields import resolve_training

    check_data_flag(data)
    if weights is None:
        if Path(spec).suffix != ".onnx":
            raise UsageError(f"{spec}: --weights is needed (only an .onnx file carries its own weights)")
        if not Path(spec).is_file():
            raise UsageError(f"{spec}: no such file")
        ir, tensors = compile_onnx(Path(spec))
        path = Path(spec)
    else:
        ir, tensors = compile_spec(spec), None
        path = weights_file(weights)
    config = (run_config(path) if tensors is None else None) or resolve_training(ir)
    if data:
        config = {**config, "data": data}
    ir = with_training(ir, config)
    model = build_model(ir, config)
    if tensors is None:
        load_weights(model, path)
    else:
        model.load_state_dict(tensors, origin=str(path))
    return Trained(ir, config, model, path)
