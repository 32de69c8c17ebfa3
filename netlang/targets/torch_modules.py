"""PyTorch modules computing what each netlang op computes, and where each netlang tensor goes in them.

`lower(node)` gives the module of an inferred IR layer; `TENSORS[op]` maps the op's tensor names to the
module's attributes and converts the layouts (an affine's W is (in, units), a Linear's weight (units, in)).
torch is imported when a module is made, never by importing this file.

Known differences that an engine built on this must bridge: netlang's batchnorm updates its running variance
with the biased batch variance (the book's), PyTorch's with the unbiased one; dropout draws its own masks.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from netlang.ops.base import NETWORK_INPUT

Node = dict[str, Any]


def _nn() -> Any:
    import torch.nn

    return torch.nn


def _conv(node: Node) -> Any:
    args = node["args"]
    return _nn().Conv2d(node["in_shape"][0], args["filters"], tuple(args["kernel"]), tuple(args["stride"]),
                        tuple(args["pad"]))


def _pool(node: Node) -> Any:
    args, nn = node["args"], _nn()
    kernel, stride, pad = tuple(args["kernel"]), tuple(args["stride"]), tuple(args["pad"])
    ceil = args["round"] == "ceil"
    if args["kind"] == "max":
        return nn.MaxPool2d(kernel, stride, pad, ceil_mode=ceil)
    return nn.AvgPool2d(kernel, stride, pad, ceil_mode=ceil, count_include_pad=True)


def _global_pool(node: Node) -> Any:
    nn = _nn()
    pool = nn.AdaptiveAvgPool2d(1) if node["args"]["kind"] == "avg" else nn.AdaptiveMaxPool2d(1)
    return nn.Sequential(pool, nn.Flatten())  # netlang's output is a vector of C, not C×1×1


def _upsample(node: Node) -> Any:
    return _nn().Upsample(scale_factor=tuple(float(f) for f in node["args"]["factor"]), mode="nearest")


def _affine(node: Node) -> Any:
    nn = _nn()
    return nn.Sequential(nn.Flatten(), nn.Linear(prod(node["in_shape"]), node["args"]["units"]))


def _batchnorm(node: Node) -> Any:
    args, nn = node["args"], _nn()
    norm = nn.BatchNorm2d if len(node["in_shape"]) == 3 else nn.BatchNorm1d
    return norm(node["in_shape"][0], eps=args["eps"], momentum=1 - args["momentum"])


def _add(node: Node) -> Any:
    nn = _nn()

    class Add(nn.Module):
        """The sum of its inputs (a group's branches)."""

        def forward(self, *xs):
            total = xs[0]
            for x in xs[1:]:
                total = total + x
            return total

    return Add()


def _concat(node: Node) -> Any:
    import torch

    class Concat(torch.nn.Module):
        """Its inputs joined along the channels (dim 1)."""

        def forward(self, *xs):
            return torch.cat(xs, dim=1)

    return Concat()


def _step(node: Node) -> Any:
    nn = _nn()

    class Step(nn.Module):
        """1 where x > 0, else 0, in x's dtype."""

        def forward(self, x):
            return (x > 0).to(x.dtype)

    return Step()


MODULES: dict[str, Callable[[Node], Any]] = {
    "conv": _conv,
    "pool": _pool,
    "global_pool": _global_pool,
    "upsample": _upsample,
    "affine": _affine,
    "flatten": lambda node: _nn().Flatten(),
    "relu": lambda node: _nn().ReLU(),
    "sigmoid": lambda node: _nn().Sigmoid(),
    "tanh": lambda node: _nn().Tanh(),
    "step": _step,
    "identity": lambda node: _nn().Identity(),
    "swish": lambda node: _nn().SiLU(),
    "prelu": lambda node: _nn().PReLU(node["in_shape"][0]),
    "softmax": lambda node: _nn().Softmax(dim=1),
    "leaky_relu": lambda node: _nn().LeakyReLU(node["args"]["alpha"]),
    "elu": lambda node: _nn().ELU(node["args"]["alpha"]),
    "batchnorm": _batchnorm,
    "dropout": lambda node: _nn().Dropout(node["args"]["ratio"]),
    "add": _add,
    "concat": _concat,
}


def _same(array: Any) -> Any:
    return array


def _transposed(array: Any) -> Any:
    return array.T


# op -> {netlang tensor name: (attribute path in the module, netlang layout -> torch layout)}
TENSORS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "conv": {"W": ("weight", _same), "b": ("bias", _same)},
    "affine": {"W": ("1.weight", _transposed), "b": ("1.bias", _same)},
    "prelu": {"alpha": ("weight", _same)},
    "batchnorm": {
        "gamma": ("weight", _same),
        "beta": ("bias", _same),
        "running_mean": ("running_mean", _same),
        "running_var": ("running_var", _same),
    },
}


def lower(node: Node) -> Any:
    """The PyTorch module of an inferred IR layer (fresh weights; see load_tensors)."""
    return MODULES[node["op"]](node)


def lower_network(nodes: list[Node], module_for: Callable[[Node], Any] = lower) -> Any:
    """A PyTorch module running the inferred IR layers `nodes` as netlang does: each layer's module on the
    values its `inputs` name ("input" is the network's input), in order; it returns the last layer's output.
    Submodules are named like the layers, with '.' (which torch reserves) written as '_'."""
    nn = _nn()

    class Network(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleDict({node["name"].replace(".", "_"): module_for(node) for node in nodes})
            self.nodes = nodes

        def forward(self, x):
            values = {NETWORK_INPUT: x}
            for node in self.nodes:
                module = self.layers[node["name"].replace(".", "_")]
                values[node["name"]] = module(*(values[name] for name in node["inputs"]))
            return values[self.nodes[-1]["name"]]

    return Network()


def load_tensors(module: Any, op: str, tensors: dict[str, Any]) -> None:
    """Copy a layer's netlang tensors (NumPy arrays by name: "W", "b", ...) into its module, in torch's layout."""
    import torch

    targets = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, value in tensors.items():
        attribute, to_torch = TENSORS[op][name]
        with torch.no_grad():
            targets[attribute].copy_(torch.from_numpy(to_torch(value).copy()))


def torch_grad(module: Any, op: str, name: str) -> Any:
    """The gradient of a netlang tensor, read from its module and put in netlang's layout (a NumPy array)."""
    attribute, to_torch = TENSORS[op][name]
    grad = dict(module.named_parameters())[attribute].grad.numpy()
    return to_torch(grad)  # both layout changes are their own inverse
