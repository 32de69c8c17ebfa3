"""The largest differences between onnxruntime running `netlang export`'s model and netlang's predict.

    python bench/onnx_differences.py            # every op's registry checks and every example spec
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root; needs onnx and
    onnxruntime)

Each network gets random weights (its initialiser's; biases, scales, shifts and slopes perturbed) and random
batchnorm running statistics, and a float32 standard-normal input at batch 1 and batch 7. A figure is the
largest absolute difference over both batches divided by the largest magnitude of netlang's output: the
relative difference the tests (tests/backend/test_onnx_export.py) hold under 1e-5. A spec's figure is given for
its output (probabilities) and for the network without its last layer (the logits before the softmax).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnxruntime as ort

from netlang.backend import build
from netlang.backend.gradcheck import off_start_values
from netlang.language.compiler import compile_ir
from netlang.ops import OPS
from netlang.targets.onnx_export import export

SPECS = Path(__file__).resolve().parents[1] / "specs"


def without_last_layer(spec: str | Path) -> dict:
    ir = copy.deepcopy(compile_ir(spec))
    ir["layers"] = ir["layers"][:-1]
    return compile_ir(ir)


def largest_difference(spec: str | Path | dict, seed: int = 0) -> float:
    ir = compile_ir(spec)
    model = off_start_values(build(ir, seed=seed), seed)
    rng = np.random.default_rng(seed + 1)
    session = ort.InferenceSession(export(ir, model.state_dict()).model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (1, 7):
        x = rng.standard_normal((batch, *ir["input"]["shape"])).astype(np.float32)
        got, want = session.run(["output"], {"input": x})[0], model.predict(x)
        worst = max(worst, float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)))
    return worst


def main() -> None:
    print(f"{'op':12} {'case':58} relative difference")
    per_op = {}
    for name, op in OPS.items():
        for text, shape in op.checks:
            difference = largest_difference(f"input {shape}\n{text}\n")
            per_op[name] = max(per_op.get(name, 0.0), difference)
            print(f"{name:12} {f'input {shape} -> {text}':58} {difference:.2e}")
    print(f"\n{'op':12} largest")
    for name, difference in per_op.items():
        print(f"{name:12} {difference:.2e}")
    print(f"\n{'spec':24} {'output':>9} {'logits':>9}")
    for path in sorted(SPECS.glob("*.net")):
        print(f"{path.name:24} {largest_difference(path):9.2e} {largest_difference(without_last_layer(path)):9.2e}")


if __name__ == "__main__":
    main()
