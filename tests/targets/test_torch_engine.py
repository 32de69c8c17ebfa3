"""The torch engine (netlang/targets/torch_engine.py) runs netlang's run, not an approximation of it: in float64,
without dropout, it gives the NumPy engine's losses and weights step for step with every optimizer; every
registered op computes there what it computes in NumPy; runs resume on either engine. Skipped without torch."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from netlang import cli
from netlang.backend import build as build_numpy
from netlang.cli import main
from netlang.language.compiler import compile_ir
from netlang.ops import OPS
from netlang.train.loop import add_weight_decay
from netlang.train.optimizers import DEFAULT_LR, OPTIMIZERS, make_optimizer

torch = pytest.importorskip("torch")
from netlang.targets.torch_engine import build as build_torch  # noqa: E402 (after the skip)

CONV_NET = (
    "input 2x12x12\n"
    "conv 4 3x3 pad 1 -> relu -> pool 2 -> conv 6 2x2 stride 2 -> tanh -> affine 12 -> elu 0.5 -> affine 3 -> softmax\n"
)
# No batchnorm straight after a conv or an affine: the bias gradient there is zero up to rounding noise, which
# the adaptive optimizers would blow up to steps of size lr in either engine, differently.
BATCHNORM_NET = (
    "input 2x6x6\n"
    "conv 4 3x3 -> relu -> batchnorm -> pool 2 -> affine 10 -> tanh -> batchnorm momentum 0.8 eps 0.001\n"
    "affine 3 -> softmax\n"
)
STEPS = 20


def relative_difference(ours, theirs) -> float:
    """The largest difference of two tensors, relative to the largest magnitude of the first."""
    return float(np.abs(ours - theirs).max() / max(np.abs(ours).max(), 1e-300))


@pytest.fixture(autouse=True)
def one_thread():
    """Small steps: torch's threads only wait for each other (and on a busy machine, for a core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("net", [CONV_NET, BATCHNORM_NET], ids=["conv", "batchnorm"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_both_engines_give_the_same_losses_and_weights_for_every_optimizer(net, optimizer):
    ir = compile_ir(net)
    config = {"optimizer": optimizer, "lr": 3 * DEFAULT_LR[optimizer], "momentum": 0.9, "eps": 1e-8,
              "rho": 0.9, "beta1": 0.9, "beta2": 0.999}
    engines = [build_numpy(ir, dtype="float64", seed=4), build_torch(ir, dtype="float64", seed=4)]
    optimizers = [make_optimizer(config, model.xp) for model in engines]
    start = {name: array.copy() for name, array in engines[0].state_dict().items()}
    for name, array in engines[1].state_dict().items():
        np.testing.assert_array_equal(array, start[name])  # netlang's initial weights, bit for bit
    rng = np.random.default_rng(0)
    losses = [[], []]
    for step in range(STEPS):
        batch = 7 if step % 5 == 4 else 12  # a short batch now and then, as an epoch's last
        x = rng.standard_normal((batch, *ir["input"]["shape"]))
        t = rng.integers(0, 3, batch)
        for model, opt, record in zip(engines, optimizers, losses, strict=True):
            loss, grads, outputs = model.loss_and_gradients(x, t)
            loss, grads = add_weight_decay(loss, grads, model.params, 0.01)
            opt.update(model.params, grads)
            record.append(loss)
            assert isinstance(outputs, np.ndarray) and outputs.shape == (batch, 3)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-10)
    ours, theirs = engines[0].state_dict(), engines[1].state_dict()
    assert set(ours) == set(theirs)
    for name in ours:
        assert relative_difference(ours[name], theirs[name]) <= 1e-8, name
    assert max(relative_difference(start[name], ours[name]) for name in ours) > 1e-3  # it did train
    if "batchnorm" in net:
        assert not np.allclose(ours["batchnorm1.running_var"], 1.0)


@pytest.mark.parametrize(
    "name, spec, shape", [(name, spec, shape) for name, op in OPS.items() for spec, shape in op.checks]
)
def test_every_registered_op_computes_the_same_in_both_engines(name, spec, shape):
    """Registry-driven: an op without a torch lowering fails here (as tests/test_registries.py's check)."""
    ir = compile_ir(f"input {shape}\n{spec}\n")
    # mse: a loss that fuses no final activation, so that a lone softmax or sigmoid is checked too
    numpy_model = build_numpy(ir, loss="mse", dtype="float64", seed=1)
    torch_model = build_torch(ir, loss="mse", dtype="float64", seed=1)
    rng = np.random.default_rng(2)
    moved = {key: value + 0.3 * rng.standard_normal(value.shape) for key, value in numpy_model.state_dict().items()}
    for key in moved:
        if key.endswith("running_var"):
            moved[key] = np.abs(moved[key]) + 0.5
    for model in (numpy_model, torch_model):
        model.load_state_dict(moved)
    x = rng.standard_normal((5, *ir["input"]["shape"]))
    np.testing.assert_allclose(torch_model.predict(x), numpy_model.predict(x), rtol=1e-10, atol=1e-12)
    if OPS[name].layer.draws_random or not OPS[name].differentiable:
        return  # dropout's masks differ by design (see the dropout test); step is never trained
    targets = rng.standard_normal((5, *ir["layers"][-1]["out_shape"]))
    loss, grads, outputs = numpy_model.loss_and_gradients(x, targets)
    torch_loss, torch_grads, torch_outputs = torch_model.loss_and_gradients(x, targets)
    assert torch_loss == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(torch_outputs, outputs, rtol=1e-10, atol=1e-12)
    for key, grad in grads.items():
        np.testing.assert_allclose(torch_grads[key].numpy(), grad, rtol=1e-8, atol=1e-12, err_msg=key)
    ours, theirs = numpy_model.state_dict(), torch_model.state_dict()
    for key in ours:  # batchnorm's running averages moved alike
        np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-12, err_msg=key)


def test_dropout_keeps_its_ratio_and_is_reproducible_from_the_seed():
    ir = compile_ir("input 4000\ndropout 0.3\n")
    x = np.ones((2, 4000))
    first, second = build_torch(ir, dtype="float64", seed=5), build_torch(ir, dtype="float64", seed=5)
    out = first.forward(x, train=True)
    assert set(np.unique(out)) == {0.0, 1 / 0.7}
    assert abs((out == 0).mean() - 0.3) < 0.02
    np.testing.assert_array_equal(second.forward(x, train=True), out)
    assert not np.array_equal(first.forward(x, train=True), out)  # a new mask each step
    np.testing.assert_array_equal(first.forward(x, train=False), x)


def test_bce_and_mse_losses_and_one_hot_targets_match():
    for spec, targets in (
        ("input 4\naffine 1 -> sigmoid\n", np.array([0, 1, 1, 0, 1])),
        ("input 4\naffine 3 -> tanh\n", np.random.default_rng(0).standard_normal((5, 3))),
        ("input 4\naffine 3 -> softmax\n", np.eye(3)[[0, 2, 1, 1, 0]]),
    ):
        ir = compile_ir(spec)
        x = np.random.default_rng(1).standard_normal((5, 4))
        ours = build_numpy(ir, dtype="float64").loss_and_gradients(x, targets)
        theirs = build_torch(ir, dtype="float64").loss_and_gradients(x, targets)
        assert theirs[0] == pytest.approx(ours[0], rel=1e-12)
        np.testing.assert_allclose(theirs[2], ours[2], rtol=1e-12)
        for key in ours[1]:
            np.testing.assert_allclose(theirs[1][key].numpy(), ours[1][key], rtol=1e-10)


def test_evaluate_batch_gives_the_inference_loss_and_predict_s_outputs_of_both_engines():
    ir = compile_ir(BATCHNORM_NET)
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((9, 2, 6, 6)), rng.integers(0, 3, 9)
    numpy_model = build_numpy(ir, dtype="float64")
    torch_model = build_torch(ir, dtype="float64")
    for model in (numpy_model, torch_model):
        model.loss_and_gradients(x, t)  # the running averages move, identically in both
        loss, outputs = model.evaluate_batch(x, t)
        assert loss == pytest.approx(model.loss(x, t, train=False), rel=1e-12)
        np.testing.assert_allclose(outputs, model.predict(x), rtol=1e-12)
    ours, theirs = numpy_model.evaluate_batch(x, t), torch_model.evaluate_batch(x, t)
    assert theirs[0] == pytest.approx(ours[0], rel=1e-10)
    np.testing.assert_allclose(theirs[1], ours[1], rtol=1e-10)


def test_bad_targets_and_inputs_are_data_errors():
    from netlang.errors import DataError

    model = build_torch(compile_ir("input 4\naffine 3 -> softmax\n"))
    with pytest.raises(DataError, match="class index out of range 0..2"):
        model.loss_and_gradients(np.zeros((2, 4)), np.array([0, 3]))
    with pytest.raises(DataError, match="does not fit the network input"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(DataError, match="tensor 'affine1.W' has shape"):
        model.load_state_dict({"affine1.W": np.zeros((3, 4)), "affine1.b": np.zeros(3)})


# -- the command line -------------------------------------------------------------------------------------

SPEC = """\
input 1x8x8
conv 4 3x3 -> relu -> batchnorm -> pool 2 -> affine 10 -> softmax
train {
  data digits
  train_subset 120
  optimizer adam
  lr 0.01
  batch_size 50
  epochs 2
  weight_decay 0.001
  schedule step
  step_size 1
  gamma 0.5
}
"""


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("train", "eval"))
    path = tmp_path / "net.net"
    path.write_text(SPEC)
    return path


def _train(*args) -> int:
    return main(["train", *map(str, args)])


def _weights(run) -> dict[str, np.ndarray]:
    with np.load(run / "weights.npz") as archive:
        return {name: archive[name] for name in archive.files if name != "__ir__"}


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _same_run(ours, theirs) -> None:
    for mine, other in zip(_metrics(ours), _metrics(theirs), strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert mine[key] == pytest.approx(other[key], rel=1e-9), key
    mine, other = _weights(ours), _weights(theirs)
    for name in mine:
        assert relative_difference(mine[name], other[name]) <= 1e-8, name


def test_a_torch_run_is_the_numpy_run_and_resumes_on_either_engine(spec, tmp_path, capsys):
    numpy_run, torch_run, crossed = tmp_path / "numpy", tmp_path / "torch", tmp_path / "crossed"
    assert _train(spec, "--dtype", "float64", "--out", numpy_run, "--epochs", 3) == 0
    assert _train(spec, "--engine", "torch", "--device", "cpu", "--dtype", "float64", "--out", torch_run) == 0
    result = json.loads((torch_run / "result.json").read_text())
    assert result["engine"] == {"name": "torch", "dtype": "float64", "device": "cpu", "processes": 1}
    assert json.loads((numpy_run / "result.json").read_text())["engine"] == {"name": "numpy", "dtype": "float64"}
    # The torch run resumes on the NumPy engine (its float64 kept) and ends where the NumPy run ended.
    assert _train(spec, "--resume", torch_run, "--epochs", 3) == 0
    _same_run(torch_run, numpy_run)
    # And a NumPy run resumes on the torch engine.
    assert _train(spec, "--dtype", "float64", "--out", crossed, "--epochs", 1) == 0
    assert _train(spec, "--resume", crossed, "--epochs", 3, "--engine", "torch") == 0
    _same_run(crossed, numpy_run)
    assert json.loads((crossed / "result.json").read_text())["engine"]["name"] == "torch"
    # eval reads the torch-trained weights with the NumPy engine.
    capsys.readouterr()
    assert main(["eval", str(spec), "--weights", str(crossed)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_a_dropout_run_on_torch_resumed_mid_way_is_the_straight_run(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("train",))
    spec = tmp_path / "drop.net"
    spec.write_text(SPEC.replace("-> pool 2 ->", "-> pool 2 -> dropout 0.3 ->"))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(spec, "--engine", "torch", "--out", straight) == 0
    assert _train(spec, "--engine", "torch", "--out", resumed, "--epochs", 1) == 0
    assert _train(spec, "--engine", "torch", "--resume", resumed, "--epochs", 2) == 0
    for name, array in _weights(straight).items():
        np.testing.assert_array_equal(_weights(resumed)[name], array)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--engine", "torch", "--device", "tpu"], "--device tpu: unknown device; expected auto, cpu"),
        (["--device", "cpu"], "--device cpu chooses where --engine torch runs; add --engine torch"),
        (["--engine", "torch", "--device", "cuda:x"], "--device cuda:x"),
    ],
)
def test_bad_engine_flags_are_usage_errors(spec, tmp_path, capsys, flags, message):
    assert _train(spec, "--out", tmp_path / "run", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_without_torch_one_line_says_how_to_install_it(spec, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert _train(spec, "--engine", "torch", "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith('pip install "netlang[torch]"') and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_optimizers_state_is_saved_from_torch_tensors_as_numpy_arrays():
    model = build_torch(compile_ir("input 3\naffine 2 -> softmax\n"), dtype="float64")
    optimizer = OPTIMIZERS["adam"](0.1, xp=model.xp)
    _, grads, _ = model.loss_and_gradients(np.ones((2, 3)), np.array([0, 1]))
    optimizer.update(model.params, grads)
    state = optimizer.state_dict()
    assert all(isinstance(value, (np.ndarray, np.generic)) for value in state.values()) and len(state) == 5
    restored = OPTIMIZERS["adam"](0.1, xp=model.xp)
    restored.load_state_dict(state)
    assert all(array.device == model.device for arrays in restored.state.values() for array in arrays.values())


def test_the_torch_model_implements_the_engine_interface():
    from netlang.engine import Model

    assert isinstance(build_torch(compile_ir("input 3\naffine 2 -> softmax\n")), Model)


def test_bench_times_the_torch_engine(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("bench",))
    spec = tmp_path / "net.net"
    spec.write_text("input 1x6x6\nconv 2 3x3 -> relu -> affine 3 -> softmax\n")
    assert main(["bench", str(spec), "--engine", "torch", "--device", "cpu", "--steps", "2", "--images", "20"]) == 0
    out = capsys.readouterr().out
    assert "batch 100, torch engine on cpu" in out
    assert re.search(r"training step \(forward \+ backward \+ Adam\): [\d.]+ ms median", out)
    assert main(["bench", str(spec), "--device", "cpu"]) == 2


def test_an_error_of_pytorch_mid_run_is_one_line_and_the_checkpoint_resumes(spec, tmp_path, capsys, monkeypatch):
    from netlang.targets.torch_engine import TorchModel

    def out_of_memory(self, x, t):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(TorchModel, "loss_and_gradients", out_of_memory)
    run = tmp_path / "run"
    assert _train(spec, "--engine", "torch", "--out", run) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"PyTorch stopped the run: CUDA out of memory. Tried to allocate 2.00 GiB; {run / 'checkpoint.npz'}"
                   " holds the last state saved")
    monkeypatch.undo()
    monkeypatch.setattr(cli, "COMMANDS", ("train",))
    assert _train(spec, "--resume", run, "--engine", "torch") == 0


def test_under_torchrun_the_numpy_engine_is_refused_and_a_broken_environment_is_named(spec, tmp_path, capsys,
                                                                                      monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert _train(spec, "--out", tmp_path / "run") == 2
    assert "started by torchrun (WORLD_SIZE > 1): add --engine torch" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "two")
    assert _train(spec, "--engine", "torch", "--out", tmp_path / "run") == 2
    assert "RANK or LOCAL_RANK is missing or not a number" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
