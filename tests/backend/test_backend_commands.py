"""`netlang gradcheck` and `netlang bench` end to end through the command line."""

from __future__ import annotations

import re
from pathlib import Path

from netlang.cli import main
from netlang.ops.relu import Relu

SPEC = "input 1x6x6\nconv 2 3x3 -> relu -> pool 2 -> affine 3 -> softmax\n"


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "net.net"
    path.write_text(text)
    return str(path)


def test_gradcheck_passes_and_prints_every_parameter(tmp_path, capsys):
    assert main(["gradcheck", write_spec(tmp_path), "--entries", "0"]) == 0
    out = capsys.readouterr().out
    for name in ("conv1.W", "conv1.b", "affine1.W", "affine1.b"):
        assert re.search(rf"^{re.escape(name)} .* \d\.\d\de-\d\d$", out, flags=re.MULTILINE), out
    assert "ok" in out.splitlines()[-1]


def test_gradcheck_fails_with_exit_1_on_a_wrong_backward(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Relu, "backward", lambda self, dout: dout)  # forgets the mask
    assert main(["gradcheck", write_spec(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED" in out.splitlines()[-1]


def test_gradcheck_refuses_a_step_network(tmp_path, capsys):
    assert main(["gradcheck", write_spec(tmp_path, "input 2\naffine 1 -> step\n")]) == 1
    assert "step1" in capsys.readouterr().err


def test_bench_prints_step_time_and_throughput(tmp_path, capsys):
    assert main(["bench", write_spec(tmp_path), "--steps", "2", "--warmup", "0", "--images", "50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"training step .*: \d+\.\d ms median", out)
    assert re.search(r"inference: [\d,]+ images/s", out)


def test_gradcheck_samples_a_deep_net_with_dropout(capsys):
    spec = str(Path(__file__).parents[2] / "specs" / "deep_convnet.net")
    assert main(["gradcheck", spec, "--batch", "2", "--entries", "5"]) == 0
    assert capsys.readouterr().out.count("\n") == 1 + 16 + 1
