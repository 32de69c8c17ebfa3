"""PyTorch source code for a network: a standalone `nn.Module` class a person could have written, and a function
that loads netlang's .npz weights into it.

`generate(ir)` gives the text of a Python file that imports torch and numpy only (never netlang). Its class has
one attribute per netlang layer holding a standard torch.nn module (`self.conv1 = nn.Conv2d(1, 16,
kernel_size=3, padding=1)`), and a plain `forward` that calls them in the IR's order; sums and concatenations of
branches are expressions in `forward` (`a + b`, `torch.cat([a, b], dim=1)`), as they hold no state.
`MODULES[op]` writes one layer (its module and the expression that calls it); `TENSORS[op]` says where each of
the op's netlang tensors goes in its module. Nothing here imports torch: the text is made from the IR alone.

Names. A layer's attribute is its name with each character that cannot be in a Python name written as `_`
(`basic1.conv2` is `self.basic1_conv2`). A name that would then clash with a Python keyword or builtin, an
attribute of nn.Module (`train`, `eval`, ...), a name the file itself uses (`x`, `torch`, ...) or an earlier
layer's gets `_` appended; one starting with `_` gets `layer` in front (`_x` would be private, `__x`
mangled). The file lists where each netlang tensor goes (`NETLANG_TENSORS`), so nothing depends on the rule.

In forward, a value read only by the next layer is `x`; a value read elsewhere (a branch point, a branch's
end) is a local variable named like its layer, so a residual block reads as `add1 = batchnorm3 + relu1`.

The module computes what `Model.predict` computes once in eval mode (the loader leaves it so): batchnorm reads
its running statistics, dropout passes its input through, a final softmax or sigmoid gives probabilities.
Where a torch.nn module could mean something else than netlang's op, the entry keeps netlang's meaning:

- pool: netlang's `round ceil` is PyTorch's ceil_mode (a last window starting in the right padding is
  dropped by both), average pooling counts the zero padding (count_include_pad, PyTorch's default) but not
  the overhang of a partial ceil window, in both; max pooling pads with −∞ in both.
- batchnorm: eps as netlang's; PyTorch's momentum is 1 − netlang's (the weight of the new batch). In
  training PyTorch updates the running variance with the unbiased batch variance, netlang with the biased.
- affine: netlang's W is (in, units), nn.Linear's weight (units, in): the loader transposes it.
- global_pool gives a vector of C (AdaptiveAvgPool2d(1), then Flatten); upsample is nearest-neighbour
  Upsample by whole factors, which repeats each pixel; swish is SiLU; step is a small module of the file.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT, layer_text

Node = dict[str, Any]

LINE_LENGTH = 120
INDENT = "    "

# Public attributes of torch.nn.Module (torch 2.13); a layer named so gets `_` appended. A test checks that the
# installed torch has no others.
MODULE_ATTRIBUTES = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
    eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict
    modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad
""".split())
# Names the generated file uses itself: the forward's input and the modules it imports.
FILE_NAMES = frozenset({"self", "x", "inputs", "torch", "nn", "np", "os"})
LOADER = "load_netlang_weights"
# The file's other module-level names, which the class's name must not take.
CLASS_CLASHES = frozenset({"NETLANG_TENSORS", "TRANSPOSED", "Step", LOADER, *FILE_NAMES})

# Small modules a generated file defines when a layer needs one (no torch.nn module computes the op).
HELPERS = {
    "Step": '''
class Step(nn.Module):
    """netlang's step: 1 where x > 0, else 0, in x's dtype (no gradient)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)
''',
}


@dataclass(frozen=True)
class Expression:
    """The right-hand side of a forward statement: `head` + items joined by `joiner` + `tail` on one line, or, when
    that is too long, `open` and `close` around one item a line (`plus`: a sum, each item after the first
    starting with '+ '; otherwise each item ending with ',')."""

    head: str
    items: tuple[str, ...]
    tail: str
    joiner: str = ", "
    open: str = ""
    close: str = ""
    plus: bool = False

    def line(self) -> str:
        """The expression on one line."""
        return f"{self.head}{self.joiner.join(self.items)}{self.tail}"

    def wrapped(self) -> list[str]:
        """The expression over several lines, one item a line (indented relative to the first and last)."""
        if self.plus:
            body = [self.items[0], *(f"+ {item}" for item in self.items[1:])]
        else:
            body = [f"{item}," for item in self.items]
        return [self.open or self.head, *(INDENT + line for line in body), self.close or self.tail]


def call(callee: str, *arguments: str) -> Expression:
    """A call, `callee(arguments)`."""
    return Expression(f"{callee}(", arguments, ")")


@dataclass
class LayerSource:
    """What an entry of MODULES writes one layer with: the layer's IR node, its attribute name, the forward's
    variables holding its inputs, and the helper classes (HELPERS) the file must define for it."""

    node: Node
    attribute: str
    inputs: list[str]
    helpers: set[str] = field(default_factory=set)

    @property
    def args(self) -> dict[str, Any]:
        return self.node["args"]

    def module(self, constructor: str, argument: str | None = None) -> tuple[str, Expression]:
        """The layer as the module `constructor` (`nn.ReLU()`), stored as self.<attribute> and called on its input
        (or on `argument`, an expression of it)."""
        return constructor, call(f"self.{self.attribute}", argument or self.inputs[0])


# An entry gives (the module's constructor, or None for a layer with no module; the forward's expression).
Entry = Callable[[LayerSource], tuple[str | None, Expression]]


def _number(value: float) -> str:
    """A number as Python source: ints as they are, floats by their shortest repr."""
    return repr(value) if isinstance(value, float) else str(int(value))


def _size(pair: list[int]) -> str:
    """A (height, width) argument: one number when square, else a tuple."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def _conv(layer: LayerSource) -> tuple[str, Expression]:
    args = layer.args
    words = [str(layer.node["in_shape"][0]), str(args["filters"]), f"kernel_size={_size(args['kernel'])}"]
    if args["stride"] != [1, 1]:
        words.append(f"stride={_size(args['stride'])}")
    if args["pad"] != [0, 0]:
        words.append(f"padding={_size(args['pad'])}")
    return layer.module(f"nn.Conv2d({', '.join(words)})")


def _pool(layer: LayerSource) -> tuple[str, Expression]:
    args = layer.args
    words = [_size(args["kernel"])]
    if args["stride"] != args["kernel"]:
        words.append(f"stride={_size(args['stride'])}")
    if args["pad"] != [0, 0]:
        words.append(f"padding={_size(args['pad'])}")
    if args.get("round") == "ceil":
        words.append("ceil_mode=True")
    kind = "MaxPool2d" if args["kind"] == "max" else "AvgPool2d"  # AvgPool2d counts the padding, as netlang
    return layer.module(f"nn.{kind}({', '.join(words)})")


def _global_pool(layer: LayerSource) -> tuple[str, Expression]:
    pool = "AdaptiveAvgPool2d" if layer.args["kind"] == "avg" else "AdaptiveMaxPool2d"
    return layer.module(f"nn.Sequential(nn.{pool}(1), nn.Flatten())")  # a vector of C, not C×1×1


def _upsample(layer: LayerSource) -> tuple[str, Expression]:
    fh, fw = layer.args["factor"]
    factor = str(fh) if fh == fw else f"({fh}, {fw})"
    return layer.module(f'nn.Upsample(scale_factor={factor}, mode="nearest")')


def _affine(layer: LayerSource) -> tuple[str, Expression]:
    constructor = f"nn.Linear({prod(layer.node['in_shape'])}, {layer.args['units']})"
    if len(layer.node["in_shape"]) > 1:  # the IR flattens images before an affine; an IR file might not
        return layer.module(constructor, f"torch.flatten({layer.inputs[0]}, 1)")
    return layer.module(constructor)


def _batchnorm(layer: LayerSource) -> tuple[str, Expression]:
    args, channels = layer.args, layer.node["in_shape"][0]
    norm = "BatchNorm2d" if len(layer.node["in_shape"]) == 3 else "BatchNorm1d"
    # PyTorch weighs the new batch by its momentum, netlang the running average by its own: 1 − netlang's
    # (shortest form: 1 − 0.9 is 0.09999999999999998 in floating point).
    momentum = float(f"{1 - args['momentum']:.15g}")
    return layer.module(f"nn.{norm}({channels}, eps={_number(args['eps'])}, momentum={_number(momentum)})")


def _step(layer: LayerSource) -> tuple[str, Expression]:
    layer.helpers.add("Step")
    return layer.module("Step()")


def _add(layer: LayerSource) -> tuple[None, Expression]:
    return None, Expression("", tuple(layer.inputs), "", joiner=" + ", open="(", close=")", plus=True)


def _concat(layer: LayerSource) -> tuple[None, Expression]:
    return None, Expression("torch.cat([", tuple(layer.inputs), "], dim=1)")


MODULES: dict[str, Entry] = {
    "conv": _conv,
    "pool": _pool,
    "global_pool": _global_pool,
    "upsample": _upsample,
    "affine": _affine,
    "flatten": lambda layer: layer.module("nn.Flatten()"),
    "relu": lambda layer: layer.module("nn.ReLU()"),
    "sigmoid": lambda layer: layer.module("nn.Sigmoid()"),
    "tanh": lambda layer: layer.module("nn.Tanh()"),
    "step": _step,
    "identity": lambda layer: layer.module("nn.Identity()"),
    "swish": lambda layer: layer.module("nn.SiLU()"),
    "prelu": lambda layer: layer.module(f"nn.PReLU({layer.node['in_shape'][0]})"),  # starts at 0.25, as netlang
    "softmax": lambda layer: layer.module("nn.Softmax(dim=1)"),
    "leaky_relu": lambda layer: layer.module(f"nn.LeakyReLU({_number(layer.args['alpha'])})"),
    "elu": lambda layer: layer.module(f"nn.ELU(alpha={_number(layer.args['alpha'])})"),
    "batchnorm": _batchnorm,
    "dropout": lambda layer: layer.module(f"nn.Dropout(p={_number(layer.args['ratio'])})"),  # off in eval mode
    "add": _add,
    "concat": _concat,
}

# op -> {netlang tensor name: (the tensor in the op's torch module, whether netlang stores it transposed)}
TENSORS: dict[str, dict[str, tuple[str, bool]]] = {
    "conv": {"W": ("weight", False), "b": ("bias", False)},  # (F, C, KH, KW), as Conv2d's weight
    "affine": {"W": ("weight", True), "b": ("bias", False)},  # netlang's (in, units); Linear's (units, in)
    "prelu": {"alpha": ("weight", False)},
    "batchnorm": {
        "gamma": ("weight", False),
        "beta": ("bias", False),
        "running_mean": ("running_mean", False),
        "running_var": ("running_var", False),
    },
}


def attribute_names(layers: list[Node]) -> dict[str, str]:
    """Each layer's attribute (and forward variable) name, by layer name: valid, readable and unique."""
    taken = set(MODULE_ATTRIBUTES | FILE_NAMES | set(HELPERS) | {LOADER})
    taken |= set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
    names = {}
    for layer in layers:
        name = re.sub(r"\W", "_", layer["name"], flags=re.ASCII)
        if name.startswith("_"):
            name = f"layer{name}"
        while name in taken:
            name += "_"
        taken.add(name)
        names[layer["name"]] = name
    return names


def class_name(ir: dict[str, Any]) -> str:
    """The class's name, from the spec file's name (`digits_convnet.net`: DigitsConvnet), else Net."""
    source = str(ir.get("source") or "")
    stem = "" if source.startswith("<") else re.split(r"[\\/]", source)[-1].split(".")[0]  # not <stdin>
    words = re.findall(r"[A-Za-z0-9]+", stem)
    name = "".join(word[:1].upper() + word[1:] for word in words)
    if not name or name[0].isdigit():
        return f"Net{name}"
    if name in CLASS_CLASHES or keyword.iskeyword(name) or name in dir(builtins):
        return f"{name}Net"
    return name


def _file_name(ir: dict[str, Any]) -> str:
    """The name of the spec (or IR) file the network came from, without its folders."""
    return re.split(r"[\\/]", str(ir.get("source") or "the network"))[-1]


def printable(text: str) -> str:
    """Text safe inside a comment or docstring of the file: control characters escaped, no backslash left
    to escape anything, no closing triple quote."""
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text.replace("\\", "/").replace('"""', "'''")


@dataclass
class Source:
    """The generated file's text, and what it defines: the class's name and its number of attributes."""

    text: str
    class_name: str
    attributes: int


def generate(
    ir: dict[str, Any],
    *,
    command: str | None = None,
    weights_file: str = "weights.npz",
    weights_origin: str = "",
    version: str = "",
) -> Source:
    """An inferred IR -> the source of a Python file defining its PyTorch module and the loader of its netlang
    weights. `command` is the command line that made it and `weights_file` the weights it suggests loading
    (`weights_origin` says where they came from), quoted in its header; `version` is netlang's."""
    layers = ir["layers"]
    names = attribute_names(layers)
    readers = _readers(layers)
    variables = _variables(layers, readers, names)
    pieces, helpers = [], set()
    for node in layers:
        layer = LayerSource(node, names[node["name"]], [variables[name] for name in node["inputs"]])
        constructor, expression = MODULES[node["op"]](layer)
        helpers |= layer.helpers
        pieces.append((node, constructor, expression))
    name = class_name(ir)
    init_lines, forward_lines = _body(pieces, names, variables)
    mapping, transposed = _tensor_table(layers, names)
    header = _header(ir, name, command, weights_file, weights_origin, version)
    output = _describe_output(layers[-1])
    shape = ", ".join(["N", *map(str, ir["input"]["shape"])])
    out_shape = ", ".join(["N", *map(str, layers[-1]["out_shape"])])
    lines = [
        header,
        "import os",
        "",
        "import numpy as np",
        "import torch",
        "from torch import nn",
        "",
        *(HELPERS[helper] for helper in sorted(helpers)),
        "",
        f"class {name}(nn.Module):",
        f'    """{printable(_file_name(ir))}: ({shape}) in, ({out_shape}) {output} out."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init_lines,
        "",
        f"    def forward(self, {variables[NETWORK_INPUT]}: torch.Tensor) -> torch.Tensor:",
        *forward_lines,
        "",
        "",
        "# Each netlang tensor (as its .npz files name it) and where it goes in the module's state_dict.",
        *_dict_lines("NETLANG_TENSORS", mapping),
        "# netlang stores an affine's W as (inputs, units), the transpose of nn.Linear's weight.",
        _set_line("TRANSPOSED", transposed),
        "",
        "",
        _loader(name),
    ]
    text = "\n".join(lines)
    text = re.sub(r"\n{4,}", "\n\n\n", text).rstrip("\n") + "\n"
    if any(len(line) > LINE_LENGTH for line in text.splitlines()):
        # Only names far longer than a person would write (an IR file's) can make a line too long to wrap.
        text = "# ruff: noqa: E501\n" + text
    return Source(text, name, sum(constructor is not None for _, constructor, _ in pieces))


def _readers(layers: list[Node]) -> dict[str, list[int]]:
    """For each value (the network's input and every layer's output), the indices of the layers that read it,
    once per reading."""
    readers: dict[str, list[int]] = {NETWORK_INPUT: []}
    for index, node in enumerate(layers):
        readers.setdefault(node["name"], [])
        for name in node["inputs"]:
            readers[name].append(index)
    return readers


def _variables(layers: list[Node], readers: dict[str, list[int]], names: dict[str, str]) -> dict[str, str]:
    """The forward's variable holding each value: `x` for the last layer's and for one only the next layer
    reads, else the layer's attribute name (`inputs` for the network's input)."""
    variables = {}
    for index, name in enumerate([NETWORK_INPUT, *(node["name"] for node in layers)]):
        follows_only = readers[name] == [index] or index == len(layers)  # layer `index` is the one after
        variables[name] = "x" if follows_only else names.get(name, "inputs")
    return variables


def _body(pieces: list, names: dict[str, str], variables: dict[str, str]) -> tuple[list[str], list[str]]:
    """The lines of __init__ and forward, a comment line naming each top-level group or block use."""
    init_lines, forward_lines, group = [], [], None
    for node, constructor, expression in pieces:
        scope = (node.get("scope") or [None])[0]
        if scope != group:
            group = scope
            for lines in (init_lines, forward_lines) if scope is not None else ():
                lines += ["", f"        # {printable(scope)}"]
            if scope is None:
                forward_lines.append("")
                init_lines.append("")
        if constructor is not None:
            attribute = names[node["name"]]
            init_lines += _with_comment(f"        self.{attribute} = {constructor}", _layer_comment(node, attribute))
        forward_lines += _statement(variables[node["name"]], expression)
    forward_lines.append("        return x")
    return init_lines, forward_lines


def _layer_comment(node: Node, attribute: str) -> str:
    """The layer as spec text and its line in the source file, with its netlang name where the attribute differs."""
    text = layer_text(OPS[node["op"]], node["args"], compact=True)
    if node.get("implicit"):
        text += " (implicit: the image meets an affine)"
    line = (node.get("pos") or {}).get("line")
    where = f", line {line}" if isinstance(line, int) else ""
    named = f"{node['name']}: " if node["name"] != attribute else ""
    return printable(f"{named}{text}{where}")


def _with_comment(code: str, comment: str) -> list[str]:
    """`code  # comment`, or the comment on a line of its own above the code when that is too long."""
    if len(code) + 4 + len(comment) <= LINE_LENGTH:
        return [f"{code}  # {comment}"]
    indent = code[: len(code) - len(code.lstrip())]
    return [f"{indent}# {comment}", code]


def _statement(target: str, expression: Expression) -> list[str]:
    """The forward's lines assigning `expression` to `target`: one line, or wrapped when that is too long."""
    start = f"        {target} = "
    line = start + expression.line()
    if len(line) <= LINE_LENGTH or len(expression.items) == 0:
        return [line]
    first, *rest = expression.wrapped()
    return [start + first, *(f"        {line}" for line in rest)]


def _describe_output(last: Node) -> str:
    """What the network gives: probabilities after a final softmax or sigmoid, else outputs."""
    return "probabilities" if last["op"] in ("softmax", "sigmoid") else "outputs"


def _tensor_table(layers: list[Node], names: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """({netlang tensor name: state_dict key}, the keys netlang stores transposed), in the layers' order."""
    mapping, transposed = {}, []
    for node in layers:
        for tensor, (attribute, is_transposed) in TENSORS.get(node["op"], {}).items():
            key = f"{names[node['name']]}.{attribute}"
            mapping[f"{node['name']}.{tensor}"] = key
            if is_transposed:
                transposed.append(key)
    return mapping, transposed


def _dict_lines(name: str, mapping: dict[str, str]) -> list[str]:
    """`name = {...}` as lines, one entry a line (key and value on two lines when one is too long)."""
    if not mapping:
        return [f"{name}: dict[str, str] = {{}}"]
    lines = [f"{name} = {{"]
    for key, value in mapping.items():
        line = f'    "{key}": "{value}",'  # layer names hold no quotes nor backslashes
        lines += [line] if len(line) <= LINE_LENGTH else [f'    "{key}":', f'        "{value}",']
    return [*lines, "}"]


def _set_line(name: str, keys: list[str]) -> str:
    """`name = frozenset({...})`, on one line if it fits."""
    if not keys:
        return f"{name}: frozenset[str] = frozenset()"
    line = f"{name} = frozenset({{{', '.join(repr(key) for key in keys)}}})".replace("'", '"')
    if len(line) <= LINE_LENGTH:
        return line
    return "\n".join([f"{name} = frozenset({{", *(f'    "{key}",' for key in keys), "})"])


def _header(
    ir: dict[str, Any], name: str, command: str | None, weights_file: str, weights_origin: str, version: str
) -> str:
    """The file's docstring: how it was made, what it computes, how to load weights, how layers are named."""
    source = printable(str(ir.get("source") or "a netlang spec"))
    made = f"netlang {version}".strip()
    lines = [f'"""{name}: the network of {source} as a PyTorch module, written by {made}:', ""]
    if command:
        lines += [f"    {printable(command)}", ""]
    lines += [
        "In eval mode (as load_netlang_weights leaves it) it computes what `netlang predict` computes: batchnorm",
        "uses its running statistics, dropout passes its input through, and a final softmax or sigmoid gives",
        "probabilities. Importing this file needs torch and numpy only, not netlang.",
        "",
        "Load netlang weights (a run's weights.npz, best.npz or checkpoint.npz, or the file written with this one)",
        f"and run it; `{LOADER}` reads .npz files with allow_pickle=False:",
        "",
        f'    model = {LOADER}({name}(), "{printable(weights_file)}")',
        "    with torch.no_grad():",
        f"        {_describe_output(ir['layers'][-1])} = model(inputs)  # inputs: a float32 tensor of shape "
        f"({', '.join(['N', *map(str, ir['input']['shape'])])})",
        "",
    ]
    if weights_origin:
        lines += [f"{printable(weights_file)} holds {printable(weights_origin)}.", ""]
    lines += [
        "Each netlang layer is the attribute of its name with `_` for the characters a Python name cannot hold",
        "(basic1.conv2 is self.basic1_conv2); NETLANG_TENSORS says where each netlang tensor goes. The comment",
        f"beside each attribute gives its layer as spec text and its line in {_file_name(ir)}. Trained further in",
        "PyTorch, batchnorm follows PyTorch's rule: its running variance is updated with the unbiased batch",
        'variance, netlang\'s with the biased one."""',
        "",
    ]
    return "\n".join(lines)


def _loader(name: str) -> str:
    """The loader function of the file whose class is `name`."""
    return LOADER_SOURCE.replace("CLASS", name)


# The loader every generated file ends with (CLASS: the class's name).
LOADER_SOURCE = '''def load_netlang_weights(model: CLASS, path: str | os.PathLike) -> CLASS:
    """Copy the tensors of a netlang weights file (a run's weights.npz, best.npz or checkpoint.npz) into `model`
    and return it in eval mode; ValueError if the file does not hold exactly this network's tensors."""
    archive = np.load(path, allow_pickle=False)  # never unpickles
    if not hasattr(archive, "files"):
        raise ValueError(f"{path}: not an .npz archive of netlang weights")
    with archive:
        # checkpoint.npz keeps the network's tensors under model/, beside the optimizer's state
        prefix = "model/" if "format" in archive.files else ""
        found = {name[len(prefix) :] for name in archive.files if name.startswith(prefix) and name != "__ir__"}
        missing = [name for name in NETLANG_TENSORS if name not in found]
        unexpected = sorted(found - set(NETLANG_TENSORS))
        if missing:
            raise ValueError(f"{path}: the file lacks {prefix}{missing[0]}; are these another network's weights?")
        if unexpected:
            problem = f"has {prefix}{unexpected[0]}, which {type(model).__name__} lacks"
            raise ValueError(f"{path}: the file {problem}; are these another network's weights?")
        state = model.state_dict()
        for name, key in NETLANG_TENSORS.items():
            array = archive[prefix + name]
            shape = tuple(state[key].shape)
            if key in TRANSPOSED:
                shape = shape[::-1]
            if array.dtype.kind != "f" or array.shape != shape:
                raise ValueError(f"{path}: {prefix}{name} is {array.dtype} {array.shape}, expected floats {shape}")
            with torch.no_grad():
                state[key].copy_(torch.from_numpy(array.T if key in TRANSPOSED else array))
    return model.eval()
'''
