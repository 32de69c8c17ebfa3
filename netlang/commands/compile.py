"""`netlang compile SPEC -o OUT`: write the validated, shape-inferred IR as JSON, or the canonical spec text."""

from __future__ import annotations

import argparse
import json

from netlang.commands._common import load_spec, write_atomically

NAME = "compile"
HELP = "write the validated, shape-inferred IR as JSON, or the network as canonical spec text"
EXAMPLES = """examples:
  netlang compile specs/simple_convnet.net -o simple_convnet.json
  netlang compile simple_convnet.json -o simple_convnet.net     # back to spec text
  netlang compile specs/simple_convnet.net --format spec        # to standard output"""

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write it (default: stdout)")
    parser.add_argument(
        "--format", choices=("json", "spec"),
        help="json (the IR) or spec (canonical spec text); default: spec for an OUT ending in .net, else json",
    )


def run(args: argparse.Namespace) -> int:
    from netlang.language.printer import to_spec_text

    fmt = args.format
    if fmt is None:
        fmt = "spec" if args.output and args.output.endswith(".net") else "json"
    ir = load_spec(args.spec)
    text = to_spec_text(ir) if fmt == "spec" else json.dumps(ir, indent=1) + "\n"
    if args.output:
        write_atomically(args.output, text)
    else:
        print(text, end="")
    return 0
