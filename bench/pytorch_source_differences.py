"""The largest differences between the PyTorch file `netlang export --format pytorch` writes and netlang's predict.

    python bench/pytorch_source_differences.py     # every example spec, its output and its logits
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root; needs torch)

Each network gets random weights (its initialiser's; biases, scales, shifts and slopes perturbed) and random
batchnorm running statistics, saved as netlang saves weights; the generated file's own loader reads them. A
figure is the largest absolute difference over a float standard-normal batch of 7 divided by the largest
magnitude of netlang's output, in float32 and in float64 (the module after .double(), netlang's model built in
float64 with the same weights): the relative differences tests/targets/test_pytorch_source.py holds under 1e-5
and 1e-10. A spec's figures are given for its output (probabilities) and for the network without its last layer
(the logits before the softmax).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from netlang.backend import build
from netlang.backend.gradcheck import off_start_values
from netlang.language.compiler import compile_ir
from netlang.targets.pytorch_source import generate

SPECS = Path(__file__).resolve().parents[1] / "specs"


def without_last_layer(spec: str | Path) -> dict:
    ir = copy.deepcopy(compile_ir(spec))
    ir["layers"] = ir["layers"][:-1]
    return compile_ir(ir)


def relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-300))


def largest_differences(spec: str | Path | dict, seed: int = 0) -> tuple[float, float]:
    """(float32, float64) relative differences of the exported module from netlang's predict."""
    ir = compile_ir(spec)
    model = off_start_values(build(ir, seed=seed), seed)
    model64 = build(ir, dtype="float64")
    model64.load_state_dict({name: array.astype(np.float64) for name, array in model.state_dict().items()})
    source = generate(ir)
    namespace: dict = {"__name__": "exported"}
    exec(compile(source.text, "exported.py", "exec"), namespace)
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "weights.npz")
        module = namespace["load_netlang_weights"](namespace[source.class_name](), Path(folder) / "weights.npz")
    x = np.random.default_rng(seed + 1).standard_normal((7, *ir["input"]["shape"])).astype(np.float32)
    with torch.no_grad():
        got32 = module(torch.from_numpy(x)).numpy()
        got64 = module.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    return relative(got32, model.predict(x)), relative(got64, model64.predict(x.astype(np.float64)))


def main() -> None:
    print(f"{'spec':24} {'output f32':>10} {'logits f32':>10} {'output f64':>10} {'logits f64':>10}")
    for path in sorted(SPECS.glob("*.net")):
        (out32, out64), (logits32, logits64) = largest_differences(path), largest_differences(without_last_layer(path))
        print(f"{path.name:24} {out32:10.2e} {logits32:10.2e} {out64:10.2e} {logits64:10.2e}")


if __name__ == "__main__":
    main()
