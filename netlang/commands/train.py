"""`netlang train SPEC`: the whole job, from spec to a run directory with metrics, weights and checkpoints."""

from __future__ import annotations

import argparse
import shlex
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
model.ir.json and checkpoint.npz, all rewritten after every epoch. Ctrl-C stops after the current
step and saves it; the message shows the command that resumes."""

FIELD_PREFIX = "field_"


def flag_of(name: str) -> str:
    """The command-line flag of a training field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file")
    parser.add_argument("--out", metavar="RUN", help="the run directory (default runs/<spec name>-<time>)")
    parser.add_argument(
        "--resume", metavar="RUN", help="continue the run in RUN (a directory or its checkpoint.npz)"
    )
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
        help="override a training field; repeatable (--set lr=0.01 --set epochs=3)",
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
    """Field name -> text, from the --FIELD flags and the --set KEY=VALUE entries (flags win)."""
    overrides: dict[str, str] = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, received '{setting}' (for example --set lr=0.01)")
        overrides[key.strip().replace("-", "_")] = value.strip()
    for name, value in vars(args).items():
        if name.startswith(FIELD_PREFIX) and value is not None:
            overrides[name[len(FIELD_PREFIX):]] = value
    return overrides


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netlang.language.compiler import compile_ir
    from netlang.language.trainfields import resolve_training
    from netlang.train.checkpoint import check_same_network, load_checkpoint
    from netlang.train.loop import Trainer
    from netlang.train.progress import Progress
    from netlang.train.session import (
        build_model,
        check_config,
        checkpoint_file,
        default_run_dir,
        load_split,
        resumed_config,
        with_training,
    )

    overrides = overrides_of(args)
    ir = compile_ir(args.spec)
    overridden = resolve_training(ir, overrides)
    checkpoint = None
    if args.resume:
        if args.out:
            raise UsageError("--resume continues in the run's own directory; leave out --out")
        saved_at = checkpoint_file(args.resume)
        checkpoint = load_checkpoint(saved_at)
        check_same_network(checkpoint.ir, ir, str(saved_at))
        config = resumed_config(
            checkpoint.state["config"], overridden, overrides, mid_epoch=checkpoint.step > 0
        )
        run_dir = saved_at.parent
    else:
        config = overridden
        run_dir = Path(args.out) if args.out else default_run_dir(args.spec)
    check_config(config)

    ir = with_training(ir, config)
    split, dataset = load_split(ir, config)
    model = build_model(ir, config)
    progress = Progress()
    resume = f"netlang train {shlex.quote(str(args.spec))} --resume {shlex.quote(str(run_dir))}"
    trainer = Trainer(model, ir, config, split, run_dir, progress, resume_command=resume)
    if checkpoint is not None:
        trainer.restore(checkpoint)

    progress.message(_header(args.spec, dataset.name, split, config, run_dir, checkpoint))
    result = trainer.fit()
    progress.message(_summary(result, run_dir))
    return 0


def _header(spec: str, data: str, split: Any, config: dict[str, Any], run_dir: Any, checkpoint: Any) -> str:
    from netlang.train.optimizers import base_lr

    sizes = f"{len(split.x_train)} train, {len(split.x_val)} validation, {len(split.x_test)} test samples"
    settings = (
        f"{config['optimizer']} lr {base_lr(config):g}, batch {config['batch_size']}, "
        f"{config['epochs']} epochs, seed {config['seed']}"
    )
    text = f"training {spec} on {data} ({sizes}); {settings}\nrun directory: {run_dir}"
    if checkpoint is not None:
        where = f"epoch {checkpoint.epoch}" + (f", step {checkpoint.step}" if checkpoint.step else "")
        text += f"\nresuming after {where}"
        if checkpoint.epoch >= config["epochs"]:
            text += f" (already {config['epochs']} epochs: pass --epochs N > {checkpoint.epoch} to go on)"
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
