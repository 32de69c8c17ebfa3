"""Training steps sharded over threads against unsharded ones (BLAS on one thread, as every step runs it), side by side.

    python bench/sharding.py [specs/deep_convnet.net] [--rounds 20] [--threads 2]
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

Two copies of the model take turns in rounds of 5 timed steps (after one untimed), in this one process: one
with `max_shards = 1`, one as built. Prints each round's medians as it goes, then the medians over all rounds
and the median per-round ratio. See netlang/backend/parallel.py for why sharding helps.
"""

from __future__ import annotations

from threads import threads_from_argv

THREADS = threads_from_argv()  # before NumPy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROUND_STEPS = 5


def main() -> None:
    from netlang.backend import build
    from netlang.commands.bench import time_training_steps
    from netlang.commands.gradcheck import random_targets
    from netlang.language.compiler import compile_ir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, nargs="?", default=Path(__file__).parents[1] / "specs/deep_convnet.net")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of 5 steps each (20)")
    parser.add_argument("--batch", type=int, default=100, help="batch size (100)")
    parser.add_argument("--threads", default=THREADS, help="BLAS threads (2)")
    args = parser.parse_args()

    ir = compile_ir(args.spec)
    models = {"unsharded": build(ir, seed=0), "sharded": build(ir, seed=0)}
    models["unsharded"].max_shards = 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch,) + tuple(ir["input"]["shape"])).astype(np.float32)
    t = random_targets(models["sharded"], (args.batch,) + tuple(ir["layers"][-1]["out_shape"]), rng)

    print(f"{args.spec}: float32, batch {args.batch}, threads {args.threads}; ms per training step")
    times: dict[str, list[float]] = {name: [] for name in models}
    ratios = []
    for number in range(args.rounds):
        medians = {}
        for name, model in models.items():
            seconds = time_training_steps(model, x, t, steps=ROUND_STEPS, warmup=1)
            medians[name] = 1e3 * statistics.median(seconds)
            times[name].append(medians[name])
        ratios.append(medians["sharded"] / medians["unsharded"])
        print(f"round {number + 1:>3}: unsharded {medians['unsharded']:6.1f}  sharded {medians['sharded']:6.1f}")
    overall = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"median: unsharded {overall['unsharded']:.1f}  sharded {overall['sharded']:.1f}  "
        f"sharded/unsharded {statistics.median(ratios):.2f} (median per-round ratio)"
    )


if __name__ == "__main__":
    main()
