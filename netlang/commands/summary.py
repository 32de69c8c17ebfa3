"""`netlang summary SPEC`: every layer's output shape, parameters and MACs, as a table or as JSON."""

from __future__ import annotations

import argparse
import json

from netlang.commands._common import load_spec
from netlang.errors import UsageError
from netlang.language.report import summary_data, summary_table

NAME = "summary"
HELP = "print each layer's output shape, parameter count and MACs, then the totals"
EXAMPLES = """examples:
  netlang summary specs/simple_convnet.net
  netlang summary --json specs/simple_convnet.net
  netlang summary --depth 0 specs/resnet.net     # one row per top-level group or block use"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--depth", type=int, metavar="N",
        help="fold the groups and block uses nested deeper than N (0: every top-level group) into one row each",
    )


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise UsageError(f"--depth must be 0 or more, received {args.depth}")
    ir = load_spec(args.spec)
    if args.json:
        print(json.dumps(summary_data(ir), indent=2))
    else:
        print(summary_table(ir, depth=args.depth))
    return 0
