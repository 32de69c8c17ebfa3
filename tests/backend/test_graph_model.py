"""Graphs on the NumPy backend: gradients that add up over branches, plans (fusion, shared buffers, shards) that
change no result, and every command on a graph spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.gradcheck import check_model_gradients
from netlang.backend.plan import fuse_into_layers, swap_relu_before_max_pool
from netlang.cli import main
from netlang.language.compiler import compile_ir
from netlang.ops.base import NETWORK_INPUT

# Branches of convs and relus (which keep nothing for backward, so their arrays may live in shared buffers),
# a fork read by two branches and the merge, a relu before a max pool, a concat, and an identity skip.
GRAPHS = {
    "residual": "input 2x8x8\nconv 4 3x3 pad 1 -> relu\n"
                "(conv 4 3x3 pad 1 -> relu -> conv 4 3x3 pad 1 + identity) -> relu\n"
                "(conv 6 3x3 pad 1 -> relu -> pool 2 + conv 6 1x1 stride 2 -> relu) -> relu -> affine 3 -> softmax\n",
    "inception": "input 3x8x8\nconv 4 3x3 pad 1 -> relu\n"
                 "(conv 2 1x1 -> relu | conv 3 3x3 pad 1 -> relu -> conv 2 3x3 pad 1 | pool max 3 stride 1 pad 1"
                 " -> conv 2 1x1) -> relu -> (affine 5 -> relu + affine 5 -> tanh) -> affine 3 -> softmax\n",
    "dense": "input 2x6x6\nconv 3 3x3 pad 1\n(identity | relu -> conv 2 3x3 pad 1) * 3 -> relu -> global_pool"
             " -> affine 3 -> softmax\n",
}


def same_step(first, second, x, labels, atol=1e-12):
    a, b = first.loss_and_gradients(x, labels), second.loss_and_gradients(x, labels)
    assert a[0] == pytest.approx(b[0], abs=atol)
    np.testing.assert_allclose(a[2], b[2], atol=atol)
    for name in a[1]:
        np.testing.assert_allclose(a[1][name], b[1][name], atol=atol, err_msg=name)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_gradients_through_branches_match_central_differences(name):
    model = build(compile_ir(GRAPHS[name]), dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    for value in model.params.values():  # biases off zero: a 1x1 conv of an all-zero relu output would sit on a kink
        value += 0.1 * rng.standard_normal(value.shape)
    x = rng.standard_normal((4, *model.ir["input"]["shape"]))
    errors = check_model_gradients(model, x, np.array([0, 1, 2, 1]))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("name", list(GRAPHS))
def test_the_plan_changes_no_result_step_after_step(name):
    planned, plain = (build(compile_ir(GRAPHS[name]), dtype="float64", seed=2) for _ in range(2))
    plain.replan(())  # IR order, no fusion, every array fresh
    assert any(layer.output_slot for layer in planned.layers) and any(layer.input_grad_slot for layer in planned.layers)
    rng = np.random.default_rng(0)
    for _ in range(3):  # buffers are reused from step to step
        x = rng.standard_normal((5, *planned.ir["input"]["shape"]))
        same_step(planned, plain, x, rng.integers(0, 3, 5))
    np.testing.assert_allclose(planned.forward(x, train=False), plain.forward(x, train=False), atol=1e-12)


def test_a_value_two_branches_read_keeps_its_buffer_until_both_have_read_it():
    model = build(compile_ir(GRAPHS["residual"]), dtype="float64")
    steps = model.plan.steps
    index = {step.output: position for position, step in enumerate(steps)}
    for position, step in enumerate(steps):
        readers = [later for later, other in enumerate(steps) if step.output in other.inputs]
        if step.output_slot is None or not readers:
            continue
        # No step between this one and its last reader writes into the same slot.
        for between in steps[position + 1 : max(readers)]:
            assert between.output_slot != step.output_slot, (step.output, between.layer)
    forks = [step for step in steps if sum(step.output in other.inputs for other in steps) > 1 and step.output_slot]
    assert [fork.output for fork in forks] == ["relu3"]  # read by two convs: the case this test is about
    assert NETWORK_INPUT not in index


def test_fusion_and_the_relu_pool_swap_only_take_a_layer_that_alone_reads_the_one_before():
    spec = "input 2x8x8\nconv 4 3x3 pad 1 -> (relu + identity) -> relu -> (pool 2 | conv 2 2x2 stride 2)\n"
    model = build(compile_ir(spec))
    model.replan((swap_relu_before_max_pool, fuse_into_layers))
    by_layer = {step.layer: step for step in model.plan.steps}
    assert by_layer["conv1"].absorbs == ()  # its output is read by the relu and by the sum: nothing to fuse
    assert [step.layer for step in model.plan.steps][2:4] == ["add1", "relu2"]  # relu2 feeds two: no swap
    chain = build(compile_ir("input 4x8x8\nconv 4 3x3 pad 1 -> relu -> pool 2 -> conv 2 3x3 pad 1\n"))
    assert chain.plan.steps[0].absorbs == ("pool1", "relu1")  # a chain still fuses both, after the swap


def test_sharded_graph_steps_equal_one_pass():
    whole, sharded = (build(compile_ir(GRAPHS["inception"]), dtype="float64", seed=3) for _ in range(2))
    whole.max_shards = 1
    x = np.random.default_rng(0).standard_normal((64, 3, 8, 8))
    labels = np.random.default_rng(1).integers(0, 3, 64)
    sharded._sharded_loss_and_gradients(x, labels, 2, 2)  # warm the copies; then compare a fresh pair of steps
    a = whole.loss_and_gradients(x, labels)
    b = sharded._sharded_loss_and_gradients(x, labels, 2, 2)
    assert a[0] == pytest.approx(b[0], rel=1e-10)
    for name in a[1]:
        np.testing.assert_allclose(a[1][name], b[1][name], rtol=1e-9, atol=1e-12)


DIGITS_GRAPH = (
    "input 1x8x8\n"
    "block unit C {\n  (conv C 3x3 pad same -> relu + identity)\n}\n"
    "conv 6 3x3 pad 1 -> relu -> unit 6 -> (conv 4 1x1 | pool max 3 stride 1 pad 1 -> conv 2 1x1) -> relu\n"
    "affine 10 -> softmax\n"
    "train {\n  epochs 3\n  optimizer adam\n  lr 0.01\n}\n"
)


def test_every_command_runs_on_a_graph_spec(tmp_path, capsys):
    spec = tmp_path / "graph.net"
    spec.write_text(DIGITS_GRAPH)
    run = tmp_path / "run"
    assert main(["check", str(spec)]) == 0
    assert main(["train", str(spec), "--out", str(run)]) == 0
    result = json.loads((run / "result.json").read_text())
    assert result["test_acc"] > 0.8
    assert main(["eval", str(spec), "--weights", str(run)]) == 0
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((1, 8, 8), np.float32))
    assert main(["predict", str(spec), "--weights", str(run), str(image)]) == 0
    assert main(["train", str(spec), "--resume", str(run), "--epochs", "4"]) == 0
    assert main(["gradcheck", str(spec), "--entries", "5"]) == 0
    assert main(["bench", str(spec), "--steps", "2", "--warmup", "0", "--images", "20"]) == 0
    assert main(["activations", str(spec), "--out", str(tmp_path / "act"), "--batch", "20"]) == 0
    stats = json.loads(next((tmp_path / "act").glob("*.json")).read_text())
    assert {"unit1.conv2", "unit1.add1", "concat1"} <= {layer["name"] for layer in stats["inits"][0]["layers"]}
    assert main(["sweep", str(spec), "--set", "lr=0.01,0.02", "--epochs", "1", "--out", str(tmp_path / "sw")]) == 0
    search = tmp_path / "search"
    assert main(["search", str(spec), "--trials", "2", "--epochs", "1", "--out", str(search), "--no-plot"]) == 0
    assert len((search / "trials.jsonl").read_text().splitlines()) == 2
    assert main(["plot", str(run), "--out", str(tmp_path / "pictures"), "--no-plot"]) == 0
    capsys.readouterr()
