"""Per-layer forward and backward times of one training step, as medians over repeated steps.

The step is unsharded: one thread takes the whole batch through the layers, with BLAS on all its threads (a
model's loss_and_gradients shards large batches over threads; see netlang/backend/parallel.py).

    python bench/layer_profile.py specs/deep_convnet.net [--steps 30] [--batch 100] [--threads 2]
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

Layers are listed in the order the model runs them (see netlang/backend/plan.py), each with its conv
column layout where it has one ("+relu": it applies the relu after it itself, which is then not listed).
Times are in ms; the first few steps (warm-up) are left out.
"""

from __future__ import annotations

from threads import threads_from_argv

THREADS = threads_from_argv()  # before NumPy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

WARMUP = 5


def timed(method, times: list[float]):
    """`method`, appending the seconds each call takes to `times`."""

    def call(*args):
        start = time.perf_counter()
        result = method(*args)
        times.append(time.perf_counter() - start)
        return result

    return call


def main() -> None:
    from netlang.backend import build
    from netlang.language.compiler import compile_ir
    from netlang.train.optimizers import Adam

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--steps", type=int, default=30, help="timed steps (30)")
    parser.add_argument("--batch", type=int, default=100, help="batch size (100)")
    parser.add_argument("--threads", default=THREADS, help="BLAS threads (2)")
    args = parser.parse_args()

    model = build(compile_ir(args.spec), dtype="float32", seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch,) + tuple(model.ir["input"]["shape"])).astype(np.float32)
    t = rng.integers(0, model.layers[-1].out_shape[0], size=args.batch)
    optimizer = Adam(lr=1e-3)
    forward = {layer.name: [] for layer in model.body}
    backward = {layer.name: [] for layer in model.body}
    update = []
    for layer in model.body:  # each layer's forward and backward timed where the model calls them
        layer.forward = timed(layer.forward, forward[layer.name])
        layer.backward = timed(layer.backward, backward[layer.name])
    model.max_shards = 1
    for _ in range(WARMUP + args.steps):
        _, grads, _ = model.loss_and_gradients(x, t)
        start = time.perf_counter()
        optimizer.update(model.params, grads)
        update.append(time.perf_counter() - start)

    def ms(times: list[float]) -> float:
        return 1e3 * statistics.median(times[WARMUP:]) if len(times) > WARMUP else 0.0

    print(f"{args.spec}: float32, batch {args.batch}, threads {THREADS}; median ms over {args.steps} steps")
    print(f"{'layer':<12} {'layout':<14} {'forward':>8} {'backward':>9}")
    total = ms(update)
    for layer in model.body:
        total += ms(forward[layer.name]) + ms(backward[layer.name])
        layout = getattr(layer, "layout", "") + ("+relu" if getattr(layer, "fused_relu", False) else "")
        print(f"{layer.name:<12} {layout:<14} {ms(forward[layer.name]):>8.2f} {ms(backward[layer.name]):>9.2f}")
    print(f"{'adam':<27} {ms(update):>8.2f}")
    print(f"{'sum':<27} {total:>8.2f}")


if __name__ == "__main__":
    main()
