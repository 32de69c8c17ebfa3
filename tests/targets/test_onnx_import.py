"""ONNX in: models built in PyTorch, exported by torch.onnx.export (opset 17), read by netlang (skipped without
torch and onnx). netlang's predict must give PyTorch's outputs, the summary the right shapes and parameters,
`compile -o OUT.net` a spec and weights that compile and predict the same, and bad files one clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
nn = torch.nn

from netlang.errors import DataError, ShapeError  # noqa: E402
from netlang.language.compiler import compile_ir, compile_onnx  # noqa: E402
from netlang.train.session import load_trained  # noqa: E402

TOLERANCE = 1e-5  # largest difference relative to the largest output, float32


class Chain(nn.Module):
    """conv, relu, batchnorm (not after a conv, so the exporter keeps it), max and average pools with ceil_mode,
    flatten, linear, dropout, softmax."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Tanh(), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
            nn.Flatten(), nn.Linear(6 * 2 * 2, 16), nn.Sigmoid(), nn.Dropout(0.3), nn.Linear(16, 10),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.body(x)


class Residual(nn.Module):
    """A residual block (Add of two branches; batchnorm first, so that the exporter keeps it), PReLU, global
    average pooling, x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.norm1, self.conv1 = nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.PReLU(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = self.act(y + self.conv2(torch.relu(self.conv1(torch.relu(self.norm1(y))))))
        y = nn.functional.adaptive_avg_pool2d(y, 1)
        return self.fc(y.view(y.size(0), -1))


class Inception(nn.Module):
    """Concat of three branches, leaky relu, nearest upsampling, SiLU (Mul of x and Sigmoid(x)), ELU."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 1)
        self.b = nn.Sequential(nn.Conv2d(2, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2, 3, 3, padding=1))
        self.c = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(2, 2, 1))
        self.up, self.silu, self.elu = nn.Upsample(scale_factor=2), nn.SiLU(), nn.ELU(0.7)
        self.fc = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x), self.c(x)], 1)
        y = self.silu(self.up(y))
        return self.fc(self.elu(torch.flatten(y, 1)))


class Nested(nn.Module):
    """Groups inside groups and identity branches: a sum inside a concatenation, a downsampling block with a
    projected shortcut, two DenseNet-style concatenations of a tensor with what a branch makes of it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.down, self.shortcut = nn.Conv2d(6, 4, 3, stride=2, padding=1), nn.Conv2d(6, 4, 1, stride=2)
        self.grow, self.fc = nn.Conv2d(4, 2, 3, padding=1), nn.Linear(12, 2)

    def forward(self, x):
        y = torch.cat([x + self.conv(x), nn.functional.max_pool2d(x, 3, 1, 1)], 1)
        y = torch.relu(self.down(y) + self.shortcut(y))
        y = torch.cat([y, self.grow(y)], 1)
        y = torch.cat([y, torch.relu(y)], 1)
        return self.fc(nn.functional.adaptive_max_pool2d(y, 1).flatten(1))


MODELS = {"chain": (Chain, (1, 9, 9)), "residual": (Residual, (1, 6, 6)), "inception": (Inception, (2, 4, 4)),
          "nested": (Nested, (3, 8, 8))}


def export(module: nn.Module, shape: tuple[int, ...], path) -> tuple[np.ndarray, np.ndarray]:
    """Export `module` (eval mode, non-trivial batchnorm statistics) with a dynamic batch; (inputs, outputs)."""
    torch.manual_seed(0)
    module.eval()
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.uniform_(-1, 1)
            layer.running_var.uniform_(0.5, 2)
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-1, 1)
    x = torch.randn(7, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), opset_version=17, dynamo=False, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    with torch.no_grad():
        return x.numpy(), module(x).numpy()


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory):
    cls, shape = MODELS[request.param]
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    x, y = export(cls(), shape, path)
    return request.param, path, x, y


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def netlang(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netlang", *map(str, args)], capture_output=True, text=True)


def test_predict_equals_pytorch(exported):
    name, path, x, y = exported
    model = load_trained(str(path), None).model
    assert relative(model.predict(x), y) <= TOLERANCE
    assert relative(model.predict(x[:1]), y[:1]) <= TOLERANCE  # batch 1 as well as 7


def test_predict_command_uses_the_onnx_weights(exported, tmp_path):
    name, path, x, y = exported
    np.save(tmp_path / "x.npy", x)
    result = netlang("predict", path, tmp_path / "x.npy", "--json", "--top", "1")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["predictions"]
    best = y.argmax(axis=1) if y.shape[1] > 1 else (y[:, 0] > 0.5).astype(int)
    assert [row["class"] for row in rows] == list(best)
    if name == "chain":  # softmax outputs: the probabilities themselves
        assert max(abs(row["top"][0]["p"] - y[i].max()) for i, row in enumerate(rows)) <= TOLERANCE


def test_compile_writes_a_spec_and_weights_that_compile_back(exported, tmp_path):
    name, path, x, y = exported
    result = netlang("compile", path, "-o", tmp_path / "model.net")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model.npz").is_file()
    spec_ir, onnx_ir = compile_ir(tmp_path / "model.net"), compile_ir(path)
    fields = ("name", "op", "args", "inputs", "scope", "out_shape", "params")
    assert [{k: layer.get(k) for k in fields} for layer in spec_ir["layers"]] == [
        {k: layer.get(k) for k in fields} for layer in onnx_ir["layers"]]
    model = load_trained(str(tmp_path / "model.net"), tmp_path / "model.npz").model
    assert relative(model.predict(x), y) <= TOLERANCE


def test_summary_shapes_and_parameters(tmp_path):
    path = tmp_path / "residual.onnx"
    export(Residual(), (1, 6, 6), path)
    result = netlang("summary", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {layer["name"]: layer for layer in report["layers"]}
    assert [layer["op"] for layer in report["layers"]] == [
        "conv", "relu", "batchnorm", "relu", "conv", "relu", "conv", "add", "prelu", "global_pool", "affine"]
    assert rows["add1"]["inputs"] == ["relu1", "conv3"] and rows["add1"]["out_shape"] == [4, 6, 6]
    assert rows["global_pool1"]["out_shape"] == [4] and rows["affine1"]["out_shape"] == [3]
    # conv 40 + batchnorm 8 (+ 8 running statistics) + conv 148 + conv 148 + prelu 4 + affine 15
    assert report["totals"]["params"] == 40 + 16 + 148 + 148 + 4 + 15
    assert report["totals"]["non_trainable"] == 8
    assert rows["conv1"]["macs"] == 4 * 6 * 6 * 9


def test_scopes_make_branch_groups():
    ir, tensors = compile_onnx_of(Inception(), (2, 4, 4))
    concat = ir["layers"][6]
    assert concat["name"] == "concat1" and concat["inputs"] == ["conv1", "conv3", "conv4"]
    assert all(layer.get("scope") == ["concat1"] for layer in ir["layers"][:7])
    assert "swish1" in {layer["name"] for layer in ir["layers"]}
    assert tensors["affine1.W"].shape == (512, 5)  # netlang's (in, units) layout


def test_nested_groups_come_back_as_spec_text(tmp_path):
    from netlang.language.printer import to_spec_text

    path = tmp_path / "nested.onnx"
    export(Nested(), (3, 8, 8), path)
    lines = to_spec_text(compile_ir(path)).splitlines()
    assert lines[2:5] == [
        "((identity + conv 3 3x3 pad 1) | pool max 3x3 stride 1 pad 1)",
        "(conv 4 3x3 stride 2 pad 1 + conv 4 1x1 stride 2) -> relu",
        "(identity | conv 2 3x3 pad 1)",
    ]


def compile_onnx_of(module, shape):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export(module, shape, path)
        return compile_onnx(path)


# Errors: one message, exit 1, never a traceback.


def graph_model(nodes, inputs, output_shape, initializers=()):
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", *inputs])],
        [helper.make_tensor_value_info(nodes[-1].output[0], onnx.TensorProto.FLOAT, ["N", *output_shape])],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_operator_names_the_node(tmp_path):
    path = tmp_path / "sin.onnx"
    onnx.save(graph_model([onnx.helper.make_node("Relu", ["x"], ["r"], name="first"),
                           onnx.helper.make_node("Sin", ["r"], ["y"], name="wave")], [4], [4]), path)
    result = netlang("summary", path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "node 'wave'" in message and "'Sin'" in message and "Conv" in message and "Relu" in message


@pytest.mark.parametrize("content", [b"input 4\naffine 2\n", b"\x08\x07\x12\xff\xff\xff\xff\x0f", b""])
def test_a_file_that_is_not_onnx(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    result = netlang("check", path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not an ONNX model" in result.stderr


def test_a_truncated_file(tmp_path):
    path = tmp_path / "model.onnx"
    export(Chain(), (1, 9, 9), path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 7):
        path.write_bytes(data[:cut])
        result = netlang("predict", path, path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "ONNX" in result.stderr or "damaged" in result.stderr or "malformed" in result.stderr


def test_what_netlang_cannot_mean_is_refused(tmp_path):
    weight = onnx.numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    asymmetric = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[0, 0, 1, 1])
    with pytest.raises(ShapeError, match="node 'c' \\(Conv\\): pads \\[0, 0, 1, 1\\]"):
        import_proto(graph_model([asymmetric], [1, 5, 5], [2, 4, 4], [weight]), tmp_path)
    grouped = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="g", group=2)
    with pytest.raises(ShapeError, match="not grouped"):
        import_proto(graph_model([grouped], [2, 5, 5], [2, 3, 3], [weight]), tmp_path)


def test_a_graph_not_made_of_branch_groups_is_refused(tmp_path):
    make = onnx.helper.make_node
    nodes = [make("Relu", ["x"], ["a"], name="a"), make("Sigmoid", ["x"], ["b"], name="b"),
             make("Add", ["a", "b"], ["s1"], name="s1"), make("Add", ["a", "s1"], ["y"], name="s2")]
    with pytest.raises(ShapeError, match="not made of netlang's branch groups"):
        import_proto(graph_model(nodes, [4], [4]), tmp_path)


def test_names_kept_where_a_spec_can_write_them(tmp_path):
    make = onnx.helper.make_node
    nodes = [make("Relu", ["x"], ["a"], name="first_relu"), make("Tanh", ["a"], ["b"], name="/odd/Tanh"),
             make("Sigmoid", ["b"], ["y"], name="relu7")]
    ir = import_proto(graph_model(nodes, [4], [4]), tmp_path)
    assert [layer["name"] for layer in ir["layers"]] == ["first_relu", "tanh1", "sigmoid1"]


def test_onnx_swish_and_silu_as_mul_are_swish(tmp_path):
    make = onnx.helper.make_node
    nodes = [make("Swish", ["x"], ["a"], name="s"), make("Sigmoid", ["a"], ["g"], name="g"),
             make("Mul", ["g", "a"], ["y"], name="m")]
    model = graph_model(nodes, [4], [4])
    model.opset_import[0].version = 24
    assert [layer["op"] for layer in import_proto(model, tmp_path)["layers"]] == ["swish", "swish"]


def import_proto(model, tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    return compile_ir(path)


def test_predict_of_a_spec_still_needs_weights(tmp_path):
    spec = tmp_path / "a.net"
    spec.write_text("input 4\naffine 2 -> softmax\n")
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    result = netlang("predict", spec, tmp_path / "x.npy")
    assert result.returncode == 2 and "--weights is needed" in result.stderr


def test_damaged_weights_are_a_data_error(tmp_path):
    weight = onnx.numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    weight.raw_data = b"\x00" * 8  # 2 floats where the dims declare 12
    node = onnx.helper.make_node("MatMul", ["x", "w"], ["y"], name="m")
    with pytest.raises(DataError, match="tensor 'w' is damaged"):
        import_proto(graph_model([node], [4], [3], [weight]), tmp_path)


def test_hand_written_graph_against_onnxruntime(tmp_path):
    """What PyTorch does not write: MatMul + Add, Gemm with alpha, beta and transB 0, a constant Reshape,
    Resize by 2x3, GlobalMaxPool + Reshape, a Conv whose bias is an Add."""
    ort = pytest.importorskip("onnxruntime")
    make, rng = onnx.helper.make_node, np.random.default_rng(0)

    def const(name, array):
        return onnx.numpy_helper.from_array(np.asarray(array), name)

    initializers = [
        const("w", rng.normal(size=(3, 2, 3, 3)).astype(np.float32)),
        const("cb", rng.normal(size=(1, 3, 1, 1)).astype(np.float32)),
        const("scales", np.array([1, 1, 2, 3], np.float32)),
        const("shape", np.array([0, -1], np.int64)),
        const("m", rng.normal(size=(3, 4)).astype(np.float32)),
        const("mb", rng.normal(size=(4,)).astype(np.float32)),
        const("g", rng.normal(size=(4, 5)).astype(np.float32)),
        const("gb", rng.normal(size=(1, 5)).astype(np.float32)),
    ]
    nodes = [
        make("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        make("Add", ["c", "cb"], ["cbias"], name="bias"),
        make("Resize", ["cbias", "", "scales"], ["up"], name="up", mode="nearest",
             coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        make("GlobalMaxPool", ["up"], ["gp"], name="gp"),
        make("Reshape", ["gp", "shape"], ["v"], name="flat"),
        make("MatMul", ["v", "m"], ["mm"], name="mm"),
        make("Add", ["mm", "mb"], ["fc"], name="fc"),
        make("Gemm", ["fc", "g", "gb"], ["y"], name="gemm", alpha=0.5, beta=2.0),
    ]
    model = graph_model(nodes, [2, 4, 6], [5], initializers)
    path = tmp_path / "hand.onnx"
    onnx.save(model, path)
    x = rng.normal(size=(7, 2, 4, 6)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    loaded = load_trained(str(path), None)
    assert [layer["op"] for layer in loaded.ir["layers"]] == ["conv", "upsample", "global_pool", "affine", "affine"]
    assert relative(loaded.model.predict(x), expected) <= TOLERANCE


def test_damaged_files_are_refused_without_a_traceback(tmp_path):
    """Bytes changed at random and files cut short: every one imports, or is a NetlangError."""
    from netlang.errors import NetlangError

    path = tmp_path / "model.onnx"
    export(Inception(), (2, 4, 4), path)
    data, rng = path.read_bytes(), np.random.default_rng(3)
    damaged = tmp_path / "damaged.onnx"
    for _ in range(300):
        copy = bytearray(data)
        for position in rng.integers(0, len(copy), size=rng.integers(1, 5)):
            copy[position] = int(rng.integers(0, 256))
        damaged.write_bytes(bytes(copy[: int(rng.integers(1, len(copy) + 1))] if rng.random() < 0.3 else copy))
        try:
            compile_onnx(damaged)
        except NetlangError:
            pass


def test_without_the_onnx_package_one_line_says_what_to_install(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(graph_model([onnx.helper.make_node("Relu", ["x"], ["y"], name="r")], [4], [4]), path)
    code = ("import sys; sys.modules['onnx'] = None; sys.argv = ['netlang', 'summary', sys.argv[1]]; "
            "from netlang.cli import main; sys.exit(main())")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        'reading ONNX files needs the onnx package: pip install "netlang[onnx]"']
