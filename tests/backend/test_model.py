"""Whole networks: the seeds' golden values, fused losses checked by central differences, dtype, dropout."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.gradcheck import check_model_gradients
from netlang.backend.im2col import im2col
from netlang.backend.plan import fuse_into_layers, swap_relu_before_max_pool
from netlang.errors import DataError, SchemaError, TrainingError
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training


def net(spec: str, **kw):
    """The model of a spec, with the loss and init of its training section, as `netlang train` builds it."""
    ir = compile_ir(spec)
    config = resolve_training(ir)
    return build(ir, loss=config["loss"], init=config["init"], **kw)


def assert_same_training_step(first, second, x, labels, atol: float = 1e-14) -> None:
    """Two models give the same loss, outputs and gradients (same keys and dtypes) on one training step."""
    loss_a, grads_a, out_a = first.loss_and_gradients(x, labels)
    loss_b, grads_b, out_b = second.loss_and_gradients(x, labels)
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-12)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert grads_a[name].dtype == grads_b[name].dtype
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-10, atol=atol)


def set_params(model, values: dict) -> None:
    for name, value in values.items():
        model.params[name][...] = value


def test_three_layer_sigmoid_net_matches_the_book():
    model = net("input 2\naffine 3 -> sigmoid -> affine 2 -> sigmoid -> affine 2 -> identity\n", dtype="float64")
    set_params(
        model,
        {
            "affine1.W": [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]],
            "affine1.b": [0.1, 0.2, 0.3],
            "affine2.W": [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]],
            "affine2.b": [0.1, 0.2],
            "affine3.W": [[0.1, 0.3], [0.2, 0.4]],
            "affine3.b": [0.1, 0.2],
        },
    )
    y = model.predict(np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(y, [[0.31682708, 0.69627909]], rtol=1e-7)


def test_single_sigmoid_neuron():
    model = net("input 2\naffine 1 -> sigmoid\n", dtype="float64")
    set_params(model, {"affine1.W": [[0.5], [0.5]], "affine1.b": [-0.7]})
    assert model.predict(np.array([[1.0, 1.0]]))[0, 0] == pytest.approx(0.574442516811659, abs=1e-15)


INPUTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
GATES = {"and": ([0.5, 0.5], -0.7), "nand": ([-0.5, -0.5], 0.7), "or": ([0.5, 0.5], -0.2)}
TRUTH = {"and": [0, 0, 0, 1], "nand": [1, 1, 1, 0], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0]}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_step_perceptron_gates(gate):
    model = net("input 2\naffine 1 -> step\n")
    weights, bias = GATES[gate]
    set_params(model, {"affine1.W": np.array(weights)[:, None], "affine1.b": [bias]})
    assert model.predict(INPUTS)[:, 0].tolist() == TRUTH[gate]


def test_xor_is_and_of_nand_and_or_in_two_step_layers():
    model = net("input 2\naffine 2 -> step -> affine 1 -> step\n")
    (nand_w, nand_b), (or_w, or_b), (and_w, and_b) = GATES["nand"], GATES["or"], GATES["and"]
    set_params(
        model,
        {
            "affine1.W": np.array([nand_w, or_w]).T,
            "affine1.b": [nand_b, or_b],
            "affine2.W": np.array(and_w)[:, None],
            "affine2.b": [and_b],
        },
    )
    assert model.predict(INPUTS)[:, 0].tolist() == TRUTH["xor"]


def test_training_through_step_is_refused_naming_the_layer():
    model = net("input 2\naffine 1 -> step\n")
    with pytest.raises(TrainingError, match="step1"):
        model.loss_and_gradients(INPUTS, np.array([[0.0], [0], [0], [1]]))


@pytest.mark.parametrize("batch, rows", [(1, 9), (10, 90)])
def test_im2col_shapes_follow_the_book(batch, rows):
    x = np.random.default_rng(0).standard_normal((batch, 3, 7, 7))
    channel_major = im2col(x, (5, 5), (1, 1), (0, 0), (3, 3))
    per_image = im2col(x, (5, 5), (1, 1), (0, 0), (3, 3), per_image=True)
    assert channel_major.shape == (75, rows) and per_image.shape == (batch, 75, 9)
    book = channel_major.T  # the book's layout, (N*OH*OW, C*KH*KW)
    assert book.shape == (rows, 75)
    np.testing.assert_array_equal(book, per_image.transpose(0, 2, 1).reshape(rows, 75))
    # Row r of the book's layout is the flattened (C, KH, KW) window at output pixel r.
    np.testing.assert_array_equal(book[batch * 9 - 1], x[batch - 1, :, 2:7, 2:7].reshape(-1))


LOSS_NETS = {
    "cross_entropy fused with softmax": (
        "input 1x6x6\nconv 2 3x3 -> relu -> pool 2 -> affine 4 -> softmax\n",
        4,
    ),
    "cross_entropy on logits": (
        "input 5\naffine 4 -> tanh -> affine 3\ntrain {\n loss cross_entropy\n}\n",
        3,
    ),
    "bce fused with sigmoid": ("input 5\naffine 4 -> elu -> affine 3 -> sigmoid\n", 3),
    "bce on logits": ("input 5\naffine 3 -> swish -> affine 2\ntrain {\n loss bce\n}\n", 2),
    "mse": ("input 5\naffine 4 -> sigmoid -> affine 2 -> identity\n", 2),
    "every trainable layer": (
        # No batchnorm straight after conv/affine: the bias gradient there is exactly zero,
        # and 0 against 1e-12 of rounding noise has no meaningful relative error.
        "input 2x6x6\nconv 3 3x3 pad 1 -> prelu -> batchnorm -> pool avg 2 -> conv 4 2x2 -> leaky_relu -> "
        "dropout 0.3 -> affine 6 -> swish -> batchnorm -> affine 3 -> softmax\n",
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(LOSS_NETS))
def test_model_gradients_match_central_differences(name):
    spec, classes = LOSS_NETS[name]
    model = net(spec, dtype="float64", seed=3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4,) + tuple(model.ir["input"]["shape"]))
    if model.loss_name == "cross_entropy":
        targets = rng.integers(0, classes, size=4)
    else:
        targets = rng.random((4, classes))
    errors = check_model_gradients(model, x, targets)
    assert max(errors.values()) < 1e-6, errors


def test_default_and_named_losses():
    assert net("input 3\naffine 2 -> softmax\n").loss_name == "cross_entropy"
    assert net("input 3\naffine 1 -> sigmoid\n").loss_name == "bce"
    assert net("input 3\naffine 2 -> tanh\n").loss_name == "mse"
    assert net("input 3\naffine 2 -> softmax\ntrain {\n loss auto\n}\n").loss_name == "cross_entropy"
    assert net("input 3\naffine 2 -> softmax\ntrain {\n loss mse\n}\n").loss_name == "mse"
    # build takes the training choices as arguments and never reads them back from the IR
    ir = compile_ir("input 3\naffine 2 -> softmax\ntrain {\n loss mse\n}\n")
    assert build(ir).loss_name == "cross_entropy"
    assert build(ir, loss="bce").loss_name == "bce"
    with pytest.raises(SchemaError, match="unknown loss 'hinge'"):
        build(ir, loss="hinge")


def test_one_hot_and_index_targets_give_the_same_loss_and_gradients():
    model = net("input 4\naffine 3 -> softmax\n", dtype="float64")
    x = np.random.default_rng(0).standard_normal((5, 4))
    labels = np.array([0, 2, 1, 1, 0])
    loss_a, grads_a, out_a = model.loss_and_gradients(x, labels)
    loss_b, grads_b, out_b = model.loss_and_gradients(x, np.eye(3)[labels])
    assert loss_a == pytest.approx(loss_b)
    np.testing.assert_allclose(grads_a["affine1.W"], grads_b["affine1.W"])
    np.testing.assert_allclose(out_a, model.predict(x))
    np.testing.assert_allclose(out_a.sum(axis=1), 1.0)


def test_cross_entropy_is_stable_for_huge_logits():
    model = net("input 2\naffine 2 -> softmax\n", dtype="float64")
    set_params(model, {"affine1.W": [[1e4, -1e4], [0, 0]]})
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = model.loss(np.array([[1.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(2e4)


def test_sigmoid_has_no_overflow_warnings():
    model = net("input 1\nsigmoid\n", dtype="float32")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = model.predict(np.array([[-1000.0], [1000.0], [0.0]]))
    assert y[:, 0].tolist() == [0.0, 1.0, 0.5]


def test_float32_stays_float32():
    model = net("input 1x8x8\nconv 2 3x3 -> batchnorm -> relu -> pool 2 -> affine 3 -> dropout 0.2 -> softmax\n")
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8))  # float64 in
    loss, grads, outputs = model.loss_and_gradients(x, np.array([0, 1, 2, 0]))
    assert outputs.dtype == np.float32
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert all(p.dtype == np.float32 for p in model.state_dict().values())


def test_params_are_the_layers_arrays():
    model = net("input 3\naffine 2 -> identity\n", dtype="float64")
    x = np.ones((1, 3))
    model.params["affine1.W"][...] = 0
    model.params["affine1.b"][...] = [1, 2]
    assert model.predict(x).tolist() == [[1.0, 2.0]]
    assert list(model.params) == ["affine1.W", "affine1.b"]


def test_first_layer_skips_its_input_gradient():
    model = net("input 3x5x5\nconv 2 3x3 -> tanh -> conv 2 3x3 -> affine 2 -> identity\n", dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    assert [layer.needs_input_grad for layer in model.layers[:3]] == [False, True, True]
    model.loss_and_gradients(x, np.zeros((2, 2)))
    assert model.layers[0].backward(np.ones((2, 2, 3, 3))) is None
    assert model.layers[2].backward(np.ones((2, 2, 1, 1))).shape == (2, 2, 3, 3)


def test_dropout_masks_follow_the_seed_and_vanish_in_inference():
    spec = "input 50\ndropout 0.5\n"
    x = np.ones((4, 50))
    a, b, c = (net(spec, seed=s) for s in (7, 7, 8))
    out_a, out_b, out_c = (m.forward(x, train=True) for m in (a, b, c))
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.array_equal(out_a, out_c)
    assert set(np.unique(out_a)) == {0.0, 2.0}
    np.testing.assert_array_equal(a.forward(x, train=False), x)


def test_batchnorm_uses_batch_stats_in_training_and_running_averages_in_inference():
    model = net("input 2x3x3\nbatchnorm\n", dtype="float64")
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 2, 3, 3))
    y = model.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    mean = x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(model.buffers["batchnorm1.running_mean"], 0.1 * mean)
    model.buffers["batchnorm1.running_mean"][...] = [1.0, 2.0]
    model.buffers["batchnorm1.running_var"][...] = [4.0, 1.0]
    y = model.forward(np.full((1, 2, 3, 3), 3.0), train=False)
    np.testing.assert_allclose(y[0, :, 0, 0], [2 / np.sqrt(4 + 1e-5), 1 / np.sqrt(1 + 1e-5)])


def test_max_pool_sends_each_gradient_to_exactly_one_position_even_on_ties():
    model = net("input 1x4x4\npool 2 stride 1\n", dtype="float64")
    layer = model.layers[0]
    layer.needs_input_grad = True
    layer.forward(np.zeros((1, 1, 4, 4)), train=True)
    dx = layer.backward(np.ones((1, 1, 3, 3)))
    assert dx.sum() == 9 and set(np.unique(dx)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert np.count_nonzero(dx) <= 9


def test_bad_dtype_and_wrong_input_shape_are_clear_errors():
    with pytest.raises(SchemaError, match="float16"):
        net("input 3\naffine 2 -> softmax\n", dtype="float16")
    model = net("input 3\naffine 2 -> softmax\n")
    with pytest.raises(DataError, match=r"\[3\]"):
        model.predict(np.ones((2, 4)))


def test_relu_before_max_pool_runs_after_it_with_identical_results():
    spec = "input 2x6x6\nconv 3 3x3 pad 1 -> relu -> pool 2 stride 2 pad 1 -> affine 4 -> softmax\n"
    swapped, reference = net(spec, dtype="float64"), net(spec, dtype="float64")
    assert [layer.node["op"] for layer in swapped.body[:3]] == ["conv", "pool", "relu"]
    reference.replan(())  # IR order
    x = np.random.default_rng(0).standard_normal((5, 2, 6, 6))
    x[0, :, :3] = -5  # some windows all negative
    assert_same_training_step(swapped, reference, x, np.array([0, 1, 2, 3, 0]))


def test_arrays_handed_on_through_shared_buffers_change_no_result():
    spec = (
        "input 2x10x10\n(conv 4 3x3 pad 1 -> relu) * 2 -> pool 2 -> conv 5 3x3 stride 2 pad 1 -> relu"
        " -> pool 2 stride 1 -> conv 3 1x1 -> relu -> affine 6 -> dropout 0.3 -> affine 3 -> softmax\n"
    )
    shared, fresh = net(spec, dtype="float64"), net(spec, dtype="float64")
    assert sum(layer.output_slot is not None for layer in shared.body) >= 5
    fresh.replan((swap_relu_before_max_pool, fuse_into_layers))  # the same plan, every array fresh
    assert [layer.name for layer in fresh.body] == [layer.name for layer in shared.body]
    assert not any(layer.output_slot or layer.input_grad_slot for layer in fresh.layers)
    rng = np.random.default_rng(0)
    for _ in range(3):  # the shared buffers carry nothing from step to step
        x, labels = rng.standard_normal((6, 2, 10, 10)), rng.integers(0, 3, 6)
        loss_a, grads_a, out_a = shared.loss_and_gradients(x, labels)
        loss_b, grads_b, out_b = fresh.loss_and_gradients(x, labels)
        assert loss_a == loss_b
        np.testing.assert_array_equal(out_a, out_b)
        for name in grads_a:
            np.testing.assert_array_equal(grads_a[name], grads_b[name])
    first = shared.forward(x, train=True)
    kept = first.copy()
    shared.forward(2 * x, train=True)
    np.testing.assert_array_equal(first, kept)  # what the caller gets is its own


FUSION_SPECS = [
    # pad 3 > kernel - 1 makes the shifted layout crop dout, which takes the other way to the bias gradient
    "input 3x6x6\nconv 4 3x3 pad 1 -> relu -> conv 2 3x3 pad 3 -> relu -> affine 3 -> softmax\n",
    # a max pool (with the relu before it, moved after it) fused into the conv; the next one cannot be
    "input 2x8x8\nconv 4 3x3 pad 1 -> relu -> pool 2 -> conv 3 3x3 pad 1 -> relu -> pool 2 pad 1 -> affine 3\n",
    # overlapping windows (gradients added), and floor rounding (a row and column in no window)
    "input 2x7x7\nconv 3 3x3 pad 1 -> pool 3 stride 2 -> relu -> conv 3 2x2 pad 1 -> pool 2 round floor"
    " -> affine 3\n",
]


@pytest.mark.parametrize("layout", ["shifted", "per_image", "channel_major"])
@pytest.mark.parametrize("spec", FUSION_SPECS, ids=["relu", "pool", "overlapping pool"])
def test_layers_fused_into_the_conv_before_them_change_no_result(spec, layout):
    fused, separate = net(spec, dtype="float64"), net(spec, dtype="float64")
    for model in (fused, separate):
        for layer in model.layers:
            if layer.node["op"] == "conv":
                layer.layout, layer.BLOCK_BYTES = layout, 1  # one image per block
    fused.replan()
    if layout == "shifted":
        assert len(fused.body) < len(fused.layers) - 1
    separate.replan(())
    for name, value in fused.params.items():  # biases away from zero too
        value[...] = separate.params[name] + 0.1 * np.random.default_rng(len(name)).standard_normal(value.shape)
        separate.params[name][...] = value
    x = np.random.default_rng(0).standard_normal((3,) + fused.layers[0].in_shape)
    x[0, :, :2] = 0.5  # ties in pool windows: the gradient must still go to one input
    assert_same_training_step(fused, separate, x, np.array([0, 1, 2]))
    np.testing.assert_allclose(fused.forward(x, train=False), separate.forward(x, train=False), rtol=1e-12)


def test_only_a_shifted_conv_takes_in_a_max_pool_without_padding():
    model = net("input 4x8x8\nconv 4 3x3 pad 1 -> pool 2 -> relu -> conv 3 3x3 pad 1 -> pool avg 2 -> affine 3\n")
    conv1, pool1, _, conv2, pool2 = model.layers[:5]
    assert conv1.fused_pool is pool1 and conv1.fused_relu
    assert conv2.fused_pool is None and pool2 in model.body
    assert [layer.node["op"] for layer in model.body] == ["conv", "conv", "pool", "flatten", "affine"]


def test_predict_in_batches_equals_one_inference_forward_and_leaves_training_intact():
    model = net(
        "input 1x8x8\nconv 3 3x3 pad 1 -> batchnorm -> relu -> pool 2 -> affine 4 -> softmax\n", dtype="float64"
    )
    x = np.random.default_rng(0).standard_normal((7, 1, 8, 8))
    labels = np.array([0, 1, 2, 3, 0, 1, 2])
    _, grads_before, _ = model.loss_and_gradients(x, labels)
    grads_before = {k: v.copy() for k, v in grads_before.items()}
    whole = model.forward(x, train=False)
    np.testing.assert_allclose(model.predict(x, batch_size=3), whole, rtol=1e-12)
    loss_after, grads_after, _ = model.loss_and_gradients(x, labels)
    for name in grads_before:  # same batch, same weights: the work arrays carried nothing over
        np.testing.assert_allclose(grads_after[name], grads_before[name], rtol=1e-12)


def test_gradients_that_are_zero_up_to_rounding_are_checked_absolutely():
    from netlang.backend.gradcheck import gradient_error

    zeros = np.zeros(5)
    assert gradient_error(zeros, np.full(5, 3e-11)) == 0.0  # rounding noise around a true zero
    assert gradient_error(zeros, np.full(5, 1e-3)) == 1.0  # a real gradient the backward missed
    # A bias straight before batchnorm has a zero gradient (up to rounding); the check passes on it.
    model = net("input 5\naffine 4 -> batchnorm -> tanh -> affine 3 -> softmax\n", dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 5))
    errors = check_model_gradients(model, x, np.array([0, 1, 2, 0, 1, 2]))
    assert np.all(np.abs(model.gradients(x, np.array([0, 1, 2, 0, 1, 2]))["affine1.b"]) < 1e-12)
    assert max(errors.values()) < 1e-6, errors


def test_build_refuses_ir_without_inferred_shapes():
    ir = compile_ir("input 3\naffine 2 -> softmax\n")
    del ir["layers"][0]["out_shape"]
    with pytest.raises(SchemaError, match="affine1.*out_shape.*compile_ir"):
        build(ir)


SHARDED_SPEC = "input 4x8x8\nconv 6 3x3 pad 1 -> relu -> pool 2 -> affine 10 -> {extra}softmax\n"


@pytest.fixture
def two_blas_threads(monkeypatch):
    """Shard training steps in two whatever this machine's BLAS is set to, however small the step."""
    monkeypatch.setattr("netlang.backend.parallel.blas_threads", lambda: 2)
    monkeypatch.setattr("netlang.backend.parallel.MIN_PARALLEL_MACS", 0)


def test_a_step_too_small_to_share_runs_on_one_thread(monkeypatch):
    from netlang.backend import parallel

    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    limits = []
    monkeypatch.setattr(parallel, "single_threaded_blas", lambda: limits.append(1) or contextlib.nullcontext())
    monkeypatch.setattr("netlang.backend.model.single_threaded_blas", parallel.single_threaded_blas)
    model = net(SHARDED_SPEC.format(extra=""))
    x, labels = np.random.default_rng(0).standard_normal((70, 4, 8, 8)), np.arange(70) % 10
    assert 70 * model.ir["totals"]["macs"] < parallel.MIN_PARALLEL_MACS
    model.loss_and_gradients(x, labels)
    assert not model._copies and limits == [1]  # unsharded, BLAS limited to one thread for the step
    big = 1 + parallel.MIN_PARALLEL_MACS // model.ir["totals"]["macs"]
    assert parallel.shard_count(big, model.ir["totals"]["macs"]) == 2


def test_a_sharded_step_gives_the_serial_step_s_loss_gradients_and_outputs(two_blas_threads):
    spec = SHARDED_SPEC.format(extra="")
    sharded, serial = net(spec, dtype="float64"), net(spec, dtype="float64")
    serial.max_shards = 1
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((70, 4, 8, 8)), rng.integers(0, 10, 70)  # shards of 35 and 35
    assert_same_training_step(sharded, serial, x, labels, atol=1e-15)
    assert len(sharded._copies) == 2 and not serial._copies


def test_sharded_dropout_follows_the_seed_and_small_batches_are_not_sharded(two_blas_threads):
    x, labels = np.random.default_rng(0).standard_normal((70, 4, 8, 8)), np.arange(70) % 10
    dropout_spec = SHARDED_SPEC.format(extra="dropout 0.5 -> ")
    first, second = net(dropout_spec), net(dropout_spec)
    steps = []
    for _ in range(2):  # the same seed gives the same masks, step after step ...
        steps.append(first.gradients(x, labels)["affine1.W"])
        np.testing.assert_array_equal(steps[-1], second.gradients(x, labels)["affine1.W"])
    assert not np.array_equal(steps[0], steps[1])  # ... and each step new ones
    assert steps[0].dtype == np.float32  # shards' gradients averaged without leaving float32
    assert len(first._copies) == 2
    small = net(SHARDED_SPEC.format(extra=""))
    small.loss_and_gradients(x[:40], labels[:40])  # under two shards of MIN_SHARD
    assert not small._copies


BATCHNORM_SPECS = [
    "input 4x8x8\nconv 6 3x3 pad 1 -> batchnorm -> relu -> pool 2 -> affine 12 -> batchnorm -> relu -> affine 10"
    " -> softmax\n",
    "input 3x8x8\nconv 4 3x3 pad 1 -> batchnorm -> relu\n(conv 4 3x3 pad 1 -> batchnorm + identity) -> relu"
    " -> affine 10 -> softmax\n",
]


@pytest.mark.parametrize("spec", BATCHNORM_SPECS, ids=["chain", "residual"])
def test_sharded_batchnorm_steps_use_the_whole_batch_s_statistics(two_blas_threads, spec):
    sharded, serial = net(spec, dtype="float64"), net(spec, dtype="float64")
    serial.max_shards = 1
    rng = np.random.default_rng(0)
    for params in zip(sharded.params.values(), serial.params.values(), strict=True):  # biases off zero
        noise = 0.1 * rng.standard_normal(params[0].shape)
        params[0][...] += noise
        params[1][...] += noise
    for _ in range(2):  # running averages and gradients, step after step
        x, labels = rng.standard_normal((70, *sharded.ir["input"]["shape"])), rng.integers(0, 10, 70)
        loss_a, grads_a, out_a = sharded.loss_and_gradients(x, labels)
        loss_b, grads_b, out_b = serial.loss_and_gradients(x, labels)
        assert len(sharded._copies) == 2 and not serial._copies
        assert loss_a == pytest.approx(loss_b, rel=1e-12)
        np.testing.assert_allclose(out_a, out_b, rtol=1e-10, atol=1e-13)
        for name in grads_a:
            np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-9, atol=1e-12, err_msg=name)
        for name in sharded.buffers:
            np.testing.assert_allclose(sharded.buffers[name], serial.buffers[name], rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(sharded.predict(x), serial.predict(x), rtol=1e-10)


def test_a_failing_shard_stops_its_partners_instead_of_leaving_them_waiting(two_blas_threads):
    model = net(BATCHNORM_SPECS[0])
    x, labels = np.random.default_rng(0).standard_normal((70, 4, 8, 8)), np.arange(70) % 10
    model.loss_and_gradients(x, labels)  # makes the shards' copies

    def fail(x, train):
        raise RuntimeError("shard 2 fails before its batchnorm")

    model._copies[1].layers[0].forward = fail  # shard 1 waits at batchnorm for a partner that never comes
    with pytest.raises(RuntimeError, match="shard 2 fails"):  # its own error, not the partner's broken barrier
        model.loss_and_gradients(x, labels)
    del model._copies[1].layers[0].forward
    assert all(copy.layers[1].sync is None for copy in model._copies)  # the copies are ready for the next step
    loss, _, _ = model.loss_and_gradients(x, labels)
    assert np.isfinite(loss)

def test_sharded_inference_gives_the_serial_outputs_batchnorm_and_all(two_blas_threads):
    spec = "input 4x8x8\nconv 6 3x3 pad 1 -> batchnorm -> relu -> pool 2 -> affine 10 -> dropout 0.5 -> softmax\n"
    sharded, serial = net(spec, dtype="float64"), net(spec, dtype="float64")
    serial.max_shards = 1
    x = np.random.default_rng(0).standard_normal((150, 4, 8, 8))
    for model in (sharded, serial):  # running averages away from their start
        model.loss_and_gradients(x[:20], np.arange(20) % 10)
    np.testing.assert_allclose(sharded.predict(x, batch_size=70), serial.predict(x, batch_size=70), rtol=1e-12)
    assert len(sharded._copies) == 2 and not serial._copies


@pytest.mark.parametrize("spec, targets", [
    ("input 1x8x8\nconv 3 3x3 pad 1 -> batchnorm -> relu -> pool 2 -> affine 4 -> softmax\n", [0, 1, 2, 3, 0, 1, 2, 3]),
    ("input 5\naffine 1 -> sigmoid\n", [0, 1, 1, 0, 1, 0, 0, 1]),
    ("input 5\naffine 3 -> tanh\n", None),
], ids=["cross_entropy", "bce", "mse"])
@pytest.mark.parametrize("sharded", [False, True], ids=["one_shard", "two_shards"])
def test_evaluate_batch_gives_the_inference_loss_and_predict_s_outputs_from_one_forward(
    spec, targets, sharded, monkeypatch
):
    if sharded:
        monkeypatch.setattr("netlang.backend.parallel.blas_threads", lambda: 2)
        monkeypatch.setattr("netlang.backend.parallel.MIN_PARALLEL_MACS", 0)
        monkeypatch.setattr("netlang.backend.parallel.MIN_SHARD", 1)
    model = net(spec, dtype="float64")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, *model.ir["input"]["shape"]))
    t = np.array(targets) if targets is not None else rng.standard_normal((8, 3))
    model.loss_and_gradients(x, t)  # batchnorm's running averages move off their initial values
    assert model._shards(len(x)) == (2 if sharded else 1)
    loss, outputs = model.evaluate_batch(x, t)
    assert loss == pytest.approx(model.loss(x, t, train=False), rel=1e-12)
    np.testing.assert_allclose(outputs, model.predict(x), rtol=1e-12, atol=1e-15)
