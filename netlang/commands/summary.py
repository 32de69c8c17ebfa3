"""`netlang summary SPEC`: every layer's output shape, parameters and MACs, as a table or as JSON."""

from __future__ import annotations

import argparse
import json

from netlang.commands._common import load_spec
from netlang.errors import UsageError
from netlang.language.report import summary_data, summary_table
from netlang.memory.forecast import OPTIMIZER_SLOTS as OPTIMIZERS
from netlang.memory.forecast import training_forecast
from netlang.memory.report import memory_table

NAME = "summary"
HELP = "print each layer's output shape, parameter count and MACs, then the totals"
EXAMPLES = """examples:
  netlang summary specs/simple_convnet.net
  netlang summary --json specs/simple_convnet.net
  netlang summary --depth 0 specs/resnet.net     # one row per top-level group or block use
  netlang summary --batch 100 --optimizer adam specs/simple_convnet.net   # + a training step's memory"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--depth", type=int, metavar="N",
        help="fold the groups and block uses nested deeper than N (0: every top-level group) into one row each",
    )
    parser.add_argument(
        "--batch", type=int, metavar="N",
        help="also forecast the memory of a training step on N examples: total, by kind and by layer",
    )
    parser.add_argument(
        "--optimizer", choices=OPTIMIZERS, metavar="NAME",
        help=f"the optimizer of that step ({', '.join(OPTIMIZERS)}; default: the spec's train section's)",
    )


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise UsageError(f"--depth must be 0 or more, received {args.depth}")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be 1 or more, received {args.batch}")
    if args.optimizer is not None and args.batch is None:
        raise UsageError("--optimizer sets the optimizer of the step --batch N forecasts; give --batch too")
    ir = load_spec(args.spec)
    forecast = None if args.batch is None else training_forecast(ir, args.batch, args.optimizer)
    if args.json:
        data = summary_data(ir)
        if forecast is not None:
            data["memory"] = forecast
        print(json.dumps(data, indent=2))
    else:
        text = summary_table(ir, depth=args.depth)
        print(text if forecast is None else f"{text}\n\n{memory_table(forecast)}")
    return 0
