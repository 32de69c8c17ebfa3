"""`torchrun --nproc-per-node 2 -m netlang train SPEC --engine torch` (CPU, gloo): the distributed run is the
single-process run of the same global batch, one process writes the run, and Ctrl-C leaves a checkpoint that
resumes. Skipped without torch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from netlang import cli
from netlang.cli import main

torch = pytest.importorskip("torch")

# 31 samples: a validation split of 6 leaves 25 to train on, so each epoch ends with a batch of one row, of
# which the first process gets none. Batchnorm after conv and after affine: statistics of the whole batch.
SPEC = """\
input 1x6x6
conv 4 3x3 pad 1 -> relu -> batchnorm -> pool 2 -> affine 8 -> tanh -> batchnorm -> affine 3 -> softmax
train {
  data npz:tiny.npz
  optimizer adam
  lr 0.01
  batch_size 8
  epochs 2
  val_split 0.2
  weight_decay 0.01
}
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((39, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 39)
    np.savez(tmp_path / "tiny.npz", x_train=x[:31], y_train=y[:31], x_test=x[31:], y_test=y[31:])
    (tmp_path / "net.net").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "COMMANDS", ("train",))
    return tmp_path


def torchrun(*args: str, **popen) -> subprocess.Popen:
    """torchrun with two local processes on a free port, running `netlang train ARGS --engine torch`."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "netlang", "train", *args, "--engine", "torch"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def weights(run) -> dict[str, np.ndarray]:
    with np.load(run / "weights.npz") as archive:
        return {name: archive[name] for name in archive.files if name != "__ir__"}


def test_two_processes_train_what_one_process_trains_on_the_whole_batch(workdir):
    launched = torchrun("net.net", "--dtype", "float64", "--out", "ddp")
    assert main(["train", "net.net", "--engine", "torch", "--dtype", "float64", "--out", "single"]) == 0
    out, err = launched.communicate(timeout=300)
    assert launched.returncode == 0, err
    assert out.count("results in ddp") == 1  # only the first process prints
    ddp, single = workdir / "ddp", workdir / "single"
    for name, array in weights(single).items():
        difference = np.abs(weights(ddp)[name] - array).max() / np.abs(array).max()
        assert difference <= 1e-6, name
    assert not np.allclose(weights(ddp)["batchnorm1.running_var"], 1.0)
    ours = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    for mine, other in zip(ours, theirs, strict=True):
        assert mine["train_loss"] == pytest.approx(other["train_loss"], rel=1e-9)
        assert mine["val_loss"] == pytest.approx(other["val_loss"], rel=1e-9)
    result = json.loads((ddp / "result.json").read_text())
    assert result["engine"] == {"name": "torch", "dtype": "float64", "device": "cpu", "processes": 2}
    assert result["test_acc"] == json.loads((single / "result.json").read_text())["test_acc"]


def test_ctrl_c_stops_every_process_after_one_step_with_a_resumable_checkpoint(workdir):
    launched = torchrun("net.net", "--out", "stopped", "--epochs", "100000", start_new_session=True)
    deadline = time.monotonic() + 120
    while not (workdir / "stopped" / "metrics.jsonl").exists():  # training is under way
        assert launched.poll() is None and time.monotonic() < deadline, launched.communicate()
        time.sleep(0.2)
    os.killpg(launched.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the launcher's process group
    out, err = launched.communicate(timeout=120)
    assert launched.returncode != 0
    assert "interrupted; stopped/checkpoint.npz holds the state after" in err
    assert "resume with:\n  torchrun --nproc-per-node 2 -m netlang train net.net --resume stopped --engine torch" in err
    stopped = json.loads((workdir / "stopped" / "result.json").read_text())
    assert not stopped["finished"]
    # The checkpoint resumes, here in one process on the NumPy engine.
    epochs = stopped["epochs"] + 1
    assert main(["train", "net.net", "--resume", "stopped", "--epochs", str(epochs)]) == 0
    assert json.loads((workdir / "stopped" / "result.json").read_text())["epochs"] == epochs
