"""`netlang activations SPEC`: how a batch's activations spread through a freshly initialised network."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netlang.errors import DataError, UsageError

NAME = "activations"
HELP = "Push a batch through the freshly initialised network and show every layer's activation distribution."
EXAMPLES = """examples:
  netlang activations specs/digits_convnet.net
  netlang activations specs/multilayer_bn.net --init std:0.01,he --set data=fashion-mnist
  netlang activations specs/sigmoid_5x100.net --input normal --init std:1,std:0.01,xavier

For each initialiser (--init, comma-separated; default the spec's) the table gives every layer's mean,
standard deviation, and the fraction saturated (sigmoid below 0.01 or above 0.99, |tanh| above 0.99) or
dead (relu exactly 0). The picture has one row per initialiser and one histogram per hidden activation
layer (30 bins; relu's zeros are counted in the dead fraction, not drawn). The batch is the first --batch
training samples of the spec's data set, or standard-normal inputs with --input normal, as in the seeds'
study. Dropout is off; batchnorm uses the batch's statistics.

OUT (default runs/activations-<spec name>) receives activations.json (the statistics and histogram
counts) and activations.png."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file")
    parser.add_argument("--init", metavar="SCHEMES", help="initialisers to compare: std:1,std:0.01,xavier,he,...")
    parser.add_argument(
        "--input", choices=("data", "normal"), default="data",
        help="the batch: training samples of the spec's data set, or standard-normal values (default data)",
    )
    parser.add_argument("--batch", type=int, default=1000, metavar="N", help="batch size (default 1000)")
    parser.add_argument(
        "--set", action="append", default=[], dest="settings", metavar="KEY=VALUE",
        help="override a training field (data, seed); repeatable",
    )
    parser.add_argument("--out", metavar="DIR", help="where results go (default runs/activations-<spec name>)")
    parser.add_argument("--no-plot", action="store_true", help="skip activations.png")


def run(args: argparse.Namespace) -> int:
    from netlang.commands._common import write_atomically
    from netlang.commands.train import overrides_of
    from netlang.experiments.activations import parse_inits, pictured_layers, study
    from netlang.experiments.specfile import default_out_dir, read_spec, spec_label
    from netlang.language.trainfields import resolve_training
    from netlang.train.rundir import refuse_symlinks
    from netlang.train.session import check_data_flag

    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, received {args.batch}")
    inits = parse_inits(args.init)
    overrides = overrides_of(argparse.Namespace(settings=args.settings))
    check_data_flag(overrides.get("data"), "--set data")
    ir, _ = read_spec(args.spec)
    config = resolve_training(ir, overrides)
    x, source = _batch(ir, config, args.input, args.batch)
    result = study(ir, config, x, inits)
    result["input"] = source
    for init in result["inits"]:
        print(f"init {init['init']}  ({len(x)} samples of {source}, seed {config['seed']})")
        print(format_table(init["layers"]))
        print()
    out_dir = Path(args.out) if args.out else default_out_dir("activations", args.spec)
    refuse_symlinks(out_dir, ("activations.json", "activations.png"))
    write_atomically(out_dir / "activations.json", json.dumps(result) + "\n")
    print(f"statistics and histograms in {out_dir / 'activations.json'}")
    if not args.no_plot:
        title = f"{spec_label(args.spec)}: activations of {len(x)} samples of {source}"
        _draw(result, pictured_layers(result), title, out_dir / "activations.png")
    return 0


def _batch(ir: dict[str, Any], config: dict[str, Any], kind: str, size: int) -> tuple[Any, str]:
    from netlang.data import check_against, load_dataset
    from netlang.experiments.activations import normal_batch
    from netlang.train.session import n_outputs

    if kind == "normal":
        return normal_batch(ir["input"]["shape"], size, config["seed"]), "N(0, 1) inputs"
    try:
        dataset = check_against(load_dataset(config["data"]), ir["input"]["shape"], n_outputs(ir))
    except DataError as err:
        err.message += "; --input normal feeds standard-normal values instead"
        raise
    return dataset.x_train[:size], dataset.name


def format_table(layers: list[dict[str, Any]]) -> str:
    """One row per layer: name, op, shape, mean, std, saturated and dead fractions ('-' where n/a)."""
    rows = [["layer", "op", "shape", "mean", "std", "saturated", "dead"]]
    for layer in layers:
        rows.append([
            layer["name"], layer["op"], "x".join(str(size) for size in layer["shape"]),
            f"{layer['mean']:.4f}", f"{layer['std']:.4f}",
            "-" if layer["saturated"] is None else f"{100 * layer['saturated']:.1f}%",
            "-" if layer["dead"] is None else f"{100 * layer['dead']:.1f}%",
        ])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) if column < 3 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _draw(result: dict[str, Any], columns: list[int], title: str, path: Path) -> None:
    from netlang.plots import MissingMatplotlib
    from netlang.plots.histograms import draw_activations

    try:
        print(f"picture: {draw_activations(result, columns, title, path)}")
    except MissingMatplotlib as err:
        print(f"netlang: {err.message}", file=sys.stderr)
