"""`netlang sweep SPEC --set FIELD=A,B,C`: train each variant alike and compare their learning curves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netlang.errors import UsageError

NAME = "sweep"
HELP = "Train one variant per value of a training field, same seed and data, and plot their learning curves."
EXAMPLES = """examples:
  netlang sweep specs/digits_convnet.net --set optimizer=sgd,momentum,adagrad,adam --set lr=auto --epochs 10
  netlang sweep specs/digits_convnet.net --set init=std:0.01,xavier,he --epochs 10
  netlang sweep specs/two_layer.net --set optimizer=sgd,adam --set lr=auto --train-subset 5000

A --set with commas is swept (several swept fields give every combination); one without is fixed for all
variants. A spec's lr applies to every optimizer; --set lr=auto gives each optimizer its own default
(0.01 for sgd, momentum, nesterov, adagrad; 0.001 for rmsprop, adam). Every variant uses the same seed,
the same training samples in the same order, and is scored on the same validation split.

OUT (default runs/sweep-<spec name>) receives curves.json (every variant's per-step training loss and
per-epoch validation loss and accuracy) and curves.png."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file")
    parser.add_argument(
        "--set", action="append", default=[], dest="settings", metavar="KEY=A,B,...",
        help="a swept field (several values) or a fixed one (one value); repeatable",
    )
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs per variant (default: the spec's)")
    parser.add_argument(
        "--train-subset", type=int, default=0, metavar="N",
        help="train on this many training samples; 0 for all (default 0)",
    )
    parser.add_argument(
        "--val-subset", type=int, default=0, metavar="N",
        help="validate on at most this many samples; 0 for all (default 0)",
    )
    parser.add_argument("--out", metavar="DIR", help="where curves go (default runs/sweep-<spec name>)")
    parser.add_argument("--no-plot", action="store_true", help="skip curves.png")


def run(args: argparse.Namespace) -> int:
    from netlang.commands._common import write_atomically
    from netlang.experiments.specfile import default_out_dir, read_spec, spec_label
    from netlang.experiments.sweep import parse_settings, run_sweep, variants
    from netlang.experiments.training import experiment_split
    from netlang.language.trainfields import resolve_training
    from netlang.train.rundir import refuse_symlinks
    from netlang.train.session import check_data_flag

    swept, fixed = parse_settings(args.settings)
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, received {args.epochs}")
        fixed["epochs"] = str(args.epochs)
    for option, value in (("--train-subset", args.train_subset), ("--val-subset", args.val_subset)):
        if value < 0:
            raise UsageError(f"{option} must be 0 (all) or more, received {value}")
    check_data_flag(fixed.get("data"), "--set data")
    ir, _ = read_spec(args.spec)
    base = resolve_training(ir, fixed)
    split, dataset = experiment_split(ir, base, args.train_subset or None, args.val_subset or None)
    combinations = variants(swept)
    out_dir = Path(args.out) if args.out else default_out_dir("sweep", args.spec)
    refuse_symlinks(out_dir, ("curves.json", "curves.png"))
    print(
        f"sweeping {args.spec} on {dataset.name}: {len(combinations)} variants of {base['epochs']} epochs, "
        f"seed {base['seed']}, {len(split.x_train)} training and {len(split.x_val)} validation samples",
        flush=True,
    )

    def report(record: dict[str, Any]) -> None:
        print("  " + _variant_line(record), flush=True)

    curves = run_sweep(ir, fixed, combinations, split, on_variant=report)
    data = {"spec": str(args.spec), "data": dataset.name, "seed": base["seed"], "swept": swept,
            "fixed": fixed, "variants": curves}
    write_atomically(out_dir / "curves.json", json.dumps(data) + "\n")
    print(f"curves in {out_dir / 'curves.json'}")
    if not args.no_plot:
        samples = f"{len(split.x_train):,} training samples"
        title = f"{spec_label(args.spec)} on {dataset.name} ({samples}), seed {base['seed']}"
        _draw(curves, title, out_dir / "curves.png")
    return 0


def _variant_line(record: dict[str, Any]) -> str:
    text = f"{record['label']:<28}"
    last = record["epochs"][-1] if record["epochs"] else None
    if last is not None:
        text += f" train_loss {last['train_loss']:.4f}"
        if last["val_acc"] is not None:
            text += f"  val_loss {last['val_loss']:.4f}  val_acc {100 * last['val_acc']:6.2f}%"
    if record["error"]:
        text += f"  diverged: {record['error']}"
    return text + f"  {record['seconds']:.1f}s"


def _draw(curves: list[dict[str, Any]], title: str, path: Path) -> None:
    from netlang.plots import MissingMatplotlib
    from netlang.plots.curves import draw_sweep

    try:
        print(f"picture: {draw_sweep(curves, title, path)}")
    except MissingMatplotlib as err:
        print(f"netlang: {err.message}", file=sys.stderr)
