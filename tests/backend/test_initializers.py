"""Initialisation schemes and their resolution order: layer arg > the network's scheme > auto, where the
network's scheme is the caller's to resolve (command line > train.init > auto, as every training field)."""

from __future__ import annotations

import numpy as np
import pytest

from netlang.backend import build
from netlang.errors import SchemaError
from netlang.initializers import initial_weight, resolve_schemes
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training

NET = "input 1x8x8\nconv 4 3x3 -> relu -> affine 5 -> dropout 0.1 -> tanh -> affine 3 -> leaky_relu -> affine 2\n"


def test_auto_picks_he_before_the_relu_family_and_xavier_otherwise():
    assert resolve_schemes(compile_ir(NET)) == {
        "conv1": "he",
        "affine1": "xavier",
        "affine2": "he",
        "affine3": "xavier",
    }


def test_resolution_order():
    spec = NET.replace("affine 5", "affine 5 init std:0.5") + "train {\n init xavier_uniform\n}\n"
    ir = compile_ir(spec)
    from_spec = resolve_training(ir)["init"]
    overridden = resolve_training(ir, {"init": "he_uniform"})["init"]
    assert resolve_schemes(ir, from_spec)["conv1"] == "xavier_uniform"
    assert resolve_schemes(ir, overridden)["conv1"] == "he_uniform"
    assert resolve_schemes(ir, overridden)["affine1"] == "std:0.5"
    assert resolve_schemes(ir)["conv1"] == "he"  # the IR's train section is not read here
    # build takes the resolved scheme: the spec's section reaches the weights through the caller
    weights = build(ir, init=from_spec, seed=3).params["conv1.W"]
    np.testing.assert_array_equal(weights, build(ir, init="xavier_uniform", seed=3).params["conv1.W"])
    assert not np.array_equal(weights, build(ir, seed=3).params["conv1.W"])


@pytest.mark.parametrize(
    "scheme, std",
    [("he", np.sqrt(2 / 300)), ("xavier", np.sqrt(1 / 300)), ("std:0.01", 0.01), ("normal:0.2", 0.2)]
    + [("he_uniform", np.sqrt(2 / 300)), ("xavier_uniform", np.sqrt(1 / 300))],
)
def test_schemes_draw_the_documented_spread(scheme, std):
    weights = initial_weight(scheme, (200, 3, 10, 10), 300, np.random.default_rng(0), np.float32)
    assert weights.dtype == np.float32
    assert weights.std() == pytest.approx(std, rel=0.02)
    assert abs(weights.mean()) < 0.05 * std


def test_biases_gamma_beta_and_prelu_slopes_start_at_fixed_values():
    model = build(compile_ir("input 4\naffine 3 -> batchnorm -> prelu -> affine 2 -> softmax\n"))
    assert model.params["affine1.b"].tolist() == [0, 0, 0]
    assert model.params["batchnorm1.gamma"].tolist() == [1, 1, 1]
    assert model.params["batchnorm1.beta"].tolist() == [0, 0, 0]
    assert model.params["prelu1.alpha"].tolist() == [0.25] * 3
    assert model.buffers["batchnorm1.running_var"].tolist() == [1, 1, 1]


def test_same_seed_same_weights_other_seed_other_weights():
    ir = compile_ir(NET)
    a, b, c = build(ir, seed=1), build(ir, seed=1), build(ir, seed=2)
    np.testing.assert_array_equal(a.params["conv1.W"], b.params["conv1.W"])
    assert not np.array_equal(a.params["conv1.W"], c.params["conv1.W"])


@pytest.mark.parametrize("bad", ["gaussian", "std:", "std:-1", "he:2", "normal:abc"])
def test_bad_scheme_is_a_schema_error_listing_the_valid_ones(bad):
    with pytest.raises(SchemaError, match="std:SIGMA|positive number"):
        build(compile_ir(NET), init=bad)


def test_bad_scheme_message_lists_valid_schemes():
    with pytest.raises(SchemaError) as info:
        build(compile_ir(NET), init="glorot")
    assert "'glorot'" in str(info.value)
    for name in ("std:SIGMA", "xavier", "xavier_uniform", "he", "he_uniform"):
        assert name in str(info.value)
