"""The memory forecast (netlang/memory/) against the measured peak of real training steps, and its commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build, parallel
from netlang.backend import losses as backend_losses
from netlang.errors import UsageError
from netlang.language.compiler import compile_ir
from netlang.limits import max_memory
from netlang.memory import model as memory_model
from netlang.memory.arrays import Tracker
from netlang.memory.forecast import OPTIMIZER_SLOTS, forecast_evaluation, forecast_step, shard_count
from netlang.memory.guard import available_memory
from netlang.memory.layer import LayerMemory
from netlang.memory.measure import measure_evaluation, measure_step
from netlang.memory.model import SimModel
from netlang.ops import OPS
from netlang.train.optimizers import OPTIMIZERS

SPECS = Path(__file__).resolve().parents[2] / "specs"
TOLERANCE = 0.10  # the bound; the cases below come within 1-4 % (README: "Memory of a training step")

# (spec, batch, optimizer, weight decay): an MLP, a conv net, a batchnorm net and graph nets, unsharded and
# sharded (batches of 64 and more are split over the BLAS threads where there are several), every optimizer.
CASES = [
    ("two_layer.net", 100, "sgd", 0.0),
    ("simple_convnet.net", 1, "adam", 0.0),
    ("simple_convnet.net", 100, "momentum", 0.0),
    ("multilayer_bn.net", 100, "nesterov", 0.1),
    # LeNet-5 unsharded: sharded at batch 64 its step peaks anywhere from 17.1 MB (shards in turn) to 19.2 MB
    # (shards' temporaries overlapping on threads), as the threads' timing falls, against 18.9 forecast.
    ("lenet5.net", 32, "rmsprop", 0.0),
    ("deep_convnet.net", 8, "adagrad", 0.0),
    ("resnet.net", 8, "adam", 0.0),
    ("inception.net", 64, "sgd", 0.0),
]


@pytest.mark.parametrize("spec, batch, optimizer, decay", CASES)
def test_the_forecast_is_within_ten_percent_of_the_measured_peak(spec, batch, optimizer, decay):
    ir = compile_ir(SPECS / spec)
    # Sharded steps run their shards on threads: when one starts late, the peak misses part of their overlap,
    # which the forecast counts (see the LeNet-5 case above).
    measured = max(measure_step(ir, batch, optimizer, weight_decay=decay) for _ in range(3))
    forecast = forecast_step(ir, batch, optimizer, weight_decay=decay)
    assert abs(forecast["total"] - measured) <= TOLERANCE * measured, (forecast["total"], measured)
    assert sum(forecast["by_kind"].values()) == forecast["total"]
    assert sum(row["bytes"] for row in forecast["layers"]) == forecast["total"]


def _op_case_spec(name: str, text: str, shape: str) -> str:
    """A network around one op's check case: an identity first (so the op computes its input gradient), and
    a classifier after it unless the op must be last (then the loss is the mean squared error)."""
    if OPS[name].last_only:
        return f"input {shape}\nidentity\n{text}\n"
    image = OPS[name].merge or len(shape.split("x")) == 3
    return f"input {shape}\nidentity\n{text}\n" + ("flatten\n" if image else "") + "affine 3\nsoftmax\n"


# Beyond each op's first two check cases: every conv layout (shifted with a fused relu and pool, shifted with a
# cropped dout, channel-major), padded and overlapping pools, a max global pool.
LAYOUT_CASES = [
    ("conv", "conv 6 3x3 pad 1 -> relu -> pool 2", "8x8x8"),
    ("conv", "conv 3 2x2 pad 2", "9x3x3"),
    ("conv", "conv 4 3x3 stride 2 pad 1 -> relu", "8x9x9"),
    ("pool", "pool 3 stride 2 pad 1", "4x9x9"),
    ("pool", "pool avg 3 stride 1 pad 1", "4x6x6"),
    ("global_pool", "global_pool max", "4x5x5"),
]


@pytest.mark.parametrize(
    "name, text, shape",
    [(name, text, shape) for name, op in OPS.items() if op.differentiable for text, shape in op.checks[:2]]
    + LAYOUT_CASES,
)
def test_every_op_s_memory_rule_matches_its_layer(name, text, shape):
    ir = compile_ir(_op_case_spec(name, text, shape))
    # large enough for the arrays to outweigh the ufuncs' own buffers (NumPy's iterators buffer 8,192 values)
    batch = 4096
    loss = "mse" if OPS[name].last_only else "auto"
    measured = measure_step(ir, batch, "sgd", loss=loss, max_shards=1)
    forecast = forecast_step(ir, batch, "sgd", loss=loss, shards=1)
    assert abs(forecast["total"] - measured) <= TOLERANCE * measured, (forecast["total"], measured)


def test_every_op_declares_a_memory_rule():
    for name, op in OPS.items():
        assert isinstance(op.memory, type) and issubclass(op.memory, LayerMemory), name
        assert op.memory.forward is not LayerMemory.forward and op.memory.backward is not LayerMemory.backward


@pytest.mark.parametrize("spec", sorted(path.name for path in SPECS.glob("*.net")))
def test_the_forecast_plans_as_the_model_does(spec):
    ir = compile_ir(SPECS / spec)
    model = build(ir)
    mirror = SimModel(ir, model.loss_name, Tracker(), 4)
    assert mirror.plan == model.plan
    for layer, shadow in zip(model.layers, mirror.layers, strict=True):
        assert getattr(layer, "layout", None) == getattr(shadow, "layout", None)


def test_the_forecast_shards_as_the_model_does():
    ir = compile_ir(SPECS / "lenet5.net")
    macs = ir["totals"]["macs"]
    threads = parallel.blas_threads()
    for batch in (1, 31, 32, 64, 100, 1000):
        assert shard_count(ir, batch) == parallel.shard_count(batch, macs)
        assert shard_count(ir, batch, threads) == parallel.shard_count(batch, macs)  # the rule without NumPy


def test_the_forecast_knows_the_losses_and_optimizers_of_the_backend():
    assert memory_model.FUSED_ACTIVATION == backend_losses.FUSED_ACTIVATION
    assert memory_model.DEFAULT_LOSS_BY_LAST_OP == backend_losses.DEFAULT_LOSS_BY_LAST_OP
    assert {name: cls.slots for name, cls in OPTIMIZERS.items()} == OPTIMIZER_SLOTS


def test_optimizer_state_is_what_each_optimizer_keeps():
    ir = compile_ir(SPECS / "two_layer.net")
    states = {name: forecast_step(ir, 1, name, shards=1)["by_kind"]["optimizer state"] for name in OPTIMIZERS}
    param_bytes = 4 * ir["totals"]["params"]
    assert states == {"sgd": 0, "momentum": param_bytes, "nesterov": param_bytes, "adagrad": param_bytes,
                      "rmsprop": param_bytes, "adam": 2 * param_bytes}


def _netlang(*argv: str, env: dict[str, str] | None = None, code: str | None = None):
    import os

    environ = {**os.environ, **(env or {})}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "netlang", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=environ)


def test_summary_batch_reports_the_forecast_without_importing_numpy():
    spec = str(SPECS / "simple_convnet.net")
    code = (
        "import sys, json, io, contextlib; from netlang.cli import main\n"
        "text = io.StringIO()\n"
        f"with contextlib.redirect_stdout(text): assert main(['summary', {spec!r}, '--batch', '100', "
        "'--optimizer', 'adam', '--json']) == 0\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
        "print(text.getvalue())"
    )
    result = _netlang(code=code)
    assert result.returncode == 0, result.stderr
    memory = json.loads(result.stdout)["memory"]
    ir = compile_ir(SPECS / "simple_convnet.net")
    assert memory == forecast_step(ir, 100, "adam")
    assert memory["dominant"] == "affine1"  # its weights, their gradients, Adam's two moments and temporaries
    text = _netlang("summary", spec, "--batch", "100", "--optimizer", "adam").stdout
    assert "Training step memory at batch 100: " in text and "Largest: affine1" in text


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--optimizer", "adam"], ["--batch", "5", "--optimizer", "lbfgs"]])
def test_summary_refuses_bad_memory_flags(argv):
    result = _netlang("summary", str(SPECS / "xor.net"), *argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_train_refuses_a_step_larger_than_the_memory_limit_before_allocating(tmp_path):
    run = tmp_path / "run"
    result = _netlang("train", str(SPECS / "simple_convnet.net"), "--out", str(run), "--epochs", "1",
                      env={"NETLANG_MAX_MEMORY": "1000000"})
    assert result.returncode == 1, result.stderr
    message = result.stderr
    forecast = forecast_step(compile_ir(SPECS / "simple_convnet.net"), 100, "adam")
    assert "needs about" in message and "NETLANG_MAX_MEMORY allows 976.56 KiB" in message
    assert "layer 'affine1'" in message and "simple_convnet.net:" in message
    assert f"{forecast['total'] / 2**20:.2f} MiB" in message
    assert not run.exists()


def test_a_bad_memory_limit_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("NETLANG_MAX_MEMORY", "lots")
    with pytest.raises(UsageError, match="NETLANG_MAX_MEMORY"):
        max_memory()
    monkeypatch.setenv("NETLANG_MAX_MEMORY", "123")
    assert max_memory() == 123


def test_available_memory_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    2000000 kB\n")
    assert available_memory(meminfo) == 2_000_000 * 1024
    assert available_memory(tmp_path / "absent") is None or available_memory(tmp_path / "absent") > 0


@pytest.mark.parametrize("spec, batch, eval_batch, trained", [
    ("simple_convnet.net", 100, 1000, True),  # train's evaluation after an epoch: 164 MiB against a 32 MiB step
    ("resnet.net", 32, 256, False),  # eval and predict: a freshly built model
    ("multilayer_bn.net", 100, 1000, True),
])
def test_the_evaluation_forecast_is_within_ten_percent_of_the_measured_peak(spec, batch, eval_batch, trained):
    ir = compile_ir(SPECS / spec)
    # Shards evaluate on threads: when one starts late, the peak misses part of their overlap, which the forecast
    # counts (SimpleConvNet evaluating 1,000: 218 MiB measured so, 243-251 MiB otherwise, 251 forecast).
    measured = max(measure_evaluation(ir, batch, eval_batch, "adam", trained) for _ in range(3))
    forecast = forecast_evaluation(ir, batch, eval_batch, "adam", trained=trained)
    assert abs(forecast["total"] - measured) <= TOLERANCE * measured, (forecast["total"], measured)


def test_train_refuses_an_evaluation_larger_than_the_memory_limit(tmp_path):
    spec = SPECS / "digits_convnet.net"  # a 1.1 MiB step at batch 50, 3.4 MiB to evaluate 360 samples at once
    run = tmp_path / "run"
    result = _netlang("train", str(spec), "--out", str(run), "--epochs", "1", env={"NETLANG_MAX_MEMORY": "2000000"})
    assert result.returncode == 1, result.stderr
    assert "evaluating after an epoch of training needs about 3.35 MiB" in result.stderr
    assert "layer 'conv1'" in result.stderr and not run.exists()


def test_eval_and_predict_refuse_a_batch_larger_than_the_memory_limit(tmp_path):
    spec, run = str(SPECS / "xor.net"), tmp_path / "run"
    assert _netlang("train", spec, "--out", str(run), "--epochs", "1").returncode == 0
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, np.zeros((3, 2), np.float32))
    for argv in (["eval", spec, "--weights", str(run)], ["predict", spec, str(inputs), "--weights", str(run)]):
        assert _netlang(*argv).returncode == 0
        refused = _netlang(*argv, env={"NETLANG_MAX_MEMORY": "100"})
        assert refused.returncode == 1 and "needs about" in refused.stderr and "Traceback" not in refused.stderr


def test_the_forecast_of_a_huge_batch_costs_what_a_small_one_does():
    import time

    ir = compile_ir(SPECS / "deep_convnet.net")
    started = time.perf_counter()
    huge = forecast_step(ir, 10**12, "adam", shards=2)
    assert time.perf_counter() - started < 5  # a conv's blocks are replayed once per block size, not per block
    assert huge["total"] > 10**12 * ir["totals"]["act_bytes"] // 2
