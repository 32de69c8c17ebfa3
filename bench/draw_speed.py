"""Time `netlang draw` on huge generated specs, beside `netlang check` on the same spec (interpreter start-up and
compiling included), and the drawing alone in-process.

    python bench/draw_speed.py [--uses 300] [--repeat 4990] [--runs 5]

Two specs: a ResNet basic block used `--uses` times (7 layers each), and a flat `(affine 64 -> relu) * N`
of `--repeat` copies. Prints the median wall-clock time of each command, and of compile_ir and draw_svg.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOCKS = """block basic C {{
  (conv C 3x3 pad same -> batchnorm -> relu -> conv C 3x3 pad same -> batchnorm + identity) -> relu
}}
input 1x28x28
conv 16 3x3 pad same -> batchnorm -> relu
(basic 16) * {uses}
global_pool -> affine 10 -> softmax
"""
FLAT = "input 64\n(affine 64 -> relu) * {repeat}\naffine 10 -> softmax\n"


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uses", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=4990)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from netlang.draw import draw_svg
    from netlang.language.compiler import compile_ir

    with tempfile.TemporaryDirectory() as folder:
        specs = {"blocks": BLOCKS.format(uses=args.uses), "flat": FLAT.format(repeat=args.repeat)}
        for name, text in specs.items():
            spec = Path(folder) / f"{name}.net"
            spec.write_text(text)
            out = Path(folder) / f"{name}.svg"
            netlang = [sys.executable, "-m", "netlang"]
            check = median_seconds([*netlang, "check", str(spec)], args.runs)
            draw = median_seconds([*netlang, "draw", str(spec), "-o", str(out)], args.runs)
            compiled, drawn = [], []
            for _ in range(args.runs):
                start = time.perf_counter()
                ir = compile_ir(spec)
                middle = time.perf_counter()
                svg = draw_svg(ir)
                compiled.append(middle - start)
                drawn.append(time.perf_counter() - middle)
            print(f"{name}: {len(ir['layers']):,} layers, SVG {len(svg):,} bytes")
            print(f"  netlang check {check:.3f} s, netlang draw {draw:.3f} s (whole commands, medians)")
            print(f"  in-process: compile_ir {statistics.median(compiled):.3f} s, "
                  f"draw_svg {statistics.median(drawn):.3f} s (medians)")


if __name__ == "__main__":
    main()
