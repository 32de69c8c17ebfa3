"""`netlang summary SPEC`: every layer's output shape, parameters and MACs, as a table or as JSON."""

from __future__ import annotations

import argparse
import json

from netlang.commands._common import load_spec
from netlang.language.report import summary_data, summary_table

NAME = "summary"
HELP = "print each layer's output shape, parameter count and MACs, then the totals"
EXAMPLES = """examples:
  netlang summary specs/simple_convnet.net
  netlang summary --json specs/simple_convnet.net"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    ir = load_spec(args.spec)
    if args.json:
        print(json.dumps(summary_data(ir), indent=2))
    else:
        print(summary_table(ir))
    return 0
