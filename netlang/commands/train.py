"""`netlang train SPEC`: the whole job, from spec to a run directory with metrics, weights and checkpoints."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from netlang.errors import UsageError
from netlang.language.trainfields import field_schemas

NAME = "train"
HELP = "Train a network on its data set, writing metrics, weights and a resumable checkpoint."
EXAMPLES = """examples:
  netlang train specs/digits_convnet.net
  netlang train specs/digits_convnet.net --epochs 5 --lr 0.003 --out runs/digits
  netlang train specs/digits_convnet.net --resume runs/digits --epochs 20
  netlang train specs/xor.net --set optimizer=sgd --set lr=0.5

Every field of the spec's train { } section can be overridden by a flag (--batch-size 50) or by
--set batch_size=50. A run directory holds metrics.jsonl, result.json, weights.npz, best.npz,
model.ir.json and checkpoint.npz, all rewritten after every epoch. An existing run is never replaced
unless --overwrite is given, and two processes never train in one run directory. Ctrl-C stops after
the current step and saves it; the message shows the command that resumes. A resumed lr schedule
keeps the number of epochs it started with."""

FIELD_PREFIX = "field_"


def flag_of(name: str) -> str:
    """The command-line flag of a training field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file, or - for stdin")
    parser.add_argument("--out", metavar="RUN", help="the run directory (default runs/<spec name>-<time>)")
    parser.add_argument(
        "--resume", metavar="RUN", help="continue the run in RUN (a directory or its checkpoint.npz)"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in --out (without it, an existing run is never overwritten)",
    )
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
        help="override a training field; repeatable (--set lr=0.01 --set epochs=3)",
    )
    engine = parser.add_argument_group("engine (see the README's section Engines)")
    engine.add_argument(
        "--engine", choices=("numpy", "torch"), default="numpy",
        help="what computes the training: numpy (the reference, default) or torch (PyTorch: GPUs, torchrun)",
    )
    engine.add_argument(
        "--device", metavar="DEVICE",
        help="with --engine torch: auto (default: a GPU if there is one), cpu, cuda, cuda:N or mps",
    )
    engine.add_argument(
        "--dtype", choices=("float32", "float64"),
        help="the floating-point type of the weights and arithmetic (default float32; on --resume, the run's)",
    )
    fields = parser.add_argument_group("training fields (override the spec's train section)")
    for name, schema in field_schemas().items():
        fields.add_argument(
            flag_of(name), dest=FIELD_PREFIX + name, metavar=_metavar(schema), help=_help(schema)
        )


def _metavar(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "{" + ",".join(schema["enum"]) + "}"
    types = schema.get("type", "string")
    types = types if isinstance(types, list) else [types]
    if "integer" in types:
        return "N"
    if "number" in types:
        return "X"
    return "NAME"


def _help(schema: dict[str, Any]) -> str:
    default = schema.get("default")
    shown = "the optimizer's" if default is None else repr(default) if isinstance(default, str) else default
    text = f"{schema.get('description', '')} (default {shown})"
    return text.replace("%", "%%")


def overrides_of(args: argparse.Namespace) -> dict[str, str]:
    """Field name -> text, from the --FIELD flags and the --set KEY=VALUE entries (flags win).

    A number that is not finite (nan, inf) is refused here, as a flag, before anything runs.
    """
    overrides: dict[str, str] = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, received '{setting}' (for example --set lr=0.01)")
        overrides[key.strip().replace("-", "_")] = value.strip()
    for name, value in vars(args).items():
        if name.startswith(FIELD_PREFIX) and value is not None:
            overrides[name[len(FIELD_PREFIX):]] = value
    for name, value in overrides.items():
        if _is_non_finite(value):
            raise UsageError(f"{flag_of(name)}: expected a finite number, received '{value}'")
    return overrides


def _is_non_finite(text: str) -> bool:
    import math

    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from netlang.language.trainfields import resolve_training
    from netlang.memory.guard import check_evaluation_memory, check_step_memory
    from netlang.train.checkpoint import load_checkpoint
    from netlang.train.loop import EVAL_BATCH_SIZE, Trainer, TrainingInterrupted
    from netlang.train.progress import Progress, Silent
    from netlang.train.rundir import RunBusy, RunLock, check_run_dir, refuse_existing_run, remove_run_files
    from netlang.train.session import (
        build_model,
        check_config,
        check_data_flag,
        check_trainable,
        checkpoint_file,
        compile_spec,
        default_run_dir,
        load_split,
        resolved_loss,
        resumed_config,
        with_training,
    )

    # Everything that can be checked is checked before the run directory is touched.
    launch = _engine_launch(args)
    leader = launch is None or launch.rank == 0  # the process that prints and writes the run directory
    device = _device(args, launch)
    overrides = overrides_of(args)
    if args.resume and args.out:
        raise UsageError("--resume continues in the run's own directory; leave out --out")
    if args.resume and args.overwrite:
        raise UsageError("--overwrite starts a new run; it cannot be combined with --resume")
    check_data_flag(overrides.get("data"), "--data" if args.field_data else "--set data")
    ir = compile_spec(args.spec)
    overridden = resolve_training(ir, overrides)
    checkpoint = None
    if args.resume:
        saved_at = checkpoint_file(args.resume)
        if not saved_at.is_file():
            raise UsageError(f"--resume {args.resume}: no checkpoint at '{saved_at}'")
        run_dir = saved_at.parent
        if leader:
            check_run_dir(run_dir, resume=True)
        saved_stat = saved_at.stat()
        checkpoint = load_checkpoint(saved_at, ir)
        config = resumed_config(
            checkpoint.state["config"], overridden, overrides, mid_epoch=checkpoint.step > 0
        )
    else:
        config = overridden
        run_dir = Path(args.out) if args.out else default_run_dir(args.spec)
        if leader:
            check_run_dir(run_dir, overwrite=args.overwrite)
    check_config(config)
    check_trainable(ir)
    config = {**config, "loss": resolved_loss(ir, config)}

    ir = with_training(ir, config)
    dtype = args.dtype or (_saved_dtype(checkpoint) if checkpoint is not None else "float32")
    # The forecast is the NumPy engine's, in host memory; the torch engine's memory (on a GPU, say) is PyTorch's.
    forecast_memory = args.engine == "numpy"
    itemsize = 8 if dtype == "float64" else 4
    if forecast_memory:
        check_step_memory(ir, config, itemsize)  # before the data set or the model takes any memory
    split, dataset = load_split(ir, config)
    evaluated = min(EVAL_BATCH_SIZE, max(len(split.x_val), len(split.x_test)))
    if forecast_memory and evaluated:  # after each epoch, with the training state still held
        check_evaluation_memory(ir, config, evaluated, trained=True, what="evaluating after an epoch of training",
                                itemsize=itemsize)
    model = build_model(ir, config, dtype, args.engine, device)
    progress = Progress() if leader else Silent()
    resume = f"netlang train {shlex.quote(str(args.spec))} --resume {shlex.quote(str(run_dir))}"
    if args.engine == "torch":
        resume += " --engine torch"
        if launch is not None:
            resume = f"torchrun --nproc-per-node {launch.world} -m {resume}"
    trainer = Trainer(model, ir, config, split, run_dir, progress, resume_command=resume)
    trainer.engine = {"name": args.engine, "dtype": dtype}
    if args.engine == "torch":
        trainer.engine.update(device=str(device), processes=launch.world if launch else 1)
    if checkpoint is not None:
        _check_position(checkpoint, split, config, saved_at)
        trainer.restore(checkpoint)

    try:
        with _processes(args.engine, model, launch, trainer), RunLock(run_dir) if leader else nullcontext():
            # Another process may have used the run between the checks above and the lock.
            if leader and checkpoint is not None and _changed(saved_at, saved_stat):
                raise RunBusy(f"{saved_at} changed while this run started (another process?); run the command again")
            if leader and args.overwrite:
                remove_run_files(run_dir)
            elif leader and checkpoint is None:
                refuse_existing_run(run_dir)
            progress.message(_header(args.spec, dataset.name, split, config, run_dir, checkpoint, trainer))
            try:
                result = trainer.fit()
            except BrokenPipeError:
                raise  # the reader of the progress output went away: not a problem of the run directory
            except OSError as err:
                raise trainer.write_failed(err) from None
    except TrainingInterrupted as stopped:
        if leader:
            raise
        return stopped.exit_code  # all stopped after the same step; the first process says what it saved
    progress.message(_summary(result, run_dir))
    return 0


def _engine_launch(args: argparse.Namespace) -> Any:
    """Check the engine flags; the torchrun launch this process belongs to (None: a single process)."""
    if args.engine != "torch":
        if args.device is not None:
            raise UsageError(f"--device {args.device} chooses where --engine torch runs; add --engine torch")
        from netlang.targets.torch_distributed import torchrun_launch  # reads the environment, imports no torch

        if torchrun_launch() is not None:
            raise UsageError("started by torchrun (WORLD_SIZE > 1): add --engine torch to train in several processes")
        return None
    from netlang.targets.torch_distributed import torchrun_launch
    from netlang.targets.torch_engine import require_torch

    require_torch()
    return torchrun_launch()


def _device(args: argparse.Namespace, launch: Any) -> Any:
    if args.engine != "torch":
        return "cpu"
    from netlang.targets.torch_engine import resolve_device

    return resolve_device(args.device or "auto", None if launch is None else launch.local_rank)


def _saved_dtype(checkpoint: Any) -> str:
    """The floating-point type a resumed run was saved in (float32 unless its weights are float64)."""
    import numpy as np

    dtypes = {np.dtype(array.dtype) for array in checkpoint.model.values()}
    return "float64" if np.dtype(np.float64) in dtypes else "float32"


@contextmanager
def _processes(engine: str, model: Any, launch: Any, trainer: Any) -> Iterator[None]:
    """With torchrun: the process group and the DDP model for the block. With the torch engine, an error of
    PyTorch (a failed peer, a GPU out of memory) is one line saying what the checkpoint holds."""
    from netlang.errors import TrainingError

    if engine != "torch":
        yield
        return
    saved = trainer.out_dir / "checkpoint.npz"
    if launch is None:
        try:
            yield
        except RuntimeError as err:
            message = f"PyTorch stopped the run: {_first_line(err)}; {saved} holds the last state saved"
            raise TrainingError(message) from None
        return
    from netlang.targets.torch_distributed import ProcessGroup, any_process, distribute

    with ProcessGroup(model.device):
        distribute(model, launch)
        trainer.writes_files = launch.rank == 0
        trainer.agree_to_stop = any_process
        try:
            yield
        except RuntimeError as err:  # torch.distributed's errors are RuntimeErrors too
            raise TrainingError(
                f"process {launch.rank} of {launch.world} stopped: {_first_line(err)} (if another process failed "
                f"first, its message says why); {saved} holds the last state saved"
            ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _changed(path: Path, before: Any) -> bool:
    now = path.stat()
    return (now.st_mtime_ns, now.st_size, now.st_ino) != (before.st_mtime_ns, before.st_size, before.st_ino)


def _check_position(checkpoint: Any, split: Any, config: dict[str, Any], where: Any) -> None:
    """A mid-epoch checkpoint's step must lie inside an epoch of this data and batch size."""
    import math

    from netlang.errors import DataError

    steps = math.ceil(len(split.x_train) / config["batch_size"])
    if checkpoint.step >= max(steps, 1):
        raise DataError(
            f"{where}: member 'step' is {checkpoint.step}, but an epoch of {len(split.x_train)} samples in "
            f"batches of {config['batch_size']} has {steps} steps"
        )


def _header(
    spec: str, data: str, split: Any, config: dict[str, Any], run_dir: Any, checkpoint: Any, trainer: Any
) -> str:
    from netlang.train.optimizers import base_lr

    sizes = f"{len(split.x_train)} train, {len(split.x_val)} validation, {len(split.x_test)} test samples"
    settings = (
        f"{config['optimizer']} lr {base_lr(config):g}, {config['loss']} loss, batch {config['batch_size']}, "
        f"{config['epochs']} epochs, seed {config['seed']}"
    )
    text = f"training {spec} on {data} ({sizes}); {settings}\nrun directory: {run_dir}"
    if checkpoint is not None:
        where = f"epoch {checkpoint.epoch}" + (f", step {checkpoint.step}" if checkpoint.step else "")
        text += f"\nresuming after {where}"
        if checkpoint.epoch >= config["epochs"]:
            text += f" (already {config['epochs']} epochs: pass --epochs N > {checkpoint.epoch} to go on)"
        if config["schedule"] != "none" and config["epochs"] != trainer.schedule_epochs:
            text += (
                f"\nnote: the {config['schedule']} schedule keeps the {trainer.schedule_epochs} epochs it was "
                "started with"
                + (", so later epochs train at its final rate" if config["epochs"] > trainer.schedule_epochs
                   else "")
                + "; start a new run to fit it to "
                f"{config['epochs']} epochs"
            )
    return text


def _summary(result: dict[str, Any], run_dir: Any) -> str:
    text = (
        f"test accuracy {100 * result['test_acc']:.2f}% (loss {result['test_loss']:.4f}) "
        f"after {result['epochs']} epoch{'' if result['epochs'] == 1 else 's'}, "
        f"{result['seconds']:.1f} s of training"
    )
    if result["best_epoch"]:
        text += f"; best validation loss at epoch {result['best_epoch']}"
    return text + f"\nresults in {run_dir}"
