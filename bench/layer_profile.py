"""Per-layer forward and backward times of one training step, as medians over repeated steps.

The step is unsharded: one thread takes the whole batch through the layers, with BLAS on all its threads (a
model's loss_and_gradients shards large batches over threads; see netlang/backend/parallel.py).

    python bench/layer_profile.py specs/deep_convnet.net [--steps 30] [--batch 100] [--threads 2]
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

Layers are listed in the order the model runs them (see netlang/backend/schedule.py), each with its conv
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


def main() -> None:
    from netlang.backend import build
    from netlang.backend.losses import LOSSES
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
    # model.loss_and_gradients, unrolled to time each layer.
    for _ in range(WARMUP + args.steps):
        out = model._input(x)
        for layer in model.body:
            start = time.perf_counter()
            out = layer.forward(out, True)
            forward[layer.name].append(time.perf_counter() - start)
        _, _, dout = LOSSES[model.loss_name](out, t)
        for layer in reversed(model.body):
            start = time.perf_counter()
            dout = layer.backward(dout)
            backward[layer.name].append(time.perf_counter() - start)
            if dout is None:
                break
        grads = {f"{layer.name}.{k}": layer.grads[k] for layer in model.layers for k in layer.params}
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
