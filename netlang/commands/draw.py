"""`netlang draw SPEC -o net.svg`: the network as an SVG diagram, a box per layer, branches side by side."""

from __future__ import annotations

import argparse

from netlang.commands._common import load_spec, write_atomically
from netlang.errors import UsageError

NAME = "draw"
HELP = "draw the network as an SVG diagram: a box per layer, branches side by side, repeats folded as ×N"
EXAMPLES = """examples:
  netlang draw specs/resnet.net -o resnet.svg
  netlang draw --depth 0 specs/resnet.net -o resnet.svg     # one box per top-level group or block use

Each box shows a layer's op, name, output shape and parameters (hover for its MACs). Successive copies that
are identical in all of that are drawn once, framed with ×N."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write the SVG (default: stdout)")
    parser.add_argument(
        "--depth", type=int, metavar="N",
        help="fold the groups and block uses nested deeper than N (0: every top-level group) into one box each",
    )


def run(args: argparse.Namespace) -> int:
    from netlang.draw import draw_svg

    if args.depth is not None and args.depth < 0:
        raise UsageError(f"--depth must be 0 or more, received {args.depth}")
    svg = draw_svg(load_spec(args.spec), depth=args.depth)
    if args.output and args.output != "-":
        write_atomically(args.output, svg)
    else:
        print(svg, end="")
    return 0
