"""The memory forecast (`netlang summary --batch N`) against the measured peak of real training steps.

    python bench/memory_forecast.py [SPEC ...] [--batches 1,32,100] [--optimizers sgd,adam] [--evaluate 1000]
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

For every spec (default: all of specs/), batch size and optimizer: the forecast's peak, the peak measured with
tracemalloc over the third step of the real training loop (netlang/memory/measure.py), their ratio, how many
shards the step ran in, and the layer the forecast says holds the most. With --evaluate N, also evaluate() on N
samples at once after the training steps at each batch size (Adam), as `train` does after each epoch. Ends with
the largest error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "specs"


def main() -> None:
    from netlang.language.compiler import compile_ir
    from netlang.language.trainfields import resolve_training
    from netlang.memory.forecast import forecast_evaluation, forecast_step
    from netlang.memory.measure import measure_evaluation, measure_step
    from netlang.memory.report import size_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, default=sorted(SPECS.glob("*.net")))
    parser.add_argument("--batches", default="1,32,100")
    parser.add_argument("--optimizers", default="sgd,adam")
    parser.add_argument("--evaluate", type=int, metavar="N", help="also evaluate N samples at once after training")
    args = parser.parse_args()
    columns = f"{'spec':20} {'batch':>5} {'optimizer':9} {'shards':>6} {'forecast':>11} {'measured':>11}"
    header = f"{columns} {'ratio':>6}  largest"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for spec in args.specs:
        ir = compile_ir(spec)
        decay = resolve_training(ir)["weight_decay"]
        for batch in (int(text) for text in args.batches.split(",")):
            for optimizer in args.optimizers.split(","):
                forecast = forecast_step(ir, batch, optimizer, weight_decay=decay)
                measured = measure_step(ir, batch, optimizer, weight_decay=decay)
                ratio = forecast["total"] / measured
                worst = max(worst, abs(ratio - 1))
                sizes = f"{size_text(forecast['total']):>11} {size_text(measured):>11}"
                print(
                    f"{spec.stem:20} {batch:5} {optimizer:9} {forecast['shards']:6} {sizes} {ratio:6.3f}  "
                    f"{forecast['dominant']}",
                    flush=True,
                )
            if args.evaluate:
                forecast = forecast_evaluation(ir, batch, args.evaluate, "adam", weight_decay=decay)
                measured = measure_evaluation(ir, batch, args.evaluate, "adam")
                ratio = forecast["total"] / measured
                worst = max(worst, abs(ratio - 1))
                sizes = f"{size_text(forecast['total']):>11} {size_text(measured):>11}"
                print(
                    f"{spec.stem:20} {batch:5} {'eval ' + str(args.evaluate):9} {forecast['shards']:6} {sizes} "
                    f"{ratio:6.3f}  {forecast['dominant']}",
                    flush=True,
                )
    print(f"largest difference: {100 * worst:.1f}%")


if __name__ == "__main__":
    main()
