"""The op registry and everything found from it agree: every op has a NumPy layer, checks, a schema entry, a row
in the docs, an entry in every target, and prints back to spec text that compiles to the same layer. An op
defined only in this file passes the same checks once registered (README: "Adding an op")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.base import Layer
from netlang.backend.gradcheck import check_layer_gradients
from netlang.errors import SpecSyntaxError
from netlang.initializers import resolve_schemes
from netlang.language.compiler import compile_ir
from netlang.language.schema import load_schema
from netlang.memory.layer import LayerMemory
from netlang.ops import OPS, Op, generate, register, unregister
from netlang.ops.base import layer_text
from netlang.targets import onnx_export, pytorch_source, torch_modules

TARGETS = {
    "torch": (torch_modules.MODULES, torch_modules.TENSORS),
    "onnx": (onnx_export.NODES, onnx_export.TENSORS),
    "pytorch source": (pytorch_source.MODULES, pytorch_source.TENSORS),
}


def registry_problems(op: Op) -> list[str]:
    """What an op lacks, in words; [] when it passes every registry check."""
    problems = []
    if not (isinstance(op.layer, type) and issubclass(op.layer, Layer)):
        problems.append("its layer is not a netlang.backend.base.Layer")
    elif op.layer.forward is Layer.forward or op.layer.backward is Layer.backward:
        problems.append("its layer lacks forward or backward")
    if not op.checks:
        problems.append("no gradient-check cases (Op.checks)")
    if not (isinstance(op.memory, type) and issubclass(op.memory, LayerMemory)):
        problems.append("no memory rule (Op.memory, a netlang.memory.layer.LayerMemory)")
    schema = load_schema()
    if op.name not in schema["$defs"]["args"] or op.name not in schema["$defs"]["layer"]["properties"]["op"]["enum"]:
        problems.append("no schema entry")
    elif set(schema["$defs"]["args"][op.name]["properties"]) != {arg.name for arg in op.args}:
        problems.append("schema args differ from the signature")
    if f"| {op.name} |" not in generate.op_table():
        problems.append("no row in the docs' op table")
    for target, (modules, tensors) in TARGETS.items():
        if op.name not in modules:
            problems.append(f"no {target} entry")
        if (op.params or op.buffers) and {p.name for p in (*op.params, *op.buffers)} != set(tensors.get(op.name, {})):
            problems.append(f"{target} does not place every tensor")
    return problems


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_passes_every_registry_check(name):
    assert registry_problems(OPS[name]) == []


def test_every_target_covers_exactly_the_registry():
    for modules, tensors in TARGETS.values():
        assert set(modules) == set(OPS)
        assert set(tensors) <= set(OPS)


def test_the_committed_schema_and_docs_are_what_the_registry_generates():
    assert generate.main(["--check"]) == 0
    committed = json.loads(generate.SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == load_schema()
    assert set(committed["$defs"]["args"]) == set(OPS)


@pytest.mark.parametrize(
    "name, spec, shape",
    [(name, spec, shape) for name, op in OPS.items() if not op.merge for spec, shape in op.checks],
)
def test_layer_text_compiles_back_to_the_same_layer(name, spec, shape):
    ir = compile_ir(f"input {shape}\n{spec}\n")
    layer = ir["layers"][-1]
    text = layer_text(OPS[name], layer["args"])
    again = compile_ir(f"input {shape}\n{text}\n")["layers"][-1]
    assert again["args"] == layer["args"]
    assert again["out_shape"] == layer["out_shape"]


@pytest.mark.parametrize("target", list(TARGETS))
def test_an_op_missing_from_a_target_is_caught(target):
    modules, _ = TARGETS[target]
    saved = modules.pop("relu")
    try:
        assert registry_problems(OPS["relu"]) == [f"no {target} entry"]
    finally:
        modules["relu"] = saved


def test_a_tensor_a_target_does_not_place_is_caught():
    _, tensors = TARGETS["onnx"]
    saved = tensors["conv"].pop("b")
    try:
        assert registry_problems(OPS["conv"]) == ["onnx does not place every tensor"]
    finally:
        tensors["conv"]["b"] = saved


# The op the README's "Adding an op" walks through: its code block, run here as netlang/ops/cube.py would be.
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_op() -> Op:
    section = README.read_text(encoding="utf-8").split("## Adding an op", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {"__name__": "netlang.ops.cube"}
    exec(compile(code, f"{README} (Adding an op)", "exec"), namespace)
    return namespace["OP"]


CUBE = readme_op()


@pytest.fixture
def cube():
    register(CUBE)
    torch_modules.MODULES["cube"] = lambda node: _TorchCube()
    onnx_export.NODES["cube"] = _onnx_cube
    pytorch_source.MODULES["cube"] = _pytorch_source_cube
    yield CUBE
    unregister("cube")
    del torch_modules.MODULES["cube"]
    del onnx_export.NODES["cube"]
    del pytorch_source.MODULES["cube"]


class _TorchCube:
    def __call__(self, x):
        return x * x * x


def _onnx_cube(layer):
    square = layer.emit("Mul", [layer.inputs[0], layer.inputs[0]], layer.temp("square"))
    return layer.emit("Mul", [square, layer.inputs[0]])


def _pytorch_source_cube(layer):
    return None, pytorch_source.Expression("", (layer.inputs[0],) * 3, "", joiner=" * ")


def test_an_op_defined_in_a_test_passes_every_registry_check(cube):
    assert registry_problems(cube) == []
    ir = compile_ir("input 2x3x3\nconv 2 2x2 -> cube -> affine 3 -> softmax\n")
    assert [layer["op"] for layer in ir["layers"]] == ["conv", "cube", "flatten", "affine", "softmax"]
    assert ir["layers"][1]["out_shape"] == [2, 2, 2]
    # its own checks pass the shared gradient test
    for spec, shape in cube.checks:
        model = build(compile_ir(f"input {shape}\n{spec}\n"), dtype="float64")
        x = np.random.default_rng(0).standard_normal((3, *model.layers[-1].in_shape))
        errors = check_layer_gradients(model.layers[-1], x)
        assert max(errors.values()) < 1e-6
    # "auto" init treats it as an activation (not of the ReLU family: Xavier), and it trains in a network
    assert resolve_schemes(ir) == {"conv1": "xavier", "affine1": "xavier"}
    assert resolve_schemes(compile_ir("input 2x3x3\nconv 2 2x2 -> cube -> relu\n")) == {"conv1": "xavier"}
    model = build(ir, seed=0)
    loss, grads, _ = model.loss_and_gradients(np.ones((2, 2, 3, 3), np.float32), np.array([0, 1]))
    assert np.isfinite(loss) and set(grads) == set(model.params)
    # misspelt, it is suggested like any built-in op
    with pytest.raises(SpecSyntaxError, match="did you mean 'cube'"):
        compile_ir("input 4\ncubee\n")


def test_without_its_registration_the_op_is_unknown():
    assert "cube" not in OPS
    with pytest.raises(SpecSyntaxError, match="unknown layer 'cube'"):
        compile_ir("input 4\ncube\n")
