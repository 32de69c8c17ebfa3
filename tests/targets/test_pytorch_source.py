"""Optional (skipped without torch): the PyTorch source export computes what Model.predict computes.

Every example spec (and its logits, without the final softmax or sigmoid), every op on its own (its registry
checks), a graph with every op, and a network whose layer names clash with Python and with the file's own names
are written as PyTorch files with weights off their starting values. One subprocess, in which netlang cannot be
imported (`python -I`, a working directory outside the repository, and `netlang` blocked in sys.modules), imports
every file, loads its weights with its own loader and runs it in float32 and in float64; the outputs must be
netlang's predict to 1e-5 (float32) and 1e-12 (float64) relative. The files pass ruff with the project's rules.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.gradcheck import off_start_values
from netlang.language.compiler import compile_ir
from netlang.ops import OPS
from netlang.targets import pytorch_source

torch = pytest.importorskip("torch")

SPECS = Path(__file__).parents[2] / "specs"
FLOAT32_TOLERANCE = 1e-5
FLOAT64_TOLERANCE = 1e-12
BATCH = 5

# Ops and options no example spec has: every activation, a three-way sum, ceil-mode pools with a partial last
# window, upsampling, global max pooling, batchnorm's options; and names that are not Python names as they stand.
GRAPH = (
    "input 2x12x12\n"
    "conv 4 3x3 pad 1 -> batchnorm eps 0.01 momentum 0.8 -> prelu -> identity\n"
    "(pool 2 -> conv 4 3x3 pad 1 -> elu 0.5 -> upsample 2 + identity + conv 4 1x1 -> swish) -> leaky_relu 0.2\n"
    "stage: (pool avg 3 stride 2 pad 1 round ceil -> tanh | pool max 3 stride 2 pad 1 round ceil -> step)\n"
    "upsample 2x3 -> relu -> (global_pool max | global_pool | conv 1 3x3 stride 3 round floor -> flatten)\n"
    "batchnorm -> dropout 0.3 -> (fc: affine 5 -> tanh) * 2 -> sigmoid\n"
)
# Names an IR file may give layers, each a clash for a plain translation: keywords, builtins, nn.Module's
# attributes, the file's own names, private and mangled names, and names that differ only where Python
# names cannot ('a-b', 'a.b' and 'a_b' are three layers).
CLASHING_NAMES = [
    "x", "inputs", "torch", "nn", "np", "os", "self", "class", "print", "train", "forward", "training", "Step",
    "load_netlang_weights", "_private", "__init__", "a-b", "a.b", "a_b", "a:b", "b+c", "output",
]


def without_last_layer(ir: dict) -> dict:
    """The IR without its last layer: the logits, whose differences a saturated softmax could hide."""
    ir = copy.deepcopy(ir)
    ir["layers"] = ir["layers"][:-1]
    return compile_ir(ir)


def renamed(ir: dict, names: list[str]) -> dict:
    """The IR with its layers renamed, in order, to `names` (then their own names), inputs following."""
    ir = copy.deepcopy(ir)
    new = {layer["name"]: name for layer, name in zip(ir["layers"], names, strict=False)}
    for layer in ir["layers"]:
        layer["name"] = new.get(layer["name"], layer["name"])
        layer["inputs"] = [new.get(name, name) for name in layer["inputs"]]
        layer.pop("scope", None)
    return compile_ir(ir)


def cases() -> dict[str, dict]:
    """Case name -> inferred IR: what the exported files must compute."""
    found = {}
    for path in sorted(SPECS.glob("*.net")):
        ir = compile_ir(path)
        found[path.stem] = ir
        found[f"{path.stem}_logits"] = without_last_layer(ir)
    for name, op in OPS.items():
        for index, (text, shape) in enumerate(op.checks):
            found[f"op_{name}_{index}"] = compile_ir(f"input {shape}\n{text}\n")
    found["graph"] = compile_ir(GRAPH)
    found["clashing_names"] = renamed(found["graph"], CLASHING_NAMES)
    return found


CASES = cases()


def test_the_cases_cover_every_op_and_name_clash():
    assert {layer["op"] for layer in CASES["graph"]["layers"]} == set(OPS) - {"softmax"}
    names = [layer["name"] for layer in CASES["clashing_names"]["layers"]]
    assert names[: len(CLASHING_NAMES)] == CLASHING_NAMES


RUNNER = textwrap.dedent('''
    """Import every exported file with netlang unimportable, load its weights, and save its outputs."""
    import importlib.util
    import json
    import sys

    sys.modules["netlang"] = None  # any `import netlang` in an exported file fails

    import numpy as np
    import torch

    torch.set_num_threads(1)
    report = {}
    for case in json.loads(open("cases.json").read()):
        spec = importlib.util.spec_from_file_location(case, f"{case}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes = [value for value in vars(module).values()
                   if isinstance(value, type) and issubclass(value, torch.nn.Module) and value.__module__ == case
                   and value.__name__ != "Step"]
        assert len(classes) == 1, classes
        model = module.load_netlang_weights(classes[0](), f"{case}.npz")
        assert not model.training
        x = np.load(f"{case}_x.npy")
        with torch.no_grad():
            np.save(f"{case}_out32.npy", model(torch.from_numpy(x)).numpy())
            np.save(f"{case}_out64.npy", model.double()(torch.from_numpy(x.astype(np.float64))).numpy())
        report[case] = {"class": classes[0].__name__, "attributes": sorted(dict(model.named_children()))}
    report["netlang modules"] = sorted(name for name in sys.modules if name.startswith("netlang."))
    report["sys.path"] = sys.path
    print(json.dumps(report))
''')


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(the directory of the exported files, the runner's report, {case: (netlang float32, float64 outputs)})."""
    folder = tmp_path_factory.mktemp("exported")
    expected = {}
    for index, (case, ir) in enumerate(CASES.items()):
        model = off_start_values(build(ir, seed=index), index)
        source = pytorch_source.generate(ir, command=f"netlang export {case}", weights_file=f"{case}.npz")
        (folder / f"{case}.py").write_text(source.text, encoding="utf-8")
        model.save(folder / f"{case}.npz")
        x = np.random.default_rng(index).standard_normal((BATCH, *ir["input"]["shape"])).astype(np.float32)
        np.save(folder / f"{case}_x.npy", x)
        model64 = build(ir, dtype="float64")
        model64.load_state_dict({name: array.astype(np.float64) for name, array in model.state_dict().items()})
        expected[case] = (model.predict(x), model64.predict(x.astype(np.float64)))
    (folder / "cases.json").write_text(json.dumps(list(CASES)), encoding="utf-8")
    (folder / "runner.py").write_text(RUNNER, encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "runner.py"], cwd=folder, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, json.loads(done.stdout), expected


def relative_difference(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape and got.dtype == want.dtype
    return float(np.abs(got - want).max() / max(np.abs(want).max(), np.finfo(want.dtype).tiny))


@pytest.mark.parametrize("case", list(CASES))
def test_the_exported_module_predicts_what_netlang_predicts(exported, case):
    folder, report, expected = exported
    want32, want64 = expected[case]
    got32, got64 = np.load(folder / f"{case}_out32.npy"), np.load(folder / f"{case}_out64.npy")
    assert relative_difference(got32, want32) <= FLOAT32_TOLERANCE
    assert relative_difference(got64, want64) <= FLOAT64_TOLERANCE
    # one attribute per layer, except the sums and concatenations, which are expressions in forward
    ir = CASES[case]
    assert len(report[case]["attributes"]) == sum(not OPS[layer["op"]].merge for layer in ir["layers"])


def test_the_exported_files_ran_without_netlang(exported):
    folder, report, _ = exported
    # An editable install puts the repository on sys.path even under `python -I` (its .pth file), so what is
    # checked is that nothing of netlang was imported: `netlang` is blocked in sys.modules there.
    assert report["netlang modules"] == []


def test_layers_are_attributes_named_like_them(exported):
    _, report, _ = exported
    assert report["resnet"]["class"] == "Resnet"
    assert {"conv1", "basic1_conv2", "down2_batchnorm9", "affine1"} <= set(report["resnet"]["attributes"])
    assert {"c1", "s2", "f6", "output"} <= set(report["lenet5"]["attributes"])
    ir = CASES["clashing_names"]
    names = pytorch_source.attribute_names(ir["layers"])
    assert [names[name] for name in CLASHING_NAMES] == [
        "x_", "inputs_", "torch_", "nn_", "np_", "os_", "self_", "class_", "print_", "train_", "forward_",
        "training_", "Step_", "load_netlang_weights_", "layer_private", "layer__init__", "a_b", "a_b_", "a_b__",
        "a_b___", "b_c", "output",
    ]
    # every layer but a merge (forward, a-b) is an attribute
    assert set(report["clashing_names"]["attributes"]) == {
        names[layer["name"]] for layer in ir["layers"] if not OPS[layer["op"]].merge
    }


def test_the_exported_files_pass_ruff(exported):
    folder, _, _ = exported
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    done = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "120", "--target-version", "py310",
         *(f"{case}.py" for case in CASES)],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_file_reads_as_a_person_would_write_it():
    text = pytorch_source.generate(CASES["resnet"]).text
    assert "        self.down1_conv4 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)\n" in text
    assert "        self.batchnorm1 = nn.BatchNorm2d(16, eps=1e-05, momentum=0.1)  # batchnorm, line 18\n" in text
    forward = text.split("    def forward(self, x: torch.Tensor) -> torch.Tensor:\n", 1)[1].split("\n\n\n")[0]
    assert forward.splitlines()[:3] == [
        "        x = self.conv1(x)", "        x = self.batchnorm1(x)", "        relu1 = self.relu1(x)"
    ]
    assert "        # basic1\n" in forward and "        x = x + relu1\n" in forward
    assert forward.rstrip().endswith("x = self.softmax1(x)\n        return x")
    assert '    "affine1.W": "affine1.weight",\n' in text and 'TRANSPOSED = frozenset({"affine1.weight"})' in text
    inception = pytorch_source.generate(CASES["inception"]).text
    assert "torch.cat([inception1_relu2, inception1_relu4, inception1_relu6, x], dim=1)" in inception
    lenet = pytorch_source.generate(CASES["lenet5"]).text
    assert "self.s2 = nn.AvgPool2d(2)  # pool avg 2x2, line 5" in lenet
    assert "self.flatten1 = nn.Flatten()  # flatten (implicit: the image meets an affine), line 8" in lenet


def test_long_names_wrap_and_the_file_still_runs(tmp_path):
    ir = renamed(CASES["inception"], [f"{'very_long_layer_name_' * 2}{index}" for index in range(40)])
    model = off_start_values(build(ir, seed=1), 1)
    text = pytorch_source.generate(ir).text
    assert "torch.cat([\n" in text and not text.startswith("# ruff: noqa")
    assert max(len(line) for line in text.splitlines()) <= pytorch_source.LINE_LENGTH
    namespace = run_source(text, tmp_path)
    model.save(tmp_path / "weights.npz")
    loaded = namespace["load_netlang_weights"](namespace["Inception"](), tmp_path / "weights.npz")
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        got = loaded(torch.from_numpy(x)).numpy()
    assert relative_difference(got, model.predict(x)) <= FLOAT32_TOLERANCE


def run_source(text: str, folder: Path) -> dict:
    namespace: dict = {"__name__": "exported"}
    exec(compile(text, str(folder / "exported.py"), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("source, name", [
    ("specs/resnet.net", "Resnet"), ("runs/digits_convnet.net", "DigitsConvnet"), ("<stdin>", "Net"),
    ("2layer.net", "Net2layer"), ("none.json", "NoneNet"), ("TRANSPOSED.net", "TRANSPOSEDNet"),
    ("step.net", "StepNet"), ("print.net", "Print"), ("-", "Net"),
])
def test_the_class_is_named_after_the_spec_file(source, name):
    assert pytorch_source.class_name({"source": source}) == name


def test_every_nn_module_attribute_is_avoided():
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    assert public <= pytorch_source.MODULE_ATTRIBUTES


def test_the_loader_refuses_another_networks_weights_and_pickles(tmp_path):
    namespace = run_source(pytorch_source.generate(CASES["digits_convnet"]).text, tmp_path)
    load, network = namespace["load_netlang_weights"], namespace["DigitsConvnet"]
    other = tmp_path / "other.npz"
    build(compile_ir("input 4\naffine 5\n")).save(other)
    with pytest.raises(ValueError, match="the file lacks conv1.W; are these another network's weights"):
        load(network(), other)
    extra = tmp_path / "extra.npz"
    state = build(CASES["digits_convnet"]).state_dict()
    np.savez(extra, **state, **{"more.W": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="has more.W, which DigitsConvnet lacks"):
        load(network(), extra)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{**state, "affine1.W": state["affine1.W"].T})
    with pytest.raises(ValueError, match=r"affine1.W is float32 \(64, 256\), expected floats \(256, 64\)"):
        load(network(), wrong)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{**state, "conv1.b": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        load(network(), pickled)
    with pytest.raises(ValueError, match="not an .npz archive"):
        np.save(tmp_path / "array.npy", np.zeros(3))
        load(network(), tmp_path / "array.npy")
