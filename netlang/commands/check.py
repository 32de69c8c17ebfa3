"""`netlang check SPEC...`: silent with exit 0 when every spec is valid; located errors otherwise."""

from __future__ import annotations

import argparse
import sys

from netlang.commands._common import load_spec
from netlang.errors import NetlangError

NAME = "check"
HELP = "check specs for errors (silent when they are valid)"
EXAMPLES = """example:
  netlang check specs/*.net"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec (.net) or IR (.json) files; - for stdin")


def run(args: argparse.Namespace) -> int:
    worst = 0
    for spec in args.specs:
        try:
            load_spec(spec)
        except NetlangError as err:
            print(err.format(), file=sys.stderr)
            worst = max(worst, err.exit_code)
    return worst
