"""ONNX in: an .onnx file -> netlang IR (version 2, before validation) and its weights by netlang tensor name.

Each ONNX operator netlang can mean exactly has a rule in RULES (op_type -> function of the importer and the
node) that adds the netlang layer it means, or makes its output another name for its input (Identity, a
Flatten of what is already a vector). Constant tensors (initializers, Constant nodes) are folded where an
operator reads them as settings (Reshape's shape, Resize's scales), and so is the shape arithmetic PyTorch's
exporter writes for `x.view(x.size(0), -1)` (Shape, Gather, Unsqueeze, Concat), with the batch size unknown.
What netlang cannot mean exactly (a dilation, grouped convolution, asymmetric padding, a pool whose output size
differs) is refused, naming the node. The graph must be made of netlang's branch groups
(netlang/language/scopes.py), which also orders and names the layers so that the spec printer can write them.

The `onnx` package is imported when a file is read; a file is parsed only after its size is checked, and every
declared tensor size is checked before its data is converted. Nothing is unpickled: ONNX is protobuf.
"""

from __future__ import annotations

import re
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from netlang.errors import DataError, NetlangError, ShapeError, UsageError
from netlang.language.scopes import default_names, group_layers
from netlang.limits import MAX_ARRAY_DIMS, data_limit_hint, max_data_bytes, max_layers, max_params
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT
from netlang.targets.onnx_rules import RULES

Shape = list[int]
# A name a spec can write as a label (the grammar's LABEL), which the IR's name pattern also allows.
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_FLOATS = (1, 10, 11, 16)  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16
_DEFAULT_NAME = re.compile("(" + "|".join(sorted(OPS, key=len, reverse=True)) + r")[0-9]+")


def read_onnx(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An .onnx file -> (IR, tensors by netlang name: "conv1.W", ...); UsageError for a missing file or no
    `onnx` package, DataError for a file that is not an ONNX model, ShapeError for what netlang cannot mean."""
    return import_model(_parse(_read(Path(path)), str(path)), str(path))


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UsageError('reading ONNX files needs the onnx package: pip install "netlang[onnx]"') from None
    return onnx


def _read(path: Path) -> bytes:
    from netlang.language.compiler import read_bytes

    data = read_bytes(path, max_data_bytes(), "an ONNX file")
    if len(data) > max_data_bytes():
        raise DataError(f"{path}: larger than {max_data_bytes()} bytes; {data_limit_hint()}")
    return data


def _parse(data: bytes, where: str) -> Any:
    onnx = _onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError (its class depends on the protobuf backend)
        raise DataError(f"{where}: not an ONNX model, or a truncated one ({type(err).__name__}: {err})") from None
    if not model.HasField("graph") or not model.graph.output or not model.opset_import:
        raise DataError(f"{where}: not an ONNX model, or a truncated one (no graph, outputs or opset)")
    return model


def import_model(model: Any, source: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An onnx.ModelProto -> (IR, tensors by netlang name); errors as read_onnx's."""
    return _Importer(model, source).run()


class _Value:
    """What an ONNX value is to netlang: the layer computing it (or "input"), its netlang shape, and its
    ONNX shape (both per sample: a global pool's C×1×1 is netlang's vector of C)."""

    def __init__(self, layer: str, shape: Shape, onnx_shape: Shape) -> None:
        self.layer, self.shape, self.onnx_shape = layer, shape, onnx_shape


class _Importer:
    def __init__(self, model: Any, source: str) -> None:
        self.graph = model.graph
        self.source = source
        self.constants: dict[str, np.ndarray] = {}
        self.shape_vectors: dict[str, tuple] = {}  # folded shape arithmetic, with BATCH in it
        self.values: dict[str, _Value] = {}
        self.layers: list[dict[str, Any]] = []
        self.tensors: dict[str, dict[str, np.ndarray]] = {}
        self.onnx_names: dict[str, str] = {}
        self.readers: dict[str, int] = {}
        self.producer: dict[str, Any] = {}

    # reading the graph

    def run(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        graph = self.graph
        if len(graph.node) > 4 * max_layers():  # folded constants and shape arithmetic take nodes too
            raise DataError(f"{self.source}: {len(graph.node)} nodes, more than netlang reads")
        self._read_initializers()
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ShapeError(f"the model has {len(inputs)} inputs and {len(graph.output)} outputs; netlang "
                             "networks have one of each", file=self.source)
        input_shape = self._input_shape(inputs[0])
        self.values[inputs[0].name] = _Value(NETWORK_INPUT, input_shape, input_shape)
        for node in graph.node:
            for name in node.input:
                self.readers[name] = self.readers.get(name, 0) + 1
            for name in node.output:
                self.producer[name] = node
        for number, node in enumerate(graph.node):
            where = f"node '{node.name}'" if node.name else f"node {number} (unnamed)"
            rule = RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if rule is None:
                raise ShapeError(
                    f"{where}: operator {node.op_type!r}{_domain(node)} has no netlang equivalent; "
                    f"netlang reads {', '.join(sorted(RULES))}", file=self.source,
                )
            try:
                rule(self, node)
            except (ValueError, IndexError, KeyError, TypeError, AttributeError) as err:
                # a node whose inputs or attributes are not what its operator defines: a damaged file
                raise DataError(f"{where} ({node.op_type}) is malformed ({type(err).__name__}: {err})",
                                file=self.source) from None
            except NetlangError as err:
                if err.file is None:
                    err.message = f"{where} ({node.op_type}): {err.message}"
                    err.args = (err.message,)
                    err.file = self.source
                raise
        output = self.values.get(graph.output[0].name)
        if output is None or output.layer == NETWORK_INPUT:
            raise ShapeError("the model's output is not computed by any layer netlang has", file=self.source)
        return self._ir(output)

    def _read_initializers(self) -> None:
        total = 0
        for tensor in self.graph.initializer:
            self.constants[tensor.name] = self.tensor_array(tensor)
            total += self.constants[tensor.name].size
            if total > max_params():
                raise DataError(f"{self.source}: the initializers hold more than {max_params()} values")

    def tensor_array(self, tensor: Any) -> np.ndarray:
        """A TensorProto's data as an array, its declared size checked first."""
        if tensor.data_location == 1:  # EXTERNAL
            raise DataError(f"{self.source}: tensor '{tensor.name}' is stored in another file; netlang reads "
                            "ONNX files that hold their weights")
        dims = list(tensor.dims)
        if len(dims) > MAX_ARRAY_DIMS or any(dim < 0 for dim in dims) or prod(dims) > max_params():
            raise DataError(f"{self.source}: tensor '{tensor.name}' declares the shape {dims}")
        try:
            return np.array(_onnx().numpy_helper.to_array(tensor))
        except Exception as err:  # data that does not fit its dims or type: the file is damaged
            raise DataError(f"{self.source}: tensor '{tensor.name}' is damaged ({err})") from None

    def _input_shape(self, value: Any) -> Shape:
        if value.type.tensor_type.elem_type not in _FLOATS:
            raise ShapeError(f"the input '{value.name}' is not floating point (ONNX element type "
                             f"{value.type.tensor_type.elem_type}); netlang networks read real numbers",
                             file=self.source)
        dims = value.type.tensor_type.shape.dim
        shape = [dim.dim_value if dim.HasField("dim_value") else 0 for dim in dims[1:]]
        if len(dims) not in (2, 4) or any(size < 1 for size in shape):
            shown = [dim.dim_value if dim.HasField("dim_value") else dim.dim_param or "?" for dim in dims]
            raise ShapeError(f"the input '{value.name}' has the shape {shown}; netlang reads (N, C, H, W) images or "
                             "(N, K) vectors with every size but the batch known", file=self.source)
        return shape

    # what rules use

    def value(self, node: Any, position: int = 0) -> _Value:
        """The netlang value of a node's input (an error if it is a constant)."""
        name = node.input[position] if position < len(node.input) else ""
        if name not in self.values:
            raise ShapeError(f"input {position + 1} ('{name}') is not computed from the network's input; netlang "
                             "reads it only as a layer's weights")
        return self.values[name]

    def constant(self, node: Any, position: int, default: Any = None) -> np.ndarray | None:
        name = node.input[position] if position < len(node.input) else ""
        if not name:
            return default
        if name not in self.constants:
            raise ShapeError(f"input {position + 1} ('{name}') must be a constant (an initializer)")
        return self.constants[name]

    def is_constant(self, name: str) -> bool:
        return name in self.constants or name in self.shape_vectors

    def alias(self, node: Any, value: _Value, onnx_shape: Shape | None = None) -> None:
        self.values[node.output[0]] = _Value(value.layer, value.shape, onnx_shape or value.onnx_shape)

    def add_layer(self, node: Any, op: str, args: dict[str, Any], inputs: list[_Value],
                  tensors: dict[str, np.ndarray] | None = None, onnx_shape: Shape | None = None) -> str:
        """A netlang layer computing the node's (first) output; its shape from the op's own shape rule."""
        if len(self.layers) >= max_layers():
            raise ShapeError(f"more than {max_layers()} layers")
        rule = OPS[op]
        in_shapes = [value.shape for value in inputs]
        out_shape = rule.out_shape(args, in_shapes if rule.merge else in_shapes[0])
        name = f"#{len(self.layers)}"
        self.layers.append({"name": name, "op": op, "args": args, "inputs": [value.layer for value in inputs]})
        self.onnx_names[name] = node.name
        self.tensors[name] = {key: np.ascontiguousarray(array, dtype=np.float32) for key, array in
                              (tensors or {}).items()}
        for key, array in self.tensors[name].items():
            if not np.isfinite(array).all():
                raise DataError(f"the tensor for {key} holds NaN or infinite values")
        self.values[node.output[0]] = _Value(name, out_shape, onnx_shape or out_shape)
        return name

    def layer_of(self, value: _Value) -> dict[str, Any] | None:
        return None if value.layer == NETWORK_INPUT else self.layers[int(value.layer[1:])]

    # the IR

    def _ir(self, output: _Value) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        reached = self.layers[: int(output.layer[1:]) + 1]
        try:
            grouped = group_layers(reached)
        except ShapeError as err:
            raise err.at(None, self.source) from None
        taken: set[str] = set()

        def keep(layer: dict[str, Any]) -> str | None:
            name = self.onnx_names[layer["name"]]
            if not isinstance(name, str):  # protobuf gives the bytes of a name that is not UTF-8
                return None
            if not _LABEL.fullmatch(name) or name == NETWORK_INPUT or _DEFAULT_NAME.fullmatch(name) or name in taken:
                return None
            taken.add(name)
            return name

        names = default_names(grouped, keep)
        layers, tensors = [], {}
        for layer, scope in grouped:
            name = names[layer["name"]]
            entry = {"name": name, "op": layer["op"], "args": layer["args"],
                     "inputs": [names.get(source, source) for source in layer["inputs"]]}
            if scope:
                entry["scope"] = [names[merge] for merge in scope]
            layers.append(entry)
            tensors |= {f"{name}.{key}": array for key, array in self.tensors[layer["name"]].items()}
        input_shape = self.values[next(v.name for v in self.graph.input if v.name not in self.constants)].shape
        ir = {"netlang": 2, "source": self.source, "input": {"shape": input_shape}, "layers": layers}
        return ir, tensors


def _domain(node: Any) -> str:
    return f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
