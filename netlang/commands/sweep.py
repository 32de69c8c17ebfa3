"""`netlang sweep SPEC... --set FIELD=A,B,C`: train each variant alike and compare their learning curves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netlang.errors import UsageError

# A two-axis sweep is drawn as a grid of at most this many small plots; a longer axis gets the one-plot picture.
GRID_MAX_PLOTS = 64

NAME = "sweep"
HELP = "Train one variant per spec and per value of a training field, same seed and data, and plot their curves."
EXAMPLES = """examples:
  netlang sweep specs/digits_convnet.net --set optimizer=sgd,momentum,adagrad,adam --set lr=auto --epochs 10
  netlang sweep specs/digits_convnet.net --set init=std:0.01,xavier,he --epochs 10
  netlang sweep specs/studies/overfit.net specs/studies/overfit_dropout.net --test --val-subset 2000
  netlang sweep specs/studies/with_batchnorm.net specs/studies/without_batchnorm.net --set init=std:1:1e-4:log16

Several SPECs are variants of the network (with and without batchnorm, say); a --set with several values
(A,B,C, or LOW:HIGH:logN for N values evenly spaced in the exponent, with a prefix such as std: kept) is
swept, and specs and swept fields give every combination. A --set with one value is fixed for all variants.
A spec's own train section applies to its variants, the --set values over it. A spec's lr applies to every
optimizer; --set lr=auto gives each optimizer its own default (0.01 for sgd, momentum, nesterov, adagrad;
0.001 for rmsprop, adam). Every variant uses the same seed, the same training samples in the same order,
and is scored on the same validation split (data, val_split, seed and train_subset must agree).

Each epoch measures the training accuracy by a pass over the training samples in inference mode, as the
seeds do (--set measure=val measures only the running mean over the epoch's batches instead); --test also
measures the test set after each epoch, for the picture only: nothing is chosen on it.

OUT (default runs/sweep-<first spec's name>) receives curves.json (every variant's per-step training loss
and per-epoch training, validation and test accuracy and loss) and curves.png (a grid of small plots, one per
value of one axis, when the sweep has two)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC",
                        help="the network: a spec (.net) or IR (.json) file; several specs are variants")
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
    parser.add_argument("--test", action="store_true",
                        help="also measure test accuracy after each epoch (reported and drawn, never used to choose)")
    parser.add_argument("--out", metavar="DIR", help="where curves go (default runs/sweep-<spec name>)")
    parser.add_argument("--no-plot", action="store_true", help="skip curves.png")


def run(args: argparse.Namespace) -> int:
    from netlang.commands._common import write_atomically
    from netlang.data import check_against
    from netlang.experiments.specfile import default_out_dir, read_spec
    from netlang.experiments.sweep import (
        dimensions,
        parse_settings,
        run_sweep,
        shared_base,
        spec_labels,
        variants,
    )
    from netlang.experiments.training import experiment_split
    from netlang.train.rundir import refuse_symlinks
    from netlang.train.session import check_data_flag, n_outputs

    if args.specs.count("-") > 1:
        raise UsageError("standard input (-) can be read once: give it as one SPEC at most")
    swept, fixed = parse_settings(args.settings, need_swept=len(args.specs) == 1)
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, received {args.epochs}")
        fixed["epochs"] = str(args.epochs)
    for option, value in (("--train-subset", args.train_subset), ("--val-subset", args.val_subset)):
        if value < 0:
            raise UsageError(f"{option} must be 0 (all) or more, received {value}")
    if "measure" in swept:
        raise UsageError("--set measure: what is measured cannot vary between variants; give one value")
    if args.test:
        if fixed.get("measure", "train+test") not in ("test", "train+test"):
            raise UsageError(f"--test measures the test set, but --set measure={fixed['measure']} does not")
        fixed.setdefault("measure", "train+test")
    fixed.setdefault("measure", "train")
    check_data_flag(fixed.get("data"), "--set data")
    irs = [read_spec(spec)[0] for spec in args.specs]
    labels = spec_labels(args.specs)
    base = shared_base(irs, labels, fixed)
    split, dataset = experiment_split(irs[0], base, args.train_subset or None, args.val_subset or None,
                                      with_test="test" in base["measure"].split("+"))
    for ir in irs[1:]:
        check_against(dataset, ir["input"]["shape"], n_outputs(ir))
    combinations = variants(swept)
    out_dir = Path(args.out) if args.out else default_out_dir("sweep", args.specs[0])
    refuse_symlinks(out_dir, ("curves.json", "curves.png"))
    print(
        f"sweeping {', '.join(args.specs)} on {dataset.name}: {len(irs) * len(combinations)} variants of "
        f"{base['epochs']} epochs, seed {base['seed']}, {len(split.x_train)} training and {len(split.x_val)} "
        f"validation samples" + (f", {len(split.x_test)} test samples (reported only)" if len(split.x_test) else ""),
        flush=True,
    )

    def report(record: dict[str, Any]) -> None:
        print("  " + _variant_line(record), flush=True)

    curves = run_sweep(list(zip(labels, irs, strict=True)), fixed, combinations, split, on_variant=report)
    axes = dimensions(args.specs, swept)
    data = {"spec": str(args.specs[0]), "specs": [str(spec) for spec in args.specs], "data": dataset.name,
            "seed": base["seed"], "train_samples": len(split.x_train), "swept": swept, "dimensions": axes,
            "fixed": fixed, "variants": curves}
    _print_learned(curves, axes, split.y_train)
    write_atomically(out_dir / "curves.json", json.dumps(data) + "\n")
    print(f"curves in {out_dir / 'curves.json'}")
    if not args.no_plot:
        names = " vs ".join(labels) if len(labels) > 1 else Path(str(args.specs[0])).name
        title = f"{names} on {dataset.name} ({len(split.x_train):,} training samples), seed {base['seed']}"
        _draw(curves, axes, title, out_dir / "curves.png")
    return 0


def _variant_line(record: dict[str, Any]) -> str:
    from netlang.experiments.sweep import training_accuracy
    from netlang.experiments.training import TOO_LARGE, failure_label

    text = f"{record['label']:<28}"
    last = record["epochs"][-1] if record["epochs"] else None
    if last is not None:
        text += f" train_loss {last['train_loss']:.4f}"
        train_acc = training_accuracy(last)
        if train_acc is not None:
            text += f"  train_acc {100 * train_acc:6.2f}%"
        if last["val_acc"] is not None:
            text += f"  val_loss {last['val_loss']:.4f}  val_acc {100 * last['val_acc']:6.2f}%"
        if last.get("test_acc") is not None:
            text += f"  test_acc {100 * last['test_acc']:6.2f}%"
    if record["error"]:
        text += f"  {failure_label(record['error'])}: {record['error'].removeprefix(TOO_LARGE)}"
    return text + f"  {record['seconds']:.1f}s"


def _print_learned(curves: list[dict[str, Any]], axes: list[dict[str, Any]], labels: Any) -> None:
    """With two axes: how many variants of each line (the shorter axis's values) learned at all."""
    from netlang.experiments.sweep import LEARNED_MARGIN, axis_value, chance_accuracy, grid_axes, learned

    if len(axes) != 2:
        return
    _, line_axis = grid_axes(axes)
    chance = chance_accuracy(labels)
    print(f"learned at all (final training accuracy at least {100 * (chance + LEARNED_MARGIN):.1f}%, "
          f"{100 * LEARNED_MARGIN:.0f} points above always answering the commonest class):")
    for value in axes[line_axis]["values"]:
        mine = [record for record in curves if axis_value(record, axes[line_axis]["name"]) == value]
        count = sum(learned(record, chance) for record in mine)
        print(f"  {axes[line_axis]['name']} {value}: {count} of {len(mine)}")


def _draw(curves: list[dict[str, Any]], axes: list[dict[str, Any]], title: str, path: Path) -> None:
    from netlang.plots import MissingMatplotlib
    from netlang.plots.curves import draw_grid, draw_sweep

    try:
        as_grid = len(axes) == 2 and max(len(axis["values"]) for axis in axes) <= GRID_MAX_PLOTS
        picture = draw_grid(curves, axes, title, path) if as_grid else draw_sweep(curves, title, path)
        print(f"picture: {picture}")
    except MissingMatplotlib as err:
        print(f"netlang: {err.message}", file=sys.stderr)
