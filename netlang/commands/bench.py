"""`netlang bench SPEC`: milliseconds per training step and inference images per second on random data."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from netlang.commands._common import load_spec

if TYPE_CHECKING:  # numpy and the backend load inside run(), so that `netlang --help` starts fast
    import numpy as np

    from netlang.backend import Model

NAME = "bench"
HELP = "time training steps (forward + backward + Adam) and inference of a network on random data"
EXAMPLES = """examples:
  netlang bench specs/simple_convnet.net
  netlang bench specs/deep_convnet.net --steps 30 --batch 100
  OPENBLAS_NUM_THREADS=2 netlang bench specs/simple_convnet.net
  netlang bench specs/simple_convnet.net --engine torch --device cpu

A training step is model.loss_and_gradients plus an Adam update; figures are medians over --steps."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("--batch", type=int, default=100, help="training batch size (default 100)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--images", type=int, default=2000, help="images per inference pass (default 2000)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=("numpy", "torch"), default="numpy",
                        help="the engine to time: numpy (default) or torch")
    parser.add_argument("--device", metavar="DEVICE",
                        help="with --engine torch: auto (default), cpu, cuda, cuda:N or mps")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def time_training_steps(model: Model, x: np.ndarray, t: np.ndarray, steps: int, warmup: int) -> list[float]:
    """Seconds per step of loss_and_gradients + Adam, after `warmup` untimed steps."""
    from netlang.train.optimizers import Adam

    optimizer = Adam(lr=1e-3, xp=model.xp)
    finish = getattr(model, "synchronize", lambda: None)  # a GPU computes on after a call returns
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        _, grads, _ = model.loss_and_gradients(x, t)
        optimizer.update(model.params, grads)
        finish()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def time_inference(model: Model, images: np.ndarray, repeats: int = 3) -> float:
    """Best of `repeats` passes of model.predict over `images`, in seconds."""
    model.predict(images[: min(len(images), 100)])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(images)
        best = min(best, time.perf_counter() - start)
    return best


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from netlang.commands.gradcheck import random_targets
    from netlang.errors import UsageError
    from netlang.language.trainfields import resolve_training
    from netlang.train.session import build_model

    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.images < 1:
        raise UsageError("--batch, --steps and --images must be at least 1, --warmup at least 0")
    if args.engine != "torch" and args.device is not None:
        raise UsageError(f"--device {args.device} chooses where --engine torch runs; add --engine torch")
    device = "cpu"
    if args.engine == "torch":
        from netlang.targets.torch_engine import resolve_device

        device = resolve_device(args.device or "auto")
    ir = load_spec(args.spec)
    config = {**resolve_training(ir), "seed": args.seed}
    model = build_model(ir, config, args.dtype, args.engine, device)
    rng = np.random.default_rng(args.seed)
    input_shape = tuple(ir["input"]["shape"])
    x = rng.standard_normal((args.batch,) + input_shape).astype(args.dtype)
    t = random_targets(model, (args.batch,) + tuple(ir["layers"][-1]["out_shape"]), rng)
    steps = time_training_steps(model, x, t, args.steps, args.warmup)
    images = rng.standard_normal((args.images,) + input_shape).astype(args.dtype)
    seconds = time_inference(model, images)
    where = f" on {device}" if args.engine == "torch" else ""
    print(f"{args.spec}: {ir['totals']['params']:,} parameters, {args.dtype}, batch {args.batch}, "
          f"{args.engine} engine{where}")
    print(
        f"training step (forward + backward + Adam): {1e3 * median(steps):.1f} ms median, "
        f"{1e3 * min(steps):.1f} ms best of {args.steps}"
    )
    print(f"inference: {args.images / seconds:,.0f} images/s ({args.images} images, batches of 1000)")
    return 0
