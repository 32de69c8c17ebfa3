"""Every registered op: a central-difference gradient check (params and input) and a declared-shape check.

The cases are the ops' own (Op.checks in netlang/ops): a layer spec and an input shape each. The registry
test in tests/test_registries.py fails if an op declares none.
"""

from __future__ import annotations

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.gradcheck import check_layer_gradients
from netlang.errors import TrainingError
from netlang.language.compiler import compile_ir
from netlang.ops import OPS

THRESHOLD = 1e-6
BATCH = 3

# (op, layer spec, input shape). Inputs are random normals, so kinks (relu at 0, max-pool ties) are not hit.
CASES = [(name, spec, shape) for name, op in OPS.items() for spec, shape in op.checks]


def layer_and_input(spec: str, shape: str, seed: int = 0):
    """The last layer of `input SHAPE -> SPEC`, built in float64, with a random input batch for it."""
    model = build(compile_ir(f"input {shape}\n{spec}\n"), dtype="float64", seed=seed)
    layer = model.layers[-1]
    layer.input_grad_slot = None  # a fresh dx on every call: tests compare the dx of several calls
    rng = np.random.default_rng(seed)
    for params in layer.params.values():  # move prelu/batchnorm params off their symmetric start values
        params[...] += 0.3 * rng.standard_normal(params.shape)
    inputs = [rng.standard_normal((BATCH,) + shape) for shape in layer.in_shapes]
    return layer, inputs if layer.merge else inputs[0]


def input_names(layer) -> set[str]:
    """The names check_layer_gradients gives the errors of a layer's input gradients."""
    return {f"input{k}" for k in range(len(layer.in_shapes))} if layer.merge else {"input"}


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_declared_out_shape_matches_forward(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    assert layer.node["op"] == op
    for train in (True, False):
        assert layer.forward(x, train=train).shape == (BATCH,) + layer.out_shape


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_gradients_match_central_differences(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    if not OPS[op].differentiable:
        layer.forward(x, train=True)
        with pytest.raises(TrainingError, match=layer.name):
            layer.backward(np.ones((BATCH,) + layer.out_shape))
        return
    errors = check_layer_gradients(layer, x)
    assert set(errors) == {*input_names(layer), *layer.params}
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("op, spec, shape", CASES, ids=[f"{s} on {shape}" for _, s, shape in CASES])
def test_never_writes_into_arrays_it_was_handed(op, spec, shape):
    layer, x = layer_and_input(spec, shape)
    layer.needs_input_grad = True
    for part in x if layer.merge else [x]:
        part.flags.writeable = False
    out = layer.forward(x, train=True)
    if not OPS[op].differentiable:
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
        assert set(errors) == {*input_names(layer), *layer.params}
        assert max(errors.values()) < THRESHOLD, (layout, errors)
    for out in outputs[1:]:
        np.testing.assert_allclose(out, outputs[0], rtol=1e-12, atol=1e-12)


def test_stride_one_convs_with_many_rows_default_to_shifted_columns():
    layer, _ = layer_and_input("conv 3 3x3 pad 1", "5x6x7")
    assert layer.layout == "shifted"
    layer, _ = layer_and_input("conv 2 3x3 stride 2 pad 1", "4x7x7")
    assert layer.layout == "channel_major"


@pytest.mark.parametrize(
    "spec, shape, layout",
    [
        ("conv 120 5x5", "16x5x5", "channel_major"),  # LeNet-5's C5: dx by the shifted way is 25 times forward's work
        ("conv 16 5x5", "6x14x14", "channel_major"),  # LeNet-5's C3: twice forward's work, on thin GEMMs
        ("conv 32 3x3", "32x4x4", "shifted"),  # area ratio 4, wide GEMMs
        ("conv 16 3x3", "8x28x28", "shifted"),  # area ratio 1.16
        ("conv 16 5x5 pad 2", "6x14x14", "shifted"),  # same size out as in
    ],
)
def test_stride_one_convs_whose_output_is_much_smaller_run_channel_major(spec, shape, layout):
    layer, _ = layer_and_input(spec, shape)
    assert layer.layout == layout


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
