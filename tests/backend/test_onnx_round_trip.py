"""ONNX out and back in: every example spec exported with random weights and imported again is the same network
(the same ops, arguments, shapes and parameter counts in the same order, but for the layers inference drops)
with the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.language.compiler import compile_ir, compile_onnx

onnx = pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.net"))
INFERENCE_ONLY = {"dropout", "identity"}  # no ONNX node: an ONNX file has no place for them


def network(ir: dict) -> list[tuple]:
    return [  # an init scheme is how weights started, not part of the network: ONNX does not carry it
        (layer["op"], {key: value for key, value in layer["args"].items() if key != "init"},
         layer["out_shape"], layer["params"], layer["non_trainable"])
        for layer in ir["layers"] if layer["op"] not in INFERENCE_ONLY
    ]


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_export_then_import_gives_the_same_network_and_outputs(spec, tmp_path):
    from netlang.targets.onnx_export import export

    ir = compile_ir(spec)
    model = build(ir, seed=1)
    rng = np.random.default_rng(0)
    for name, value in model.state_dict().items():  # biases, batchnorm and running statistics away from defaults
        if not name.endswith(".W"):
            value += 0.2 * rng.standard_normal(value.shape).astype(value.dtype)
        if name.endswith("running_var"):
            np.abs(value, out=value)
    path = tmp_path / f"{spec.stem}.onnx"
    path.write_bytes(export(ir, model.state_dict()).model.SerializeToString())

    imported, tensors = compile_onnx(path)
    assert network(imported) == network(ir)
    again = build(imported)
    again.load_state_dict(tensors)
    x = rng.standard_normal((7, *ir["input"]["shape"])).astype(np.float32)
    want = model.predict(x)
    np.testing.assert_allclose(again.predict(x), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
