"""Time compiling a large network, as a spec and as an IR file (issue 13: validation must stay fast).

    python bench/large_network.py [--layers 1000 5000 9998] [--runs 3]

For each size, a spec `(affine 10 -> relu) * N/2` and the IR file `netlang compile` writes from it are compiled
in-process; prints the best time of each and the time per layer. Before issue 13, schema validation alone cost
about 1 ms per layer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from netlang.language.compiler import compile_ir


def best_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[1000, 5000, 9998])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for layers in args.layers:
            spec = f"input 784\n(affine 10 -> relu) * {layers // 2}\n"
            ir_file = Path(folder) / f"large{layers}.json"
            ir_file.write_text(json.dumps(compile_ir(spec)), encoding="utf-8")
            for kind, source in (("spec", spec), ("IR file", ir_file)):
                seconds = best_time(lambda source=source: compile_ir(source), args.runs)
                print(f"{layers:6d} layers, {kind:7s}: {seconds:6.2f} s  ({seconds / layers * 1e3:.3f} ms per layer)")


if __name__ == "__main__":
    main()
