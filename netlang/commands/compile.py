"""`netlang compile SPEC -o OUT.json`: write the validated, shape-inferred IR."""

from __future__ import annotations

import argparse
import json

from netlang.commands._common import load_spec, write_atomically

NAME = "compile"
HELP = "write the validated, shape-inferred IR as JSON"
EXAMPLES = """examples:
  netlang compile specs/simple_convnet.net -o simple_convnet.json
  netlang compile specs/simple_convnet.net        # to standard output"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("-o", "--output", metavar="OUT.json", help="where to write the IR (default: stdout)")


def run(args: argparse.Namespace) -> int:
    text = json.dumps(load_spec(args.spec), indent=1) + "\n"
    if args.output:
        write_atomically(args.output, text)
    else:
        print(text, end="")
    return 0
