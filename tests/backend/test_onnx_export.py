"""Optional (skipped without onnx and onnxruntime): the ONNX export computes what Model.predict computes.

Every op on its own (its registry checks) and every example spec is exported with random weights and
non-trivial batchnorm statistics, checked by onnx.checker (full_check), run by onnxruntime at batch 1 and 7,
and compared with netlang's predict; ONNX's shape inference must give each layer netlang's output shape. Then
each place where ONNX's operator means something other than netlang's op is tested on inputs that show it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from netlang import __version__
from netlang.backend import build
from netlang.backend.gradcheck import off_start_values
from netlang.language.compiler import compile_ir
from netlang.ops import OPS
from netlang.targets import onnx_export

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SPECS = Path(__file__).parents[2] / "specs"
TOLERANCE = 1e-5  # relative, in float32

OP_CASES = [(f"input {shape}\n{text}\n", name) for name, op in OPS.items() for text, shape in op.checks]

# Ops and options no example spec has, in graphs: a U-Net-like upsampling path, global max pooling, every
# activation, a three-way sum, ceil-mode pools with a partial last window.
GRAPH = (
    "input 2x12x12\n"
    "conv 4 3x3 pad 1 -> batchnorm eps 0.01 -> prelu -> identity\n"
    "(pool 2 -> conv 4 3x3 pad 1 -> elu 0.5 -> upsample 2 + identity + conv 4 1x1 -> swish) -> leaky_relu 0.2\n"
    "(pool avg 3 stride 2 pad 1 round ceil -> tanh | pool max 3 stride 2 pad 1 round ceil -> step) -> upsample 2x3\n"
    "relu -> (global_pool max | global_pool | conv 1 3x3 stride 3 round floor -> flatten) -> batchnorm\n"
    "dropout 0.3 -> affine 5 -> sigmoid\n"
)


def randomised(ir: dict, seed: int = 0):
    """A float32 model of `ir` whose tensors are all off their constant starting values: weights as the
    initialiser draws them, biases, scales, shifts and slopes perturbed, batchnorm's running means and variances
    random (about ±0.5 and 0.5 to 2)."""
    return off_start_values(build(ir, seed=seed), seed)


def session(model_proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def difference(got: np.ndarray, want: np.ndarray) -> float:
    """The largest difference relative to the output's largest magnitude."""
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    return float(np.abs(got - want).max() / max(np.abs(want).max(), np.finfo(np.float32).tiny))


def exported_and_predicted(spec, batches=(1, 7), x=None, seed=0, opset=onnx_export.DEFAULT_OPSET):
    """[(onnxruntime's output, netlang's predict)] for inputs of each batch size (or x), after the checker."""
    ir = compile_ir(spec)
    model = randomised(ir, seed)
    exported = onnx_export.export(ir, model.state_dict(), opset=opset, version=__version__)
    onnx.checker.check_model(exported.model, full_check=True)
    run = session(exported.model)
    rng = np.random.default_rng(seed + 1)
    inputs = [x] if x is not None else [
        rng.standard_normal((batch, *ir["input"]["shape"])).astype(np.float32) for batch in batches
    ]
    return [(run.run(["output"], {"input": x})[0], model.predict(x)) for x in inputs]


def assert_matches(spec, **kwargs):
    for got, want in exported_and_predicted(spec, **kwargs):
        assert difference(got, want) <= TOLERANCE
        np.testing.assert_allclose(got, want, rtol=TOLERANCE, atol=TOLERANCE * np.abs(want).max())


@pytest.mark.parametrize("spec, name", OP_CASES, ids=[f"{name}:{spec.split()[2]}" for spec, name in OP_CASES])
def test_every_op_on_its_own_runs_as_netlang_predicts(spec, name):
    assert_matches(spec)


EXAMPLES = sorted(SPECS.glob("*.net"))


def without_last_layer(spec) -> dict:
    """The inferred IR of `spec` without its last layer: the logits, where a softmax or sigmoid ends it (whose
    probabilities alone could hide a difference in saturation)."""
    ir = copy.deepcopy(compile_ir(spec))
    ir["layers"] = ir["layers"][:-1]
    return compile_ir(ir)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_spec_runs_as_netlang_predicts(path):
    assert_matches(path)
    assert_matches(without_last_layer(path))


def test_a_graph_with_every_op_runs_as_netlang_predicts():
    ir = compile_ir(GRAPH)
    assert {layer["op"] for layer in ir["layers"]} == set(OPS) - {"softmax"}  # it ends in sigmoid
    assert_matches(GRAPH, batches=(1, 7, 32))


@pytest.mark.parametrize("opset", [onnx_export.MIN_OPSET, 17, onnx.defs.onnx_opset_version()])
def test_every_opset_offered_runs(opset):
    assert_matches(GRAPH, opset=opset, batches=(3,))


def layer_shapes(spec) -> tuple[dict, dict]:
    """({layer: ONNX value}, {ONNX value: its shape by ONNX's strict shape inference})."""
    ir = compile_ir(spec)
    exported = onnx_export.export(ir, randomised(ir).state_dict())
    inferred = onnx.shape_inference.infer_shapes(exported.model, check_type=True, strict_mode=True)
    shapes = {}
    for info in (*inferred.graph.value_info, *inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [dim.dim_param or dim.dim_value for dim in dims]
    shapes["input"] = ["batch", *ir["input"]["shape"]]
    return ir, exported.values, shapes


@pytest.mark.parametrize("spec", [*EXAMPLES, GRAPH, *(spec for spec, _ in OP_CASES)])
def test_onnx_shape_inference_gives_every_layer_netlangs_shape(spec):
    ir, values, shapes = layer_shapes(spec)
    for layer in ir["layers"]:
        batch, *shape = shapes[values[layer["name"]]]
        assert shape == layer["out_shape"], layer["name"]
        # the batch stays a symbol ('batch'; after a Resize, whose inference multiplies it by 1.0, an unnamed one)
        assert isinstance(batch, str) and batch, layer["name"]
    assert values[ir["layers"][-1]["name"]] == "output"


# Where netlang and ONNX differ, on inputs that show it.


def test_a_ceil_pool_drops_a_window_that_would_start_in_the_right_padding():
    # 5 + 2·1 − 2 = 5, / 3: ceil gives 3 windows, but the third would start at 6, in the right padding
    ir = compile_ir("input 1x5x5\npool 2 stride 3 pad 1 round ceil\n")
    assert ir["layers"][0]["out_shape"] == [1, 2, 2]
    for kind in ("max", "avg"):
        assert_matches(f"input 1x5x5\npool {kind} 2 stride 3 pad 1 round ceil\n", batches=(2,))
        node = onnx_export.export(compile_ir(f"input 1x5x5\npool {kind} 2 stride 3 pad 1 round ceil\n"), {}).model
        assert all(attr.name != "ceil_mode" for n in node.graph.node for attr in n.attribute)


def test_avg_pool_counts_padded_zeros_but_not_the_overhang_of_a_partial_ceil_window():
    ones = np.ones((1, 1, 6, 6), np.float32)
    # 6 + 2 − 3 = 5, / 2: a partial last window covering the last input column and the padding, then 1 overhang
    [(got, want)] = exported_and_predicted("input 1x6x6\npool avg 3 stride 2 pad 1 round ceil\n", x=ones)
    assert want[0, 0, 0, 0] == pytest.approx(4 / 9)  # padded zeros count
    assert want[0, 0, -1, -1] == pytest.approx(1 / 4)  # a 2×2 window of which one element is input
    np.testing.assert_allclose(got, want, rtol=1e-6)
    [(got, want)] = exported_and_predicted("input 1x4x4\npool avg 3 stride 1 pad 1\n", x=ones[:, :, :4, :4])
    assert want[0, 0, 0, 0] == pytest.approx(4 / 9)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_max_pool_pads_with_minus_infinity():
    negative = -1 - np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5)
    [(got, want)] = exported_and_predicted("input 1x5x5\npool 3 stride 2 pad 1\n", x=negative)
    assert (want < 0).all()  # zero padding would have won every border window
    np.testing.assert_array_equal(got, want)


def test_affine_reads_w_as_in_by_units_and_flattens_images_row_major():
    x = np.random.default_rng(3).standard_normal((4, 2, 3, 5)).astype(np.float32)
    ir = compile_ir("input 2x3x5\naffine 7\n")
    model = randomised(ir)
    exported = onnx_export.export(ir, model.state_dict())
    got = session(exported.model).run(None, {"input": x})[0]
    want = x.reshape(4, 30) @ model.params["affine1.W"] + model.params["affine1.b"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert [n.op_type for n in exported.model.graph.node] == ["Flatten", "Gemm"]
    gemm = exported.model.graph.node[1]
    assert all(attr.name not in ("transA", "transB") for attr in gemm.attribute)


@pytest.mark.parametrize("text", ["leaky_relu 0.3", "leaky_relu", "elu 0.4", "elu", "prelu", "swish", "step",
                                  "sigmoid", "tanh", "relu"])
def test_activations_with_their_arguments(text):
    x = np.linspace(-4, 4, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    x[0, 0, 0, :3] = 0.0  # step and the slopes at exactly zero
    [(got, want)] = exported_and_predicted(f"input 3x4x5\n{text}\n", x=x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_prelu_has_one_slope_per_channel():
    ir = compile_ir("input 3x2x2\nprelu\n")
    model = build(ir)
    model.params["prelu1.alpha"][...] = [0.1, 0.2, 0.3]
    exported = onnx_export.export(ir, model.state_dict())
    slope = onnx.numpy_helper.to_array(exported.model.graph.initializer[0])
    assert slope.shape == (3, 1, 1)
    got = session(exported.model).run(None, {"input": -np.ones((1, 3, 2, 2), np.float32)})[0]
    np.testing.assert_allclose(got[0, :, 0, 0], [-0.1, -0.2, -0.3], rtol=1e-6)


def test_batchnorm_uses_its_running_statistics_and_epsilon():
    spec = "input 2x3x3\nbatchnorm eps 0.5\n"
    ir = compile_ir(spec)
    model = randomised(ir)
    x = np.random.default_rng(1).standard_normal((3, 2, 3, 3)).astype(np.float32)
    got = session(onnx_export.export(ir, model.state_dict()).model).run(None, {"input": x})[0]
    p = {name.split(".")[1]: array.reshape(-1, 1, 1) for name, array in model.state_dict().items()}
    want = (x - p["running_mean"]) / np.sqrt(p["running_var"] + 0.5) * p["gamma"] + p["beta"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_softmax_is_over_the_features_and_the_output_is_probabilities():
    [(got, want)] = exported_and_predicted("input 6\naffine 4 -> softmax\n", batches=(5,))
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("factor, size", [("2", "3x3"), ("3", "5x7"), ("5x7", "4x3"), ("7x2", "6x5"), ("1x4", "2x9")])
def test_upsample_repeats_every_pixel_exactly(factor, size):
    x = np.random.default_rng(0).standard_normal((2, 2, *map(int, size.split("x")))).astype(np.float32)
    [(got, want)] = exported_and_predicted(f"input 2x{size}\nupsample {factor}\n", x=x)
    np.testing.assert_array_equal(got, want)


def test_dropout_is_no_node_in_inference():
    ir = compile_ir("input 4\naffine 3 -> dropout 0.5 -> relu -> dropout 0.2\n")
    exported = onnx_export.export(ir, randomised(ir).state_dict())
    assert [n.op_type for n in exported.model.graph.node] == ["Gemm", "Relu", "Identity"]
    assert exported.values["dropout1"] == "affine1"
    assert_matches("input 4\naffine 3 -> dropout 0.5 -> relu -> dropout 0.2\n")


def test_the_model_is_named_and_documented_as_the_issue_asks():
    text = (SPECS / "lenet5.net").read_text(encoding="utf-8")
    ir = compile_ir(SPECS / "lenet5.net")
    model = randomised(ir)
    proto = onnx_export.export(ir, model.state_dict(), spec_text=text, version=__version__).model
    graph = proto.graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    for value in (graph.input[0], graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    netlang_tensors = {i.name for i in graph.initializer if "/" not in i.name}
    assert netlang_tensors == set(model.state_dict())
    for initializer in graph.initializer:
        if initializer.name in model.state_dict():
            np.testing.assert_array_equal(onnx.numpy_helper.to_array(initializer), model.state_dict()[initializer.name])
    conv = graph.node[0]
    layer = ir["layers"][0]
    line = text.splitlines()[layer["pos"]["line"] - 1].strip()
    assert conv.name == layer["name"] and layer["name"] in conv.doc_string and line in conv.doc_string
    assert all(node.doc_string.startswith("layer ") for node in graph.node)
    props = {prop.key: prop.value for prop in proto.metadata_props}
    assert props["spec"] == text and props["netlang_version"] == __version__
    assert proto.producer_name == "netlang"


def test_an_opset_out_of_range_is_refused():
    ir = compile_ir("input 4\nrelu\n")
    with pytest.raises(onnx_export.UsageError, match="--opset 12 is out of range"):
        onnx_export.export(ir, {}, opset=12)
