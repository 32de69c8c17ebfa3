"""The run directory is never lost or shared, and the train command line behaves like every other command.

Hostile cases of issue 13's classes 2 (work lost without a word), 5 (run directory and file system) and 8
(command-line consistency), all on the 4-sample XOR network so each run takes milliseconds.
"""

from __future__ import annotations

import errno
import io
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from netlang.cli import main
from netlang.train.checkpoint import load_checkpoint
from netlang.train.rundir import RunLock

REPO = Path(__file__).resolve().parents[2]
XOR = REPO / "specs" / "xor.net"


def netlang(capsys, *argv):
    """Run the command line; (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def train(capsys, run, *more, spec=XOR, epochs=2):
    return netlang(capsys, "train", spec, "--out", run, "--epochs", epochs, *more)


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- class 2: an existing run is never overwritten, two processes never share one ----------------------------


def test_training_onto_an_existing_run_is_refused_and_changes_nothing(capsys, tmp_path):
    run = tmp_path / "run"
    assert train(capsys, run)[0] == 0
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    code, out, err = train(capsys, run, epochs=3)
    assert code == 2 and out == ""
    line = one_line(err)
    assert f"--resume {run}" in line and "--overwrite" in line
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_overwrite_replaces_the_run_and_leaves_none_of_the_old_files(capsys, tmp_path):
    run = tmp_path / "run"
    assert train(capsys, run, epochs=3)[0] == 0
    (run / "best.npz").write_bytes(b"an old run's file")
    code, _, err = train(capsys, run, "--overwrite", epochs=1)
    assert code == 0, err
    assert json.loads((run / "result.json").read_text())["epochs"] == 1
    assert load_checkpoint(run / "checkpoint.npz").epoch == 1
    assert not (run / "best.npz").exists()  # val_split 0: this run writes no best.npz


def test_a_directory_with_other_files_is_refused(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = train(capsys, tmp_path)
    assert code == 2 and "not empty" in one_line(err) and "notes.txt" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_resume_and_overwrite_together_are_a_usage_error(capsys, tmp_path):
    run = tmp_path / "run"
    assert train(capsys, run)[0] == 0
    code, _, err = netlang(capsys, "train", XOR, "--resume", run, "--overwrite")
    assert code == 2 and "--overwrite" in one_line(err)


@pytest.mark.parametrize("how", ["new", "resume", "overwrite"])
def test_a_run_in_use_is_refused_naming_the_other_process(capsys, tmp_path, how):
    run = tmp_path / "run"
    assert train(capsys, run)[0] == 0
    before = (run / "checkpoint.npz").read_bytes()
    argv = {"new": ["--out", run], "resume": ["--resume", run], "overwrite": ["--out", run, "--overwrite"]}[how]
    with RunLock(run):
        code, out, err = netlang(capsys, "train", XOR, *argv, "--epochs", 4)
    assert code == 1 and out == ""
    line = one_line(err)
    assert f"pid {os.getpid()} on {socket.gethostname()}" in line and "in use" in line
    assert (run / "checkpoint.npz").read_bytes() == before


def test_a_lock_left_by_a_dead_process_does_not_block(capsys, tmp_path):
    run = tmp_path / "run"
    assert train(capsys, run)[0] == 0
    (run / ".lock").write_text("pid=999999 host=elsewhere started=yesterday\n")  # the file, without the lock
    code, _, err = netlang(capsys, "train", XOR, "--resume", run, "--epochs", 3)
    assert code == 0, err


def test_search_does_not_write_through_a_symlink(capsys, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    out_dir = tmp_path / "search"
    out_dir.mkdir()
    (out_dir / "trials.jsonl").symlink_to(outside)
    code, _, err = netlang(capsys, "search", XOR, "--out", out_dir, "--trials", 1, "--epochs", 1, "--no-plot",
                           "--set", "val_split=0.5")
    assert code == 2 and "symbolic link" in one_line(err)
    assert outside.read_text() == "keep me\n"


# -- class 5: the file system refuses --------------------------------------------------------------------------


def test_out_naming_a_file_is_one_line(capsys, tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("a file")
    code, _, err = train(capsys, target)
    assert code == 2 and "is a file" in one_line(err)
    assert target.read_text() == "a file"


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_an_unwritable_out_is_one_line_and_writes_nothing(capsys, tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = blocker / "run" if where == "under a file" else Path("/proc/netlang-cannot-write-here/run")
    code, _, err = train(capsys, run)
    assert code == 2 and "cannot create the run directory" in one_line(err)


def test_a_full_disk_keeps_the_last_checkpoint_and_the_run_resumes(capsys, tmp_path, monkeypatch):
    from netlang import atomic

    run = tmp_path / "run"
    real = atomic.write_atomically
    writes = {"count": 0}

    def disk_full_after_epoch_one(path, write):
        writes["count"] += 1
        if load_checkpoint_epoch(run) >= 1:  # the first epoch's files are all written; then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, write)

    monkeypatch.setattr(atomic, "write_atomically", disk_full_after_epoch_one)
    code, _, err = train(capsys, run, epochs=3)
    assert code == 1 and "Traceback" not in err
    assert "No space left on device" in err and "holds the state after epoch 1" in err
    assert f"--resume {run}" in err
    assert load_checkpoint(run / "checkpoint.npz").epoch == 1
    assert not [path for path in run.iterdir() if path.name.endswith(".tmp")]

    monkeypatch.setattr(atomic, "write_atomically", real)
    code, _, err = netlang(capsys, "train", XOR, "--resume", run)
    assert code == 0, err
    assert json.loads((run / "result.json").read_text())["epochs"] == 3


def load_checkpoint_epoch(run: Path) -> int:
    path = run / "checkpoint.npz"
    return load_checkpoint(path).epoch if path.exists() else -1


# -- class 8: the command line is consistent -------------------------------------------------------------------


def test_dash_reads_the_spec_from_standard_input(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(XOR.read_text()))
    code, out, err = netlang(capsys, "train", "-", "--out", tmp_path / "run", "--epochs", 2)
    assert code == 0, err
    assert "training - on xor" in out


def test_a_missing_spec_without_a_suffix_is_no_such_file(capsys, tmp_path):
    for command in (["train"], ["check"], ["eval", "--weights", tmp_path]):
        code, _, err = netlang(capsys, command[0], tmp_path / "nospec", *command[1:])
        assert code == 2 and one_line(err).endswith("nospec: no such file"), err


@pytest.mark.parametrize("flag", [["--lr", "nan"], ["--set", "lr=inf"], ["--momentum=-inf"], ["--eps", "NaN"]])
def test_non_finite_numbers_are_refused_as_flags(capsys, tmp_path, flag):
    code, _, err = train(capsys, tmp_path / "run", *flag)
    assert code == 2 and "finite" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_command_line_mistakes_exit_2_and_bad_content_1(capsys, tmp_path):
    run = tmp_path / "run"
    assert train(capsys, run)[0] == 0
    sample = tmp_path / "x.npy"
    np.save(sample, np.zeros((1, 2), np.float32))
    mistakes = [
        ["train", XOR, "--data", "mnsit", "--out", tmp_path / "other"],
        ["train", XOR, "--set", "data=npz:missing.npz", "--out", tmp_path / "other"],
        ["eval", XOR, "--weights", run, "--data", "mnsit"],
        ["eval", XOR, "--weights", tmp_path / "missing.npz"],
        ["predict", XOR, "--weights", tmp_path / "missing", sample],
        ["train", XOR, "--resume", tmp_path / "nowhere"],
    ]
    for argv in mistakes:
        code, _, err = netlang(capsys, *argv)
        assert code == 2, (argv, err)
        one_line(err)
    assert "did you mean 'mnist'" in netlang(capsys, *mistakes[0])[2]
    assert not (tmp_path / "other").exists()
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    code, _, err = netlang(capsys, "eval", XOR, "--weights", tmp_path / "bad.npz")
    assert code == 1


def test_the_chosen_loss_is_printed_and_recorded(capsys, tmp_path):
    code, out, _ = train(capsys, tmp_path / "softmax")
    assert code == 0 and "cross_entropy loss" in out.splitlines()[0]
    assert json.loads((tmp_path / "softmax" / "result.json").read_text())["config"]["loss"] == "cross_entropy"
    plain = tmp_path / "plain.net"
    plain.write_text(XOR.read_text().replace("affine 2 -> softmax", "affine 2"))
    code, out, _ = train(capsys, tmp_path / "linear", spec=plain)
    assert code == 0 and "mse loss" in out.splitlines()[0]
    assert json.loads((tmp_path / "linear" / "result.json").read_text())["config"]["loss"] == "mse"


def test_a_step_layer_is_refused_at_its_line_before_anything_is_written(capsys, tmp_path):
    spec = tmp_path / "step.net"
    spec.write_text("input 2\naffine 4 -> step -> affine 2 -> softmax\ntrain {\n  data xor\n}\n")
    code, out, err = train(capsys, tmp_path / "run", spec=spec)
    assert code == 1 and out == ""
    assert err.startswith(f"{spec}:2:13: layer 'step1' (step) has no useful gradient")
    assert "    affine 4 -> step" in err
    assert not (tmp_path / "run").exists()


def test_a_resumed_cosine_schedule_keeps_its_span(capsys, tmp_path):
    run = tmp_path / "run"
    schedule = ["--schedule", "cosine", "--min-lr", "0.001"]
    assert train(capsys, tmp_path / "straight", *schedule, epochs=3)[0] == 0
    assert train(capsys, run, *schedule, epochs=3)[0] == 0
    code, out, err = netlang(capsys, "train", XOR, "--resume", run, "--epochs", 5)
    assert code == 0, err
    assert "keeps the 3 epochs it was started with" in out
    rates = [json.loads(line)["lr"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(line)["lr"] for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert rates[:3] == straight
    assert rates[3:] == [pytest.approx(0.001)] * 2  # after the schedule's end: its final rate, never back up
    assert rates[2] > rates[3]


def test_non_finite_numbers_are_refused_by_every_command(capsys):
    for argv in (["gradcheck", XOR, "--threshold", "nan"], ["search", XOR, "--set", "lr=inf"]):
        code, _, err = netlang(capsys, *argv)
        assert code == 2 and "finite" in one_line(err), (argv, err)


def test_a_stopped_cosine_run_resumes_bit_identically(capsys, tmp_path, monkeypatch):
    from netlang.backend.model import Model

    schedule = ["--schedule", "cosine", "--min-lr", "0.001"]
    assert train(capsys, tmp_path / "straight", *schedule, epochs=4)[0] == 0
    real, calls = Model.loss_and_gradients, {"count": 0}

    def ctrl_c_in_epoch_three(self, x, t):
        calls["count"] += 1
        if calls["count"] == 3:  # one step per epoch on XOR
            raise KeyboardInterrupt
        return real(self, x, t)

    monkeypatch.setattr(Model, "loss_and_gradients", ctrl_c_in_epoch_three)
    run = tmp_path / "stopped"
    assert train(capsys, run, *schedule, epochs=4)[0] == 130
    monkeypatch.setattr(Model, "loss_and_gradients", real)
    code, out, err = netlang(capsys, "train", XOR, "--resume", run)
    assert code == 0 and "resuming after epoch 2" in out, err
    with np.load(tmp_path / "straight" / "weights.npz") as straight, np.load(run / "weights.npz") as resumed:
        for name in straight.files:
            np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
