"""netlang's two engines side by side: ms per training step of the NumPy engine and the torch engine (CPU).

    python bench/engines.py                       # every spec of specs/, float32, batch 100
    python bench/engines.py --nets digits_convnet simple_convnet --steps 40
    (netlang installed, or PYTHONPATH=. from the repository root; needs torch)

A step is what `netlang train` runs: model.loss_and_gradients plus netlang's Adam update (on torch tensors for
the torch engine), on a fixed random batch. The engines take turns in rounds of 5 timed steps (after one
untimed) in this one process, so machine load hits both alike; each figure is the median over all its steps,
and the ratio the median over rounds of the ratio of the two engines' round medians. `netlang bench SPEC
--engine torch` prints the same figures for one engine at a time.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from rounds import alternate_rounds

from netlang.commands.gradcheck import random_targets
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training
from netlang.train.optimizers import Adam
from netlang.train.session import build_model

SPECS = Path(__file__).resolve().parents[1] / "specs"


def step_function(spec: Path, engine: str, batch: int):
    """A closure running one training step of `engine` on a fixed random batch."""
    ir = compile_ir(spec)
    config = {**resolve_training(ir), "seed": 0}
    config["loss"] = config["loss"] or "auto"
    model = build_model(ir, config, "float32", engine, "cpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *ir["input"]["shape"])).astype(np.float32)
    t = random_targets(model, (batch, *ir["layers"][-1]["out_shape"]), rng)
    optimizer = Adam(lr=1e-3, xp=model.xp)

    def step() -> None:
        _, grads, _ = model.loss_and_gradients(x, t)
        optimizer.update(model.params, grads)

    return step


def side_by_side(spec: Path, steps: int, batch: int) -> tuple[dict[str, float], float]:
    """(median ms per step of each engine, median over rounds of numpy's round median / torch's)."""
    steppers = {engine: step_function(spec, engine, batch) for engine in ("numpy", "torch")}
    times, rounds = alternate_rounds(steppers, steps, warmup=2)
    ratios = [medians["numpy"] / medians["torch"] for medians in rounds]
    return {name: statistics.median(values) for name, values in times.items()}, statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="*", help="spec names in specs/ without .net (default: all)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per engine (default 20)")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    names = args.nets or sorted(path.stem for path in SPECS.glob("*.net"))
    print(f"{'spec':<22} {'numpy ms':>9} {'torch ms':>9} {'numpy/torch':>12}")
    for name in names:
        medians, ratio = side_by_side(SPECS / f"{name}.net", args.steps, args.batch)
        print(f"{name:<22} {medians['numpy']:>9.1f} {medians['torch']:>9.1f} {ratio:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
