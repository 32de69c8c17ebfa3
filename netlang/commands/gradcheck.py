"""`netlang gradcheck SPEC`: the backend's gradients against central differences, per parameter (float64)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from netlang.commands._common import finite_number, load_spec

if TYPE_CHECKING:  # numpy and the backend load inside run(), so that `netlang --help` starts fast
    import numpy as np

    from netlang.backend import Model

NAME = "gradcheck"
HELP = "check the network's backward pass against central differences (float64, small random batch)"
EXAMPLES = """examples:
  netlang gradcheck specs/simple_convnet.net
  netlang gradcheck specs/deep_convnet.net --batch 2 --entries 10
  netlang gradcheck my.net --entries 0          # every entry of every parameter (slow on big nets)

Relative error = max|analytic - numeric| / max(|analytic| + |numeric|). Exit code 1 above --threshold."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("--batch", type=int, default=4, help="examples in the random batch (default 4)")
    parser.add_argument(
        "--entries", type=int, default=30, help="entries checked per parameter, at random; 0 = all (30)"
    )
    parser.add_argument("--threshold", type=finite_number, default=1e-6, help="largest passing relative error (1e-6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, batch and dropout masks (0)")


def random_targets(model: Model, outputs_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Targets that suit the model's loss: class indices, 0/1 labels, or real values."""
    if model.loss_name == "cross_entropy":
        return rng.integers(0, outputs_shape[-1], size=outputs_shape[0])
    if model.loss_name == "bce":
        return rng.integers(0, 2, size=outputs_shape).astype(float)
    return rng.standard_normal(outputs_shape)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from netlang.backend import build
    from netlang.backend.gradcheck import check_model_gradients
    from netlang.errors import UsageError
    from netlang.language.trainfields import resolve_training

    if args.batch < 1 or args.entries < 0:
        raise UsageError("--batch must be at least 1 and --entries at least 0")
    ir = load_spec(args.spec)
    config = resolve_training(ir)
    model = build(ir, loss=config["loss"], init=config["init"], dtype="float64", seed=args.seed)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch,) + tuple(ir["input"]["shape"]))
    t = random_targets(model, (args.batch,) + tuple(ir["layers"][-1]["out_shape"]), rng)
    errors = check_model_gradients(model, x, t, limit=args.entries or None, seed=args.seed)
    if not errors:
        print(f"{args.spec}: no trainable parameters, nothing to check")
        return 0
    width = max(len(name) for name in errors)
    print(f"{'parameter':<{width}}  {'shape':<16}  {'checked':>7}  {'rel. error':>10}")
    for name, error in errors.items():
        shape = "x".join(str(d) for d in model.params[name].shape)
        checked = model.params[name].size if not args.entries else min(args.entries, model.params[name].size)
        flag = "" if error <= args.threshold else "  FAIL"
        print(f"{name:<{width}}  {shape:<16}  {checked:>7}  {error:>10.2e}{flag}")
    worst = max(errors.values())
    verdict = "ok" if worst <= args.threshold else "FAILED"
    print(f"max relative error {worst:.2e} (threshold {args.threshold:.0e}, {model.loss_name} loss): {verdict}")
    return 0 if worst <= args.threshold else 1
