"""ONNX nodes computing what each netlang op computes in inference, and the export of a whole network.

`NODES[op]` writes an inferred IR layer as ONNX nodes; `TENSORS[op]` says how each of the op's netlang tensors
becomes an initializer (same name, `conv1.W`; the layout ONNX's operator reads). `export(ir, tensors)` gives
the model: input `input` and output `output` with a dynamic batch dimension, one or more nodes per layer whose
doc string names the layer and quotes its spec line, and the spec text and netlang version in the metadata.
onnx is imported when a model is made, never by importing this file.

The model is what `Model.predict` computes: batchnorm reads its running statistics, dropout is no node at all,
and a final softmax or sigmoid is part of the output. Where ONNX's operator means something else than netlang's
op, the entry reproduces netlang's meaning:

- pool `round ceil`: netlang drops a last window that would start in the right padding (as Caffe and PyTorch),
  ONNX's ceil_mode keeps it. No ceil_mode is written: the end padding is made explicit (pad plus the part of the
  last window that overhangs the padded input) and the floor size is then netlang's size.
- avg pool counts padded zeros (count_include_pad=1), but not the overhang of a partial ceil window: such a
  layer pads explicitly with zeros first (Pad), so that they are data, and its AveragePool excludes only the
  overhang (count_include_pad=0).
- max pool pads with −∞: ONNX's MaxPool ignores padding, which is the same.
- affine's W is (in, units), which is Gemm's B without transB; an image input is flattened row-major first
  (the IR's implicit flatten layer), as Flatten does.
- prelu's slope is one per channel: [C, 1, 1] on images, so that it broadcasts over (N, C, H, W).
- step is x > 0 as a float (Greater, Cast); swish is x·sigmoid(x) (Sigmoid, Mul).
- global_pool gives a vector of C, not C×1×1: GlobalAveragePool/GlobalMaxPool, then Flatten.
- upsample repeats each pixel: Resize, nearest, asymmetric coordinates, floor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from netlang.errors import DataError, UsageError
from netlang.ops.base import NETWORK_INPUT

Node = dict[str, Any]

# The opset written unless --opset says otherwise: recent, and run by onnxruntime 1.18 and later.
DEFAULT_OPSET = 21
# The oldest opset whose operators these entries write as they stand: upsample's Resize leaves out its roi
# input, which is optional from opset 13 (required before).
MIN_OPSET = 13
INSTALL_HINT = 'onnx is not installed, so nothing was exported; install it with: pip install "netlang[onnx]"'
OUTPUT = "output"
BATCH = "batch"  # the name of the dynamic batch dimension


def import_onnx() -> Any:
    """The onnx module, or a UsageError saying which extra to install."""
    try:
        import onnx
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return onnx


@dataclass
class LayerNodes:
    """What an entry of NODES writes one layer with: the ONNX names of the values it reads (`inputs`) and of
    the value it must give (`output`), and `emit`/`constant` to add nodes and initializers."""

    node: Node
    inputs: list[str]
    output: str
    doc: str
    nodes: list[Any] = field(default_factory=list)
    constants: list[Any] = field(default_factory=list)

    @property
    def args(self) -> dict[str, Any]:
        return self.node["args"]

    @property
    def name(self) -> str:
        return self.node["name"]

    def emit(self, op_type: str, inputs: list[str] | None = None, output: str | None = None, **attributes: Any) -> str:
        """Add one node (reading the layer's inputs unless told otherwise, writing its output unless told
        otherwise); returns the name of what it writes."""
        helper = import_onnx().helper
        output = output or self.output
        name = self.name if output == self.output else f"{self.name}/{op_type}"
        node = helper.make_node(op_type, inputs if inputs is not None else self.inputs, [output], name=name,
                                doc_string=self.doc, **attributes)
        self.nodes.append(node)
        return output

    def temp(self, what: str) -> str:
        """The name of a value inside the layer ('pool1/padded'); '/' never occurs in netlang's names."""
        return f"{self.name}/{what}"

    def tensor(self, name: str) -> str:
        """The initializer of one of the layer's netlang tensors: its netlang name, `conv1.W`."""
        return f"{self.name}.{name}"

    def constant(self, what: str, values: Any, dtype: str = "float32") -> str:
        """A constant the layer needs (not a netlang tensor), as an initializer named 'layer/what'."""
        import numpy as np

        array = np.asarray(values, dtype=dtype)
        self.constants.append(import_onnx().numpy_helper.from_array(array, self.temp(what)))
        return self.temp(what)


def _pads(node: Node, overhang: tuple[int, int] = (0, 0)) -> list[int]:
    """ONNX pads [top, left, bottom, right] of a sliding-window layer, the end ones extended by `overhang`."""
    (ph, pw), (oh, ow) = node["args"]["pad"], overhang
    return [ph, pw, ph + oh, pw + ow]


def _overhang(node: Node) -> tuple[int, int]:
    """How far the last window of each axis reaches past the padded input (a `round ceil` pool's partial
    window; 0 otherwise), as the NumPy layer computes it."""
    args, (_, h, w), (_, oh, ow) = node["args"], node["in_shape"], node["out_shape"]
    return tuple(
        max(0, (out - 1) * stride + kernel - (size + 2 * pad))
        for out, stride, kernel, size, pad in zip(
            (oh, ow), args["stride"], args["kernel"], (h, w), args["pad"], strict=True
        )
    )


def _conv(layer: LayerNodes) -> str:
    args = layer.args
    return layer.emit(
        "Conv", [*layer.inputs, layer.tensor("W"), layer.tensor("b")],
        kernel_shape=args["kernel"], strides=args["stride"], pads=_pads(layer.node),
    )


def _pool(layer: LayerNodes) -> str:
    args, overhang = layer.args, _overhang(layer.node)
    window = {"kernel_shape": args["kernel"], "strides": args["stride"]}
    if args["kind"] == "max":  # padding and overhang both read as −∞ by MaxPool
        return layer.emit("MaxPool", pads=_pads(layer.node, overhang), **window)
    if overhang == (0, 0):
        return layer.emit("AveragePool", pads=_pads(layer.node), count_include_pad=1, **window)
    # The zero padding counts in the average, the overhang does not: pad with real zeros, then exclude the rest.
    (ph, pw) = args["pad"]
    amounts = layer.constant("pads", [0, 0, ph, pw, 0, 0, ph, pw], "int64")
    padded = layer.emit("Pad", [layer.inputs[0], amounts], layer.temp("padded"), mode="constant")
    return layer.emit("AveragePool", [padded], pads=[0, 0, *overhang], count_include_pad=0, **window)


def _global_pool(layer: LayerNodes) -> str:
    pool = "GlobalAveragePool" if layer.args["kind"] == "avg" else "GlobalMaxPool"
    pooled = layer.emit(pool, output=layer.temp("pooled"))  # N×C×1×1
    return layer.emit("Flatten", [pooled], axis=1)


def _upsample(layer: LayerNodes) -> str:
    fh, fw = layer.args["factor"]
    scales = layer.constant("scales", [1, 1, fh, fw])
    return layer.emit(
        "Resize", [layer.inputs[0], "", scales],
        mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor",
    )


def _affine(layer: LayerNodes) -> str:
    vector = layer.inputs[0]
    if len(layer.node["in_shape"]) > 1:  # the IR flattens images before an affine; an IR file might not
        vector = layer.emit("Flatten", output=layer.temp("flat"), axis=1)
    return layer.emit("Gemm", [vector, layer.tensor("W"), layer.tensor("b")])


def _batchnorm(layer: LayerNodes) -> str:
    names = [layer.tensor(name) for name in ("gamma", "beta", "running_mean", "running_var")]
    # ONNX's momentum is netlang's (running = momentum·running + (1 − momentum)·batch); inference ignores it.
    return layer.emit("BatchNormalization", [layer.inputs[0], *names], epsilon=layer.args["eps"],
                      momentum=layer.args["momentum"])


def _step(layer: LayerNodes) -> str:
    positive = layer.emit("Greater", [layer.inputs[0], layer.constant("zero", 0.0)], layer.temp("positive"))
    return layer.emit("Cast", [positive], to=import_onnx().TensorProto.FLOAT)


def _swish(layer: LayerNodes) -> str:
    gate = layer.emit("Sigmoid", output=layer.temp("sigmoid"))
    return layer.emit("Mul", [layer.inputs[0], gate])


def _dropout(layer: LayerNodes) -> str:
    """Inference: no node; the layer's value is its input's (an Identity only if it is the network's output)."""
    if layer.output == OUTPUT:
        return layer.emit("Identity")
    return layer.inputs[0]


def _add(layer: LayerNodes) -> str:
    return layer.emit("Add" if len(layer.inputs) == 2 else "Sum")


NODES: dict[str, Callable[[LayerNodes], str]] = {
    "conv": _conv,
    "pool": _pool,
    "global_pool": _global_pool,
    "upsample": _upsample,
    "affine": _affine,
    "flatten": lambda layer: layer.emit("Flatten", axis=1),
    "relu": lambda layer: layer.emit("Relu"),
    "sigmoid": lambda layer: layer.emit("Sigmoid"),
    "tanh": lambda layer: layer.emit("Tanh"),
    "step": _step,
    "identity": lambda layer: layer.emit("Identity"),
    "swish": _swish,
    "prelu": lambda layer: layer.emit("PRelu", [*layer.inputs, layer.tensor("alpha")]),
    "softmax": lambda layer: layer.emit("Softmax", axis=1),  # over the features of (N, C)
    "leaky_relu": lambda layer: layer.emit("LeakyRelu", alpha=layer.args["alpha"]),
    "elu": lambda layer: layer.emit("Elu", alpha=layer.args["alpha"]),
    "batchnorm": _batchnorm,
    "dropout": _dropout,
    "add": _add,
    "concat": lambda layer: layer.emit("Concat", axis=1),
}


def _same(node: Node, array: Any) -> Any:
    return array


def _per_channel_slope(node: Node, array: Any) -> Any:
    """prelu's slope (C) as [C, 1, 1] on an image, so that it broadcasts over (N, C, H, W) by channel."""
    return array.reshape(array.shape + (1,) * (len(node["in_shape"]) - 1))


# op -> {netlang tensor name: netlang layout -> the layout its ONNX operator reads}
TENSORS: dict[str, dict[str, Callable[[Node, Any], Any]]] = {
    "conv": {"W": _same, "b": _same},  # (F, C, KH, KW), as Conv's W
    "affine": {"W": _same, "b": _same},  # (in, units): Gemm's B without transB
    "prelu": {"alpha": _per_channel_slope},
    "batchnorm": {"gamma": _same, "beta": _same, "running_mean": _same, "running_var": _same},
}


def check_size(ir: dict[str, Any], spec_text: str | None = None) -> None:
    """DataError when the network's weights and spec text would not fit in one ONNX file (MAX_ONNX_BYTES),
    checked from the IR's totals before any weight exists."""
    from netlang.limits import MAX_ONNX_BYTES

    size = ir["totals"]["param_bytes"] + len((spec_text or "").encode("utf-8"))
    if size > MAX_ONNX_BYTES:
        raise DataError(
            f"the network's weights and spec take {size:,} bytes, more than one ONNX file holds "
            f"({MAX_ONNX_BYTES:,}, protobuf's limit; netlang writes no external-data files)"
        )


class Exported(NamedTuple):
    """An exported network: the ONNX model, and the name of the ONNX value holding each layer's output."""

    model: Any
    values: dict[str, str]


def export(
    ir: dict[str, Any],
    tensors: Mapping[str, Any],
    opset: int = DEFAULT_OPSET,
    spec_text: str | None = None,
    version: str = "",
) -> Exported:
    """An inferred IR and its tensors by netlang name (Model.state_dict(); float32) -> the ONNX model computing
    what Model.predict computes. `spec_text`, the source the IR's positions point into, gives each node its
    spec line and the metadata their text; `version` is netlang's. UsageError for an opset out of range,
    DataError for a network too large for one ONNX file."""
    import numpy as np

    onnx = import_onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise UsageError(f"--opset {opset} is out of range: this export writes opsets {MIN_OPSET} to {newest} "
                         f"(the installed onnx {onnx.__version__}'s newest); default {DEFAULT_OPSET}")
    check_size(ir, spec_text)
    lines = spec_text.splitlines() if spec_text is not None else None
    values = {NETWORK_INPUT: NETWORK_INPUT}
    nodes, initializers = [], []
    layers = ir["layers"]
    for index, node in enumerate(layers):
        layer = LayerNodes(
            node, [values[name] for name in node["inputs"]],
            OUTPUT if index == len(layers) - 1 else _value_name(node["name"]), _doc(node, lines),
        )
        for name, to_onnx in TENSORS.get(node["op"], {}).items():
            array = np.asarray(to_onnx(node, np.asarray(tensors[layer.tensor(name)])), dtype=np.float32)
            initializers.append(numpy_helper.from_array(array, layer.tensor(name)))
        values[node["name"]] = NODES[node["op"]](layer)
        nodes += layer.nodes
        initializers += layer.constants

    def value_info(name: str, shape: list[int]) -> Any:
        return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [BATCH, *shape])

    source = str(ir.get("source", "network"))
    graph = helper.make_graph(
        nodes, source.rsplit("/", 1)[-1], [value_info(NETWORK_INPUT, ir["input"]["shape"])],
        [value_info(OUTPUT, layers[-1]["out_shape"])], initializers,
        doc_string=f"netlang network from {source}",
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="netlang", producer_version=version)
    metadata = {"netlang_version": version, "source": source}
    if spec_text is not None:
        metadata["spec"] = spec_text
    helper.set_model_props(model, metadata)
    return Exported(model, values)


def _value_name(layer: str) -> str:
    """The ONNX value of a layer's output (not the network's): the layer's name, unless that is the network
    output's name, as LeNet-5's `output: affine 10` is; '/' never occurs in netlang's names."""
    return f"{layer}/value" if layer == OUTPUT else layer


def _doc(node: Node, lines: list[str] | None) -> str:
    """A node's doc string: its layer, and the spec line that layer came from when the text is known."""
    doc = f"layer {node['name']} ({node['op']})"
    line = (node.get("pos") or {}).get("line")
    if isinstance(line, int):
        doc += f", spec line {line}"
        if lines is not None and 1 <= line <= len(lines):
            doc += f": {lines[line - 1].strip()}"
    return doc
