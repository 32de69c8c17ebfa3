"""`netlang export --format pytorch`, end to end: the file it writes, with the weights it writes beside it (or any
weights file of a run, checkpoint.npz included), predicts what `predict` predicts; its mistakes are one line
with exit code 2 (the command line) or 1 (the content), and nothing is written then."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.cli import main
from netlang.language.compiler import compile_ir
from netlang.train.session import load_trained

torch = pytest.importorskip("torch")

SPECS = Path(__file__).parents[2] / "specs"
RESNET = SPECS / "resnet.net"


def netlang(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def load(source: Path, weights: Path) -> torch.nn.Module:
    """The module of an exported file (the one nn.Module class it defines) with `weights` loaded by its loader."""
    namespace: dict = {"__name__": source.stem}
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)
    (network,) = [value for value in namespace.values() if isinstance(value, type)
                  and issubclass(value, torch.nn.Module) and value.__module__ == source.stem]
    return namespace["load_netlang_weights"](network(), weights)


def run(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def inputs(ir: dict, batch: int = 6) -> np.ndarray:
    return np.random.default_rng(5).standard_normal((batch, *ir["input"]["shape"])).astype(np.float32)


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_fresh_weights_of_a_seed(capsys, tmp_path):
    out = tmp_path / "resnet.py"
    code, printed, err = netlang(capsys, "export", RESNET, "-o", out, "--seed", 3)
    assert code == 0 and err == ""
    weights = tmp_path / "resnet.npz"
    assert printed == f"wrote {out} and {weights}: class Resnet, 31 layers as 28 modules, fresh weights (seed 3)\n"
    text = out.read_text(encoding="utf-8")
    assert f"    netlang export {RESNET} --format pytorch -o {out} --seed 3\n" in text
    assert '    model = load_netlang_weights(Resnet(), "resnet.npz")\n' in text
    ir = compile_ir(RESNET)
    x = inputs(ir)
    assert_close(run(load(out, weights), x), build(ir, seed=3).predict(x))
    assert not np.allclose(run(load(out, weights), x), build(ir, seed=0).predict(x))
    # OUT.npz is a netlang weights file: predict reads it too
    np.save(tmp_path / "x.npy", x)
    code, printed, _ = netlang(capsys, "predict", RESNET, "--weights", weights, tmp_path / "x.npy", "--json")
    assert code == 0 and '"weights": "' in printed


def test_weights_files_and_run_directories(capsys, tmp_path):
    spec = tmp_path / "xor.net"
    spec.write_text((SPECS / "xor.net").read_text(encoding="utf-8"), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run_dir), "--epochs", "3"]) == 0
    capsys.readouterr()
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    for given in (run_dir, run_dir / "weights.npz", run_dir / "checkpoint.npz"):  # xor keeps no best.npz
        out = tmp_path / "xor_model.py"
        code, printed, _ = netlang(capsys, "export", spec, "--weights", given, "-o", out)
        assert code == 0 and printed.endswith(f"the weights of {given}\n")
        want = load_trained(str(spec), given).model.predict(x)
        assert_close(run(load(out, tmp_path / "xor_model.npz"), x), want)
        # the file's loader reads the run's own files as well, checkpoint.npz's layout included
        assert_close(run(load(out, given if given.suffix else given / "weights.npz"), x), want)
    # written over the weights it reads, the source leaves them as they are (a checkpoint stays a checkpoint)
    before = (run_dir / "checkpoint.npz").read_bytes()
    code, printed, _ = netlang(capsys, "export", spec, "--weights", run_dir / "checkpoint.npz", "-o",
                               run_dir / "checkpoint.py")
    assert code == 0 and f"wrote {run_dir / 'checkpoint.py'}, loading {run_dir / 'checkpoint.npz'}:" in printed
    assert (run_dir / "checkpoint.npz").read_bytes() == before
    assert_close(run(load(run_dir / "checkpoint.py", run_dir / "checkpoint.npz"), x),
                 load_trained(str(spec), run_dir / "checkpoint.npz").model.predict(x))


def test_format_from_the_flag_standard_input_and_ir_files(capsys, tmp_path, monkeypatch):
    text = "input 3\naffine 4 -> relu\naffine 2 -> softmax\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out = tmp_path / "net.txt"
    assert netlang(capsys, "export", "-", "--format", "pytorch", "-o", out)[0] == 0
    assert "class Net(nn.Module):" in out.read_text(encoding="utf-8")
    x = np.eye(3, dtype=np.float32)
    assert_close(run(load(out, tmp_path / "net.npz"), x), build(compile_ir(text)).predict(x))


def test_an_onnx_file_becomes_pytorch_source_with_its_own_weights(capsys, tmp_path):
    pytest.importorskip("onnx")
    model_file = tmp_path / "resnet.onnx"
    assert netlang(capsys, "export", RESNET, "--seed", 4, "-o", model_file)[0] == 0
    code, printed, _ = netlang(capsys, "export", model_file, "-o", tmp_path / "from_onnx.py")
    assert code == 0 and printed.endswith(f"the weights of {model_file}\n")
    ir = compile_ir(RESNET)
    x = inputs(ir)
    assert_close(run(load(tmp_path / "from_onnx.py", tmp_path / "from_onnx.npz"), x), build(ir, seed=4).predict(x))


def test_writing_the_file_needs_neither_torch_nor_onnx(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, _, err = netlang(capsys, "export", RESNET, "-o", tmp_path / "resnet.py")
    assert code == 0 and err == ""


@pytest.mark.parametrize("argv, expected", [
    (["--format", "pytorch", "-o", "out.npz"], "-o out.npz: the weights go to OUT.npz beside the source"),
    (["-o", "out.py", "--opset", "17"], "--opset is the ONNX opset; it does not apply to --format pytorch"),
    (["-o", "out.py", "--weights", "nowhere.npz"], "--weights nowhere.npz: no such file"),
    (["-o", "torch.py"], "-o torch.py: the file would hide the 'torch' module it imports"),
    (["--format", "pytorch", "-o", "."], "-o .: is a directory"),
    (["-o", "out.py", "--weights", "w.npz", "--seed", "1"], "give one or the other"),
])
def test_command_line_mistakes_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, _, err = netlang(capsys, "export", RESNET, *argv)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_weights_are_one_error_and_exit_1(capsys, tmp_path):
    other = tmp_path / "other.npz"
    build(compile_ir("input 4\naffine 5\n")).save(other)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    for weights in (other, damaged):
        code, _, err = netlang(capsys, "export", RESNET, "--weights", weights, "-o", tmp_path / "out.py")
        assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert str(weights) in err
    assert not (tmp_path / "out.py").exists() and not (tmp_path / "out.npz").exists()


def test_the_readme_shows_what_the_command_writes(capsys, tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### PyTorch source\n", 1)[1].split("\n## ", 1)[0]
    command = section.split("```\n", 1)[1].split("\n", 1)[0]
    assert command.startswith("$ netlang export specs/")
    spec = command.split()[3]
    code, printed, _ = netlang(capsys, "export", Path(__file__).parents[2] / spec, "-o", tmp_path / "model.py")
    assert code == 0
    text = (tmp_path / "model.py").read_text(encoding="utf-8")
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    for line in shown.splitlines():
        if line.strip() and line.strip() != "...":
            assert line in text.splitlines(), line
