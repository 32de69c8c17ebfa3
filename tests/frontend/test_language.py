"""The language's forms: the core contract, line breaks, comments, groups, names, options and the training section."""

from __future__ import annotations

import pytest

from netlang.errors import UsageError
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training

SIMPLE = "input 1x28x28\nconv 30 5x5 -> relu -> pool 2 -> affine 100 -> relu -> affine 10 -> softmax\n"


def ops(ir):
    return [layer["op"] for layer in ir["layers"]]


def names(ir):
    return [layer["name"] for layer in ir["layers"]]


def by_name(ir, name):
    return next(layer for layer in ir["layers"] if layer["name"] == name)


def test_simple_convnet_contract_figures():
    ir = compile_ir(SIMPLE)
    assert ir["totals"]["params"] == 433_890
    assert ir["totals"]["macs"] == 865_000
    assert by_name(ir, "conv1")["out_shape"] == [30, 24, 24]
    assert by_name(ir, "pool1")["out_shape"] == [30, 12, 12]
    assert by_name(ir, "flatten1")["implicit"] is True
    assert ops(ir) == ["conv", "relu", "pool", "flatten", "affine", "relu", "affine", "softmax"]


def test_whitespace_comments_tabs_and_crlf_do_not_change_the_network():
    messy = (
        "# SimpleConvNet\r\n\r\ninput\t1x28x28   # the image\r\n"
        "conv 30 5x5 ->   # first block\r\n  relu\r\n  -> pool 2\r\n\r\n"
        "   -> affine 100 -> relu ->\r\n\r\n affine 10 -> softmax  # last"
    )
    assert compile_ir(messy)["layers"] == compile_ir(SIMPLE)["layers"] or _same_but_positions(messy)


def _same_but_positions(messy):
    strip = lambda ir: [{k: v for k, v in layer.items() if k not in {"pos", "arg_pos"}} for layer in ir["layers"]]  # noqa: E731
    return strip(compile_ir(messy)) == strip(compile_ir(SIMPLE))


def test_successive_pipeline_lines_continue_one_network():
    ir = compile_ir("input 1x28x28\nconv 30 5x5 -> relu\npool 2\naffine 10 -> softmax\n")
    assert ops(ir) == ["conv", "relu", "pool", "flatten", "affine", "softmax"]


def test_deep_convnet_in_a_few_lines():
    ir = compile_ir(
        "input 1x28x28\n(conv 16 3x3 pad 1 -> relu) * 2 -> pool 2\n"
        "conv 32 3x3 pad 1 -> relu -> conv 32 3x3 pad 2 -> relu -> pool 2\n"
        "(conv 64 3x3 pad 1 -> relu) * 2 -> pool 2\n"
        "affine 50 -> relu -> dropout 0.5 -> affine 10 -> dropout 0.5 -> softmax\n"
    )
    assert ir["totals"]["params"] == 123_552
    assert by_name(ir, "pool3")["out_shape"] == [64, 4, 4]
    assert [n for n in names(ir) if n.startswith("conv")] == [f"conv{i}" for i in range(1, 7)]


def test_group_and_layer_names():
    ir = compile_ir("input 8\nblock: (fc: affine 4 -> relu) * 2 -> out: affine 2 -> softmax\n")
    assert names(ir) == ["block.1.fc", "block.1.relu1", "block.2.fc", "block.2.relu2", "out", "softmax1"]


def test_explicit_names_in_an_unnamed_repeat_get_the_repeat_index():
    ir = compile_ir("input 8\n(fc: affine 4 -> relu) * 3\n")
    assert [n for n in names(ir) if n.startswith("fc")] == ["fc.1", "fc.2", "fc.3"]


def test_nested_groups_multiply():
    ir = compile_ir("input 8\n((affine 4 -> relu) * 2 -> dropout 0.1) * 3\n")
    assert ops(ir).count("affine") == 6 and ops(ir).count("dropout") == 3


def test_vector_input_and_all_activations():
    ir = compile_ir(
        "input 4\naffine 6 -> relu -> sigmoid -> tanh -> step -> identity -> swish -> prelu -> leaky_relu 0.2"
        " -> elu 0.5 -> batchnorm momentum 0.8 eps 1e-3 -> dropout 0.25 -> affine 3 -> softmax\n"
    )
    assert by_name(ir, "leaky_relu1")["args"] == {"alpha": 0.2}
    assert by_name(ir, "elu1")["args"] == {"alpha": 0.5}
    assert by_name(ir, "prelu1")["param_shapes"] == {"alpha": [6]}
    bn = by_name(ir, "batchnorm1")
    assert bn["args"] == {"momentum": 0.8, "eps": 1e-3}
    assert (bn["params"], bn["non_trainable"]) == (12, 12)
    assert ir["totals"]["non_trainable"] == 12


def test_defaults_are_filled_in():
    ir = compile_ir("input 4\nleaky_relu -> elu -> batchnorm -> affine 2\n")
    assert by_name(ir, "leaky_relu1")["args"] == {"alpha": 0.01}
    assert by_name(ir, "elu1")["args"] == {"alpha": 1.0}
    assert by_name(ir, "batchnorm1")["args"] == {"momentum": 0.9, "eps": 1e-5}


def test_batchnorm_on_images_is_per_channel():
    bn = by_name(compile_ir("input 3x8x8\nconv 5 3x3 -> batchnorm\n"), "batchnorm1")
    assert bn["param_shapes"] == {"gamma": [5], "beta": [5]}
    assert bn["buffer_shapes"] == {"running_mean": [5], "running_var": [5]}


@pytest.mark.parametrize(
    ("layer", "out_shape"),
    [
        ("conv 4 3x3", [4, 6, 6]),
        ("conv 4 3", [4, 6, 6]),
        ("conv 4 3x1 pad 1", [4, 8, 10]),
        ("conv 4 2x2 stride 2", [4, 4, 4]),
        ("conv 4 4x4 stride 2 pad 1", [4, 4, 4]),
        ("conv 4 3x3 stride 2 round floor", [4, 3, 3]),
        ("pool 2", [3, 4, 4]),
        ("pool max 2", [3, 4, 4]),
        ("pool avg 2x4", [3, 4, 2]),
        ("pool 3 stride 1", [3, 6, 6]),
        ("pool 3 stride 1 pad 1", [3, 8, 8]),
        ("pool 3 round floor", [3, 2, 2]),
        ("pool 3 round ceil", [3, 3, 3]),
        ("pool 3 stride 2 round ceil", [3, 4, 4]),
        ("flatten", [192]),
    ],
)
def test_window_output_shapes(layer, out_shape):
    assert compile_ir(f"input 3x8x8\n{layer}\n")["layers"][0]["out_shape"] == out_shape


def test_ceil_rounding_drops_a_window_that_would_start_in_the_padding():
    # (5 + 2 - 2) / 2 + 1 = 3.5: ceil gives 4, but the 4th window would start at 6 >= 5 + 1, so 3 (as Caffe/PyTorch).
    assert compile_ir("input 1x5x5\npool 2 pad 1 round ceil\n")["layers"][0]["out_shape"] == [1, 3, 3]


def test_macs_count_conv_and_affine_only():
    ir = compile_ir("input 2x5x5\nconv 3 3x3 -> relu -> pool 3 -> affine 4 -> softmax\n")
    assert [layer["macs"] for layer in ir["layers"]] == [3 * 3 * 3 * 2 * 3 * 3, 0, 0, 0, 3 * 4, 0]


def test_activation_memory_is_float32_outputs_plus_input():
    ir = compile_ir("input 10\naffine 5 -> relu\n")
    assert ir["totals"]["act_bytes"] == (10 + 5 + 5) * 4
    assert ir["totals"]["param_bytes"] == 55 * 4


def test_training_section_is_typed_and_located():
    ir = compile_ir(
        'input 4\naffine 2 -> softmax\ntrain {\n  optimizer momentum\n  lr 0.05\n  epochs 3\n  data "npz:my data.npz"\n'
        "  init std:0.01\n}\n"
    )
    assert ir["train"]["lr"] == {"value": 0.05, "pos": {"line": 5, "col": 6, "span": 4}}
    config = resolve_training(ir)
    assert config["optimizer"] == "momentum" and config["epochs"] == 3 and config["data"] == "npz:my data.npz"
    assert config["init"] == "std:0.01"
    assert config["batch_size"] == 100 and config["lr"] == 0.05 and config["seed"] == 0


def test_every_training_field_can_be_overridden():
    ir = compile_ir("input 4\naffine 2\ntrain {\n  epochs 3\n}\n")
    overrides = {"epochs": "7", "lr": "0.5", "optimizer": "sgd", "weight_decay": "1e-4", "schedule": "cosine"}
    config = resolve_training(ir, overrides)
    assert (config["epochs"], config["lr"], config["optimizer"], config["weight_decay"], config["schedule"]) == (
        7, 0.5, "sgd", 1e-4, "cosine",
    )


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"epochs": "x"}, "--epochs: expected a whole number for 'epochs', got 'x'"),
        ({"lr": "-1"}, "--lr: the learning rate must be greater than 0, got -1"),
        ({"optimizer": "adamw"}, "--optimizer: the optimizer must be one of"),
        ({"epoch": "3"}, "unknown training field 'epoch' — did you mean 'epochs'?"),
    ],
)
def test_bad_overrides_are_usage_errors(overrides, fragment):
    with pytest.raises(UsageError) as caught:
        resolve_training(compile_ir("input 4\naffine 2\n"), overrides)
    assert fragment in caught.value.message


def test_ir_round_trip_is_stable():
    ir = compile_ir(SIMPLE, filename="s.net")
    again = compile_ir(ir)
    assert again == ir
    assert compile_ir(again) == ir


def test_positions_point_at_the_keyword():
    ir = compile_ir("input 1x8x8\n\n  conv 2 3x3 ->\n    relu\n")
    assert by_name(ir, "conv1")["pos"] == {"line": 3, "col": 3, "span": 4}
    assert by_name(ir, "relu1")["pos"] == {"line": 4, "col": 5, "span": 4}
    assert ir["input"]["pos"] == {"line": 1, "col": 7, "span": 5}
