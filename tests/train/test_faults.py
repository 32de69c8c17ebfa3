"""Ctrl-C and kill -9 in the middle of real training, in a child process: the run is left resumable.

(The full disk is simulated in test_run_directory.py.) The child trains a small digits network for many
epochs; the signal comes once the first epoch's metrics are on disk.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlang.train.checkpoint import load_checkpoint

SPEC = """\
input 1x8x8
affine 16 -> relu -> affine 10 -> softmax
train {
  data digits
  batch_size 8
  epochs 100000
  val_split 0.1
}
"""
STARTUP_SECONDS = 60


def start_training(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    spec = tmp_path / "long.net"
    spec.write_text(SPEC)
    run = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "netlang", "train", str(spec), "--out", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (run / "metrics.jsonl").exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"training did not finish an epoch: {child.communicate()[1]}")
        time.sleep(0.02)
    return child, spec, run


def resume_one_more_epoch(spec: Path, run: Path) -> dict:
    saved = load_checkpoint(run / "checkpoint.npz", None)
    epochs = saved.epoch + 1
    done = subprocess.run(
        [sys.executable, "-m", "netlang", "train", str(spec), "--resume", str(run), "--epochs", str(epochs)],
        capture_output=True, text=True, timeout=STARTUP_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((run / "result.json").read_text())
    assert result["finished"] and result["epochs"] == epochs
    return result


def test_ctrl_c_leaves_a_resumable_run(tmp_path):
    child, spec, run = start_training(tmp_path)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=STARTUP_SECONDS)
    assert child.returncode == 130, err
    assert "Traceback" not in err and f"--resume {run}" in err
    resume_one_more_epoch(spec, run)


def test_kill_9_leaves_a_resumable_run_and_no_lock(tmp_path):
    child, spec, run = start_training(tmp_path)
    time.sleep(0.05)  # somewhere in a later epoch, perhaps in the middle of a write
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=STARTUP_SECONDS)
    assert child.returncode == -signal.SIGKILL
    resume_one_more_epoch(spec, run)  # the lock died with its process
    assert not list(run.glob(".*.tmp"))  # a killed write's temporary file is cleared by the next run
