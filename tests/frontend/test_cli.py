"""The command line, end to end: exit codes, output, and errors shown without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netlang.cli import main

ROOT = Path(__file__).resolve().parents[2]
SIMPLE = ROOT / "specs" / "simple_convnet.net"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_is_silent_on_valid_specs(capsys):
    assert run(capsys, "check", *map(str, sorted((ROOT / "specs").glob("*.net")))) == (0, "", "")


def test_check_reports_every_bad_spec_and_exits_1(capsys, write_spec):
    bad = write_spec("input 1x28x28\nconv 30 5x5 -> reul\n", "bad.net")
    worse = write_spec("input 4\naffine 0\n", "worse.net")
    code, out, err = run(capsys, "check", str(SIMPLE), str(bad), str(worse))
    assert code == 1 and out == ""
    assert f"{bad}:2:16: unknown layer 'reul' — did you mean 'relu'?" in err
    assert f"{worse}:2:8: the number of outputs of affine1 must be at least 1, got 0" in err
    assert "Traceback" not in err


def test_summary_table(capsys):
    code, out, _ = run(capsys, "summary", str(SIMPLE))
    assert code == 0
    assert "conv1     conv 30 5x5         (30, 24, 24)      780  432,000" in out
    assert "Total params:" in out and "433,890" in out


def test_summary_json(capsys):
    code, out, _ = run(capsys, "summary", "--json", str(SIMPLE))
    data = json.loads(out)
    assert code == 0
    assert data["totals"]["params"] == 433_890 and data["totals"]["trainable"] == 433_890
    assert data["totals"]["non_trainable"] == 0 and data["totals"]["macs"] == 865_000
    first = data["layers"][0]
    assert {k: first[k] for k in ("name", "op", "out_shape", "params", "macs")} == {
        "name": "conv1", "op": "conv", "out_shape": [30, 24, 24], "params": 780, "macs": 432_000,
    }


def test_compile_writes_ir_that_is_accepted_as_a_spec(capsys, tmp_path):
    out_file = tmp_path / "sub" / "simple.json"
    assert run(capsys, "compile", str(SIMPLE), "-o", str(out_file))[0] == 0
    ir = json.loads(out_file.read_text())
    assert ir["netlang"] == 2 and ir["totals"]["params"] == 433_890
    assert [layer["inputs"] for layer in ir["layers"][:2]] == [["input"], ["conv1"]]
    code, out, _ = run(capsys, "summary", str(out_file))
    assert code == 0 and "433,890" in out


def test_bad_ir_json_is_located(capsys, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"netlang": 1,\n  "input": {"shape": [4]},\n  "layers": [,]\n}\n')
    code, _, err = run(capsys, "check", str(broken))
    assert code == 1 and err.startswith(f"{broken}:3:14: not valid JSON: Expecting value")


def test_ir_schema_errors_name_the_json_path(capsys, tmp_path):
    ir_file = tmp_path / "hand.json"
    ir_file.write_text(json.dumps({"netlang": 1, "input": {"shape": [4]}, "layers": [{"name": "a", "op": "affin",
                                                                                        "args": {}}]}))
    code, _, err = run(capsys, "check", str(ir_file))
    assert code == 1
    column = ir_file.read_text().index('"affin"') + 1  # located in the IR file itself
    assert f"{ir_file}:1:{column}: layers[0].op: the layer must be one of" in err and "did you mean 'affine'?" in err


def test_ir_of_another_version_is_refused(capsys, tmp_path):
    ir_file = tmp_path / "v3.json"
    ir_file.write_text(json.dumps({"netlang": 3, "input": {"shape": [4]}, "layers": []}))
    code, _, err = run(capsys, "check", str(ir_file))
    assert code == 1 and "this IR is version 3; this netlang reads version 1 and 2" in err


def test_ir_of_version_1_still_loads_as_a_chain(capsys, tmp_path):
    ir_file = tmp_path / "v1.json"
    ir_file.write_text(json.dumps({"netlang": 1, "input": {"shape": [1, 6, 6]}, "layers": [
        {"name": "c", "op": "conv", "args": {"filters": 2, "kernel": [3, 3], "stride": [1, 1], "pad": [0, 0],
                                             "round": "exact"}},
        {"name": "r", "op": "relu", "args": {}},
        {"name": "fc", "op": "affine", "args": {"units": 3}},
    ]}))
    code, out, _ = run(capsys, "summary", str(ir_file), "--json")
    assert code == 0
    layers = json.loads(out)["layers"]
    assert [(layer["name"], layer["inputs"]) for layer in layers] == [
        ("c", ["input"]), ("r", ["c"]), ("flatten1", ["r"]), ("fc", ["flatten1"])
    ]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["summary", "no/such/file.net"], "no/such/file.net: no such file"),
        (["summary"], "the following arguments are required: SPEC"),
        (["summary", "--jsn", "x.net"], "unrecognized arguments: --jsn"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in err and err.count("\n") == 1


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["summary", "--help"])
    assert exited.value.code == 0
    assert "netlang summary specs/simple_convnet.net" in capsys.readouterr().out


def test_console_entry_point_prints_no_traceback(tmp_path):
    spec = tmp_path / "bad.net"
    spec.write_text("input 1x28x28\nconv 30 5x5 -> pool 5\n")
    result = subprocess.run([sys.executable, "-m", "netlang", "check", str(spec)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[1:] == ["    conv 30 5x5 -> pool 5", "                   ^~~~"]


def test_stdin_spec(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("input 4\naffine 2\n"))
    code, out, _ = run(capsys, "summary", "-")
    assert code == 0 and "affine1" in out


def test_check_and_summary_start_without_numpy(tmp_path):
    # Start-up time is most of `netlang summary`'s run time; numpy alone would add about 0.1 s.
    code = (
        "import sys; from netlang.cli import main; "
        f"assert main(['summary', {str(SIMPLE)!r}]) == 0; assert main(['check', {str(SIMPLE)!r}]) == 0; "
        "assert 'numpy' not in sys.modules, 'numpy was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
