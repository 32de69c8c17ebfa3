"""Time the editor's analysis (every error, netlang/language/diagnostics.py) against the compiler's own stages
(first error only), on the example specs and on generated specs of growing size with 0, 1 and 50 errors.

    python bench/lsp_analysis.py [--runs 3]

Prints milliseconds (the best of the runs) per spec, and the analysis' time as a multiple of the compiler's.
What `netlang lsp` does on each change is the analysis; MAX_LIVE_SPEC_BYTES (netlang/limits.py) bounds it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from netlang.errors import NetlangError
from netlang.language.compiler import SPEC_STAGES
from netlang.language.diagnostics import analyze
from netlang.limits import MAX_LIVE_SPEC_BYTES

ROOT = Path(__file__).resolve().parents[1]


def compile_first_error(text: str) -> None:
    value = text
    try:
        for stage in SPEC_STAGES:
            value = stage(value, "bench.net")
    except NetlangError:
        pass


def best_ms(function, text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(text)
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def generated(size: int, errors: int) -> str:
    """A spec of about `size` bytes, one small pipeline per line, with `errors` misspelt layers spread over it."""
    line = "affine 64 -> batchnorm -> relu\n"
    count = max(1, size // len(line))
    lines = [line] * count
    for index in range(errors):
        at = (index + 1) * count // (errors + 1)
        lines[at] = "affine 64 -> batchnorm -> reul\n"
    return "input 784\n" + "".join(lines) + "affine 10 -> softmax\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    analyze("input 4\naffine 2\n")  # imports and caches (grammar, schema) out of the way
    print(f"{'spec':34} {'bytes':>8} {'errors':>6} {'compile ms':>11} {'analyze ms':>11} {'ratio':>6}")
    cases = [(path.name, path.read_text(encoding="utf-8")) for path in sorted((ROOT / "specs").glob("*.net"))]
    for size in (8 * 1024, 32 * 1024, MAX_LIVE_SPEC_BYTES):
        for errors in (0, 1, 50):
            cases.append((f"generated {size // 1024} KiB, {errors} errors", generated(size, errors)))
    for name, text in cases:
        compiled = best_ms(compile_first_error, text, args.runs)
        analysed = best_ms(analyze, text, args.runs)
        found = len(analyze(text, name).errors)
        print(f"{name:34} {len(text):>8,} {found:>6} {compiled:>11.1f} {analysed:>11.1f} {analysed / compiled:>6.2f}")


if __name__ == "__main__":
    main()
