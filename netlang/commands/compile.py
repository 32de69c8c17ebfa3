"""`netlang compile SPEC -o OUT`: write the validated, shape-inferred IR as JSON, or the canonical spec text."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netlang.commands._common import load_spec, write_atomically
from netlang.errors import UsageError

NAME = "compile"
HELP = "write the validated, shape-inferred IR as JSON, or the network as canonical spec text"
EXAMPLES = """examples:
  netlang compile specs/simple_convnet.net -o simple_convnet.json
  netlang compile simple_convnet.json -o simple_convnet.net     # back to spec text
  netlang compile specs/simple_convnet.net --format spec        # to standard output
  netlang compile model.onnx -o model.net                       # also writes model.npz, its weights

An ONNX file's weights are written next to OUT, as OUT with the suffix .npz (what eval and predict read
with --weights)."""

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net), IR (.json) or ONNX (.onnx) file; - for stdin")
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
    weights = None
    if args.spec.endswith(".onnx") and args.output:
        weights = Path(args.output).with_suffix(".npz")
        if weights == Path(args.output):
            raise UsageError(f"-o {args.output}: the weights of an ONNX file go to OUT with the suffix .npz; "
                             "name OUT .net or .json")
    if weights is not None:
        from netlang.backend.checkpoint import write_checkpoint
        from netlang.language.compiler import compile_onnx

        if not Path(args.spec).is_file():
            raise UsageError(f"{args.spec}: no such file")
        ir, tensors = compile_onnx(Path(args.spec))
    else:
        ir = load_spec(args.spec)
    text = to_spec_text(ir) if fmt == "spec" else json.dumps(ir, indent=1) + "\n"
    if args.output:
        write_atomically(args.output, text)
    if weights is not None:
        try:
            write_checkpoint(weights, tensors, ir)
        except OSError as err:
            raise UsageError(f"{weights}: cannot write it ({err.strerror or err})") from None
    else:
        print(text, end="")
    return 0
