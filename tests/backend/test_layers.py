"""Every registered op: a central-difference gradient check (params and input) and a declared-shape check.

Each case is one line: the op, a one-layer spec, and the input shape. The registry test below fails if an op
of docs/ir.md, or of the LAYERS registry, has no case here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import LAYERS, build
from netlang.backend.gradcheck import check_layer_gradients
from netlang.errors import TrainingError
from netlang.language.compiler import compile_ir

THRESHOLD = 1e-6
BATCH = 3

# (op, layer spec, input shape). Inputs are random normals, so kinks (relu at 0, max-pool ties) are not hit.
CASES = [
    ("conv", "conv 3 3x3", "2x5x5"),
    ("conv", "conv 2 3x2 stride 2 pad 1", "3x7x6"),
    ("conv", "conv 2 3x3 stride 2 round floor", "1x8x8"),
    ("conv", "conv 4 1x1", "3x2x2"),
    ("conv", "conv 2 3x3 pad 1", "2x5x4"),
    ("conv", "conv 2 2x2 pad 2", "1x3x3"),
    ("conv", "conv 3 3x3 pad 1", "4x5x5"),
    ("conv", "conv 2 3x3 stride 2 pad 1", "4x7x7"),
    ("conv", "conv 2 2x2 pad 2", "9x3x3"),
    ("conv", "conv 3 3x3 pad 1", "5x6x7"),
    ("conv", "conv 2 3x3", "5x5x4"),
    ("conv", "conv 3 3x3 pad 2", "4x5x3"),
    ("conv", "conv 2 2x3 pad 1", "6x5x7"),
    ("conv", "conv 3 3x2 pad 2", "1x4x5"),
    ("conv", "conv 2 1x3 pad 1", "7x3x5"),
    ("conv", "conv 2 4x1 pad 1", "9x6x3"),
    ("conv", "conv 2 5x3 pad 2", "3x7x5"),
    ("pool", "pool 2", "2x4x4"),
    ("pool", "pool 3 stride 2 pad 1", "2x7x7"),
    ("pool", "pool max 2 stride 2 round ceil", "1x5x5"),
    ("pool", "pool avg 2", "2x4x6"),
    ("pool", "pool avg 3 stride 2 pad 1 round ceil", "2x6x6"),
    ("pool", "pool avg 2 stride 1", "1x3x4"),
    ("pool", "pool 2 stride 3", "2x8x8"),
    ("pool", "pool avg 2 stride 3 pad 1", "1x6x6"),
    ("pool", "pool 2 round floor", "1x5x5"),
    ("affine", "affine 4", "6"),
    ("flatten", "flatten", "2x3x2"),
    ("relu", "relu", "7"),
    ("relu", "relu", "2x3x3"),
    ("sigmoid", "sigmoid", "7"),
    ("tanh", "tanh", "7"),
    ("identity", "identity", "7"),
    ("swish", "swish", "2x3x3"),
    ("softmax", "softmax", "5"),
    ("leaky_relu", "leaky_relu 0.2", "2x3x3"),
    ("elu", "elu 0.7", "8"),
    ("prelu", "prelu", "2x3x3"),
    ("prelu", "prelu", "6"),
    ("batchnorm", "batchnorm", "5"),
    ("batchnorm", "batchnorm", "2x3x3"),
    ("dropout", "dropout 0.4", "3x4x4"),
    ("step", "step", "5"),
]
FORWARD_ONLY = {"step"}


def ops_in_ir_doc() -> set[str]:
    """The op names of the table in docs/ir.md (first column, backticks or not)."""
    text = (Path(__file__).parents[2] / "docs" / "ir.md").read_text(encoding="utf-8")
    table = text.split("## Ops and their args", 1)[1]
    ops = set()
    for row in re.findall(r"^\| ([a-z_ ]+?) \|", table, flags=re.MULTILINE):
        if row.strip() != "op":
            ops.update(row.split())
    return ops


def layer_and_input(spec: str, shape: str, seed: int = 0):
    """The last layer of `input SHAPE -> SPEC`, built in float64, with a random input batch for it."""
    model = build(compile_ir(f"input {shape}\n{spec}\n"), dtype="float64", seed=seed)
    layer = model.layers[-1]
    layer.hand_on_input_grad = False  # a fresh dx on every call: tests compare the dx of several calls
    rng = np.random.default_rng(seed)
    for params in layer.params.values():  # move prelu/batchnorm params off their symmetric start values
        params[...] += 0.3 * rng.standard_normal(params.shape)
    x = rng.standard_normal((BATCH,) + layer.in_shape)
    return layer, x


def test_registry_matches_ir_doc_and_every_op_has_cases():
    assert set(LAYERS) == ops_in_ir_doc()
    assert {op for op, _, _ in CASES} == set(LAYERS)


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_declared_out_shape_matches_forward(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    assert layer.node["op"] == op
    for train in (True, False):
        assert layer.forward(x, train=train).shape == (BATCH,) + layer.out_shape


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_gradients_match_central_differences(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    if op in FORWARD_ONLY:
        layer.forward(x, train=True)
        with pytest.raises(TrainingError, match=layer.name):
            layer.backward(np.ones((BATCH,) + layer.out_shape))
        return
    errors = check_layer_gradients(layer, x)
    assert set(errors) == {"input", *layer.params}
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_never_writes_into_arrays_it_was_handed(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    layer.needs_input_grad = True
    x.flags.writeable = False
    out = layer.forward(x, train=True)
    if op in FORWARD_ONLY:
        return
    dout = np.ones_like(out)
    dout.flags.writeable = False
    layer.backward(dout)


def test_affine_flattens_any_input_rank_row_major():
    layer, x = layer_and_input("affine 4", "18")
    layer.needs_input_grad = True
    as_image = x.reshape(BATCH, 2, 3, 3)
    np.testing.assert_array_equal(layer.forward(x, train=True), layer.forward(as_image, train=True))
    dx = layer.backward(np.ones((BATCH, 4)))
    assert dx.shape == (BATCH, 2, 3, 3)
    np.testing.assert_allclose(dx.reshape(BATCH, 18), np.ones((BATCH, 4)) @ layer.params["W"].T)


CONV_CASES = [(spec, shape) for op, spec, shape in CASES if op == "conv"]


def conv_layouts(layer) -> list[str]:
    """The column layouts a conv layer can run in: shifted slices only for stride 1."""
    layouts = ["per_image", "channel_major"]
    return layouts + ["shifted"] if layer.stride == (1, 1) else layouts


@pytest.mark.parametrize("spec, shape", CONV_CASES, ids=[f"{s} on {shape}" for s, shape in CONV_CASES])
def test_conv_column_layouts_agree_and_all_pass_the_gradient_check(spec, shape):
    layer, x = layer_and_input(spec, shape)
    outputs = []
    for layout in conv_layouts(layer):
        layer.layout = layout
        layer.needs_input_grad = True
        for train in (False, True):
            outputs.append(layer.forward(x, train=train))
        errors = check_layer_gradients(layer, x)
        assert set(errors) == {"input", *layer.params}
        assert max(errors.values()) < THRESHOLD, (layout, errors)
    for out in outputs[1:]:
        np.testing.assert_allclose(out, outputs[0], rtol=1e-12, atol=1e-12)


def test_stride_one_convs_with_many_rows_default_to_shifted_columns():
    layer, _ = layer_and_input("conv 3 3x3 pad 1", "5x6x7")
    assert layer.layout == "shifted"
    layer, _ = layer_and_input("conv 2 3x3 stride 2 pad 1", "4x7x7")
    assert layer.layout == "channel_major"


def test_shifted_conv_gives_the_same_values_for_either_input_memory_order():
    layer, x = layer_and_input("conv 3 3x3 pad 1", "5x6x7")
    layer.needs_input_grad = True
    pixel_major = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    results = []
    for given in (x, pixel_major):
        out = layer.forward(given, train=True)
        dx = layer.backward(np.cos(out))
        results.append((out, dx, layer.grads["W"].copy(), layer.grads["b"].copy()))
    for first, second in zip(*results, strict=True):
        np.testing.assert_allclose(first, second, rtol=1e-12, atol=1e-12)
    assert results[1][1].transpose(0, 2, 3, 1).flags.c_contiguous  # dx comes back in x's memory order


SHIFTED_CASES = [(spec, shape) for spec, shape in CONV_CASES if "stride" not in spec]


@pytest.mark.parametrize("spec, shape", SHIFTED_CASES, ids=[f"{s} on {shape}" for s, shape in SHIFTED_CASES])
def test_shifted_conv_gives_the_same_values_in_any_number_of_batch_blocks(spec, shape):
    layer, x = layer_and_input(spec, shape)
    layer.layout, layer.needs_input_grad = "shifted", True
    dout = np.cos(np.arange(BATCH * int(np.prod(layer.out_shape)))).reshape((BATCH,) + layer.out_shape)
    results = []
    for images_per_block in (BATCH, 2, 1):  # one block; blocks of 2 and 1 images; one per image
        layer.BLOCK_BYTES = images_per_block * layer.block_bytes_per_image(x)
        out = layer.forward(x, train=True)
        assert [b.stop - b.start for b in layer.block_slices] == [images_per_block] * (BATCH // images_per_block) + [
            BATCH % images_per_block
        ] * (BATCH % images_per_block > 0)
        results.append((out, layer.backward(dout), layer.grads["W"].copy(), layer.grads["b"].copy()))
        errors = check_layer_gradients(layer, x)
        assert max(errors.values()) < THRESHOLD, (images_per_block, errors)
    for other in results[1:]:
        for first, second in zip(results[0], other, strict=True):
            np.testing.assert_allclose(first, second, rtol=1e-12, atol=1e-12)
