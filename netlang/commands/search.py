"""`netlang search SPEC --trials N`: random hyperparameter search scored on the validation split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from netlang.errors import UsageError

NAME = "search"
HELP = "Random search over training fields, each trial trained briefly and scored on the validation split."
EXAMPLES = """examples:
  netlang search specs/digits_convnet.net --trials 20
  netlang search specs/simple_convnet.net --set data=fashion-mnist --trials 30 --epochs 2 --train-subset 2000
  netlang search specs/digits_convnet.net --range lr=1e-4:1e-1:log --range batch_size=25,50,100 --jobs 2

Ranges: FIELD=LOW:HIGH:log samples 10^U(log10 LOW, log10 HIGH); FIELD=LOW:HIGH samples uniformly;
FIELD=A,B,C picks one. Without --range the search uses the seeds' ranges, lr=1e-6:1e-2:log and
weight_decay=1e-8:1e-4:log. Each trial trains --epochs epochs on the first --train-subset training
samples (after the seeded shuffle) and is scored on the validation split (val_split of the spec, or
--set val_split=F); the test set is never used.

OUT (default runs/search-<spec name>) receives trials.jsonl (one line per finished trial), search.json
(the settings), best.net (the spec with the best trial's train section) and search.png. Running the
same command again resumes: finished trials are read back, not re-run; a larger --trials adds trials.
With --jobs N, trials run in N worker processes, each with OMP/OpenBLAS/MKL threads set to 1."""

TABLE_ROWS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file")
    parser.add_argument("--trials", type=int, default=20, metavar="N", help="how many trials (default 20)")
    parser.add_argument(
        "--range", action="append", default=[], dest="ranges", metavar="FIELD=RANGE",
        help="a searched field: LOW:HIGH[:log|:linear] or A,B,C; repeatable (default: the seeds' lr and "
        "weight_decay ranges)",
    )
    parser.add_argument(
        "--set", action="append", default=[], dest="settings", metavar="KEY=VALUE",
        help="fix a training field for every trial (and the best spec); repeatable",
    )
    parser.add_argument("--epochs", type=int, default=3, metavar="N", help="epochs per trial (default 3)")
    parser.add_argument(
        "--train-subset", type=int, default=1000, metavar="N",
        help="train each trial on this many training samples; 0 for all (default 1000)",
    )
    parser.add_argument(
        "--val-subset", type=int, default=0, metavar="N",
        help="score on at most this many validation samples; 0 for all (default 0)",
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="trials run in parallel (default 1)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="the search seed: which values are drawn")
    parser.add_argument("--out", metavar="DIR", help="where results go (default runs/search-<spec name>)")
    parser.add_argument("--no-plot", action="store_true", help="skip search.png")


def run(args: argparse.Namespace) -> int:
    from netlang.commands.train import overrides_of
    from netlang.experiments.ranges import ranges_of
    from netlang.experiments.search import (
        RESULTS_FILE,
        SETTINGS_FILE,
        SearchPlan,
        ranked,
        read_results,
        run_search,
    )
    from netlang.experiments.specfile import default_out_dir, read_spec
    from netlang.experiments.training import experiment_split
    from netlang.language.trainfields import resolve_training
    from netlang.train.loop import TrainingInterrupted
    from netlang.train.rundir import refuse_symlinks
    from netlang.train.session import check_data_flag

    for option, value, least in (("--trials", args.trials, 1), ("--epochs", args.epochs, 1),
                                 ("--jobs", args.jobs, 1), ("--train-subset", args.train_subset, 0),
                                 ("--val-subset", args.val_subset, 0)):
        if value < least:
            raise UsageError(f"{option} must be at least {least}, received {value}")
    overrides = overrides_of(argparse.Namespace(settings=args.settings))
    check_data_flag(overrides.get("data"), "--set data")
    ir, text = read_spec(args.spec)
    plan = SearchPlan(
        spec=str(args.spec),
        ranges=ranges_of(ir, args.ranges),
        overrides=overrides,
        search_seed=args.seed,
        epochs=args.epochs,
        train_subset=args.train_subset or None,
        val_subset=args.val_subset or None,
    )
    plan.check()
    base = resolve_training(ir, overrides)
    split, dataset = experiment_split(ir, base, plan.train_subset, plan.val_subset)
    out_dir = Path(args.out) if args.out else default_out_dir("search", args.spec)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: is a file, not a directory; choose another --out")
    refuse_symlinks(out_dir, (RESULTS_FILE, SETTINGS_FILE, "best.net", "best.json", "search.png"))
    ranges_text = " ".join(searched.text() for searched in plan.ranges)
    print(
        f"searching {args.spec} on {dataset.name}: {args.trials} trials of {args.epochs} epochs, "
        f"{len(split.x_train)} training and {len(split.x_val)} validation samples; {ranges_text}",
        flush=True,
    )

    def report(record: dict[str, Any], done: int) -> None:
        print(f"[{done}/{args.trials}] " + _trial_line(record), flush=True)

    already = [trial for trial in read_results(out_dir / RESULTS_FILE) if trial < args.trials]
    if already:
        print(f"resuming: {len(already)} trials already in {out_dir / RESULTS_FILE}", flush=True)
    try:
        records = run_search(ir, plan, split, args.trials, out_dir, jobs=args.jobs, on_record=report)
    except (KeyboardInterrupt, TrainingInterrupted):
        raise TrainingInterrupted(
            f"search interrupted; the finished trials are in {out_dir / RESULTS_FILE}. "
            "Run the same command again to resume"
        ) from None
    order = ranked(records)
    print()
    print(format_ranking(order, plan, TABLE_ROWS))
    if len(order) > TABLE_ROWS:
        print(f"... {len(order) - TABLE_ROWS} more in {out_dir / RESULTS_FILE}")
    best = order[0] if order and order[0].get("val_acc") is not None else None
    if best is None:
        print("no trial finished (each failed as the table says: diverged, or too large for memory); "
              "try narrower ranges", file=sys.stderr)
        return 1
    best_path = _write_best(ir, text, plan, best, out_dir, len(records))
    print(f"\nbest: trial {best['trial']}, " + _values_text(best["values"])
          + f", validation accuracy {100 * best['val_acc']:.2f}%")
    print(f"results in {out_dir / RESULTS_FILE}; best configuration in {best_path}")
    if not args.no_plot:
        _draw(records, plan, out_dir / "search.png")
    return 0


def _values_text(values: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


def _trial_line(record: dict[str, Any]) -> str:
    text = f"trial {record['trial']}: {_values_text(record['values'])}"
    if record.get("val_acc") is None:
        return text + f" -> failed ({record.get('error') or 'no validation score'})"
    return text + f" -> val_acc {100 * record['val_acc']:.2f}%  val_loss {record['val_loss']:.4f}  " \
                  f"{record['seconds']:.1f}s"


def format_ranking(order: list[dict[str, Any]], plan: Any, rows: int) -> str:
    """The ranked table: rank, trial, each searched value, validation accuracy and loss, seconds."""
    names = [searched.name for searched in plan.ranges]
    header = ["rank", "trial", *names, "val_acc", "val_loss", "seconds"]
    table = [header]
    for rank, record in enumerate(order[:rows], start=1):
        accuracy = "failed" if record.get("val_acc") is None else f"{100 * record['val_acc']:.2f}%"
        loss = "-" if record.get("val_loss") is None else f"{record['val_loss']:.4f}"
        table.append([str(rank), str(record["trial"]), *(record["values"][name] for name in names),
                      accuracy, loss, f"{record['seconds']:.1f}"])
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _write_best(ir: dict[str, Any], text: str | None, plan: Any, best: dict[str, Any], out_dir: Path,
                trials: int) -> Path:
    from netlang.commands._common import write_atomically
    from netlang.experiments.search import best_config
    from netlang.experiments.specfile import ir_with_training, spec_fields, spec_with_training

    config = best_config(ir, plan, best)
    if text is None:
        path = out_dir / "best.json"
        write_atomically(path, ir_with_training(ir, config))
        return path
    names = [*spec_fields(ir)]
    names += [name for name in [*plan.overrides, *best["values"]] if name not in names]
    values = {name: best["values"].get(name, _field_text(config[name])) for name in names}
    comment = (
        f"best of {trials} trials of `netlang search` ({plan.epochs} epochs on "
        f"{plan.train_subset or 'all'} training samples each): validation accuracy {100 * best['val_acc']:.2f}%"
    )
    path = out_dir / "best.net"
    write_atomically(path, spec_with_training(text, values, comment))
    return path


def _field_text(value: Any) -> str:
    return "auto" if value is None else str(value)


def _draw(records: list[dict[str, Any]], plan: Any, path: Path) -> None:
    from netlang.plots import MissingMatplotlib
    from netlang.plots.search import draw_search

    try:
        print(f"picture: {draw_search(records, plan.ranges, path)}")
    except MissingMatplotlib as err:
        print(f"netlang: {err.message}", file=sys.stderr)
