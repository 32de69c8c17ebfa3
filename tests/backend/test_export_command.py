"""`netlang export`, end to end: the file it writes runs in onnxruntime as `predict` runs the same weights, and
its mistakes are one line with exit code 2 (the command line) or 1 (the content)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.cli import main
from netlang.language.compiler import compile_ir
from netlang.train.session import load_trained

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SPECS = Path(__file__).parents[2] / "specs"
RESNET = SPECS / "resnet.net"


def netlang(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


def inputs(ir: dict, batch: int = 7) -> np.ndarray:
    return np.random.default_rng(5).standard_normal((batch, *ir["input"]["shape"])).astype(np.float32)


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_fresh_weights_of_a_seed(capsys, tmp_path):
    out = tmp_path / "resnet.onnx"
    code, printed, err = netlang(capsys, "export", RESNET, "-o", out, "--seed", 3)
    assert code == 0 and err == ""
    assert printed == f"wrote {out}: 31 layers as 32 ONNX nodes, opset 21, fresh weights (seed 3)\n"
    ir = compile_ir(RESNET)
    x = inputs(ir)
    assert_close(run_onnx(out, x), build(ir, seed=3).predict(x))
    assert not np.allclose(run_onnx(out, x), build(ir, seed=0).predict(x))
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 21
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert props["spec"] == RESNET.read_text(encoding="utf-8")


def test_weights_file_and_run_directory(capsys, tmp_path):
    ir = compile_ir(RESNET)
    model = build(ir, seed=1)
    rng = np.random.default_rng(0)
    for name, array in model.state_dict().items():
        array[...] = rng.uniform(0.5, 1.5, array.shape) if name.endswith("running_var") else \
            array + 0.1 * rng.standard_normal(array.shape).astype(np.float32)
    weights = tmp_path / "weights.npz"
    model.save(weights)
    out = tmp_path / "trained.onnx"
    assert netlang(capsys, "export", RESNET, "--weights", weights, "-o", out)[0] == 0
    x = inputs(ir)
    assert_close(run_onnx(out, x), model.predict(x))

    spec = tmp_path / "xor.net"
    spec.write_text((SPECS / "xor.net").read_text(encoding="utf-8"), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--epochs", "3"]) == 0
    capsys.readouterr()
    for given in (run, run / "weights.npz", run / "checkpoint.npz"):
        out = tmp_path / "xor.onnx"
        assert netlang(capsys, "export", spec, "--weights", given, "-o", out)[0] == 0
        trained = load_trained(str(spec), given).model
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        assert_close(run_onnx(out, x), trained.predict(x))


def test_standard_input_and_ir_files(capsys, tmp_path, monkeypatch):
    text = "input 3\naffine 4 -> relu\naffine 2 -> softmax\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out = tmp_path / "net.onnx"
    assert netlang(capsys, "export", "-", "-o", out)[0] == 0
    model = onnx.load(str(out))
    assert "spec line 3: affine 2 -> softmax" in model.graph.node[-1].doc_string
    ir_file = tmp_path / "net.json"
    ir_file.write_text(json.dumps(compile_ir(text)), encoding="utf-8")
    again = tmp_path / "again.bin"
    assert netlang(capsys, "export", ir_file, "-o", again, "--format", "onnx", "--opset", 17)[0] == 0
    x = np.eye(3, dtype=np.float32)
    np.testing.assert_array_equal(run_onnx(again, x), run_onnx(out, x))
    assert onnx.load(str(again)).opset_import[0].version == 17


@pytest.mark.parametrize("argv, expected", [
    (["-o", "out.onx"], "cannot tell the format from the suffix '.onx'; name it OUT.onnx or OUT.py, or give"),
    (["-o", "out.onnx", "--opset", "99"], "--opset 99 is out of range"),
    (["-o", "out.onnx", "--weights", "nowhere.npz"], "--weights nowhere.npz: no such file"),
    (["-o", "out.onnx", "--weights", "w.npz", "--seed", "1"], "give one or the other"),
    (["-o", "out.onnx", "--format", "tflite"], "invalid choice: 'tflite'"),
])
def test_command_line_mistakes_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, _, err = netlang(capsys, "export", RESNET, *argv)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.onnx").exists()


def test_without_onnx_one_line_says_which_extra_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    code, _, err = netlang(capsys, "export", RESNET, "-o", tmp_path / "out.onnx")
    assert code == 2
    assert err.strip() == 'onnx is not installed, so nothing was exported; install it with: pip install "netlang[onnx]"'
    assert not (tmp_path / "out.onnx").exists()


def test_bad_content_is_one_error_and_exit_1(capsys, tmp_path, write_spec):
    bad = write_spec("input 4\naffine 3 -> reul\n")
    code, _, err = netlang(capsys, "export", bad, "-o", tmp_path / "out.onnx")
    assert code == 1 and "unknown layer 'reul'" in err and "Traceback" not in err
    other = tmp_path / "other.npz"
    build(compile_ir("input 4\naffine 5\n")).save(other)
    code, _, err = netlang(capsys, "export", RESNET, "--weights", other, "-o", tmp_path / "out.onnx")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.onnx").exists()


def test_the_readme_runs_an_exported_model_as_it_says(capsys, tmp_path, monkeypatch):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## ONNX\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    assert netlang(capsys, "export", SPECS / "digits_convnet.net", "-o", "digits.onnx")[0] == 0
    namespace: dict = {}
    exec(compile(code, "README.md (ONNX)", "exec"), namespace)
    ir = compile_ir(SPECS / "digits_convnet.net")
    assert namespace["probabilities"].shape == (5, 10)
    assert_close(namespace["probabilities"], build(ir, seed=0).predict(namespace["images"]))
    assert capsys.readouterr().out.strip() == str(namespace["probabilities"].argmax(axis=1))


def test_a_network_too_large_for_one_onnx_file_is_refused_before_its_weights_exist(
    capsys, tmp_path, write_spec, monkeypatch
):
    monkeypatch.setenv("NETLANG_MAX_PARAMS", "2000000000")
    spec = write_spec("input 50000\naffine 20000 -> affine 20000 -> softmax\n")  # 1.4 billion parameters
    code, _, err = netlang(capsys, "export", spec, "-o", tmp_path / "big.onnx")
    assert code == 1 and "more than one ONNX file holds (2,147,483,647" in err
    assert not (tmp_path / "big.onnx").exists()
