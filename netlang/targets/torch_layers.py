"""The torch modules the torch engine (torch_engine.py) runs: netlang's network as one torch.nn.Module, with
batchnorm and dropout as netlang defines them, told by a BatchPart which part of the batch they see.

Every other op is lowered by the torch target (torch_modules.py), which covers the whole op registry.
"""

from __future__ import annotations

from typing import Any

from netlang.ops.base import NETWORK_INPUT
from netlang.targets import torch_modules


def _batchnorm_module(node: dict[str, Any], part: BatchPart) -> Any:
    """netlang's batchnorm as a torch module: biased batch variance, running = m*running + (1-m)*batch.

    Its batch statistics are the whole batch's: in a distributed step they are summed over the processes
    (an all-reduce autograd differentiates through), as the NumPy engine's thread shards share theirs.
    """
    import torch

    momentum, eps = node["args"].get("momentum", 0.9), node["args"].get("eps", 1e-5)
    channels = node["in_shape"][0]

    class BatchNorm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(channels))
            self.bias = torch.nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

        def forward(self, x: Any) -> Any:
            shape = (1, channels) + (1,) * (x.dim() - 2)
            if not self.training:
                scale = self.weight / torch.sqrt(self.running_var + eps)
                return (x - self.running_mean.view(shape)) * scale.view(shape) + self.bias.view(shape)
            dims = [0, *range(2, x.dim())]
            local_count = x.numel() // channels
            count_and_sums = part.sum_over_processes(torch.cat([x.new_tensor([local_count]), x.sum(dims)]))
            count = count_and_sums[0]
            mean = count_and_sums[1:] / count
            centred = x - mean.view(shape)
            var = part.sum_over_processes((centred * centred).sum(dims)) / count
            out = centred * torch.rsqrt(var + eps).view(shape) * self.weight.view(shape) + self.bias.view(shape)
            with torch.no_grad():
                self.running_mean.mul_(momentum).add_(mean.detach(), alpha=1 - momentum)
                self.running_var.mul_(momentum).add_(var.detach(), alpha=1 - momentum)
            return out

    return BatchNorm()


def _dropout_module(node: dict[str, Any], part: BatchPart) -> Any:
    """Inverted dropout (keep with probability 1 - ratio, scale by 1 / (1 - ratio)), its mask drawn for the
    whole batch from the step's generator and cut to this process's rows, so that it does not depend on how
    many processes share the batch."""
    import torch

    ratio = node["args"].get("ratio", 0.5)

    class Dropout(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            if not self.training or ratio == 0:
                return x
            start, total = part.rows
            shape = (total if total is not None else len(x), *x.shape[1:])
            draws = torch.rand(shape, generator=part.generator, device=x.device, dtype=x.dtype)
            keep = draws[start:start + len(x)] >= ratio
            return x * keep.to(x.dtype) * (1.0 / (1.0 - ratio))

    return Dropout()


class BatchPart:
    """What the layers of one process need to know about the batch they see a part of: its rows in the whole
    batch, the dropout generator of this step, and how to sum a statistic over the processes."""

    def __init__(self) -> None:
        self.rows: tuple[int, int | None] = (0, None)  # (first row, rows in the whole batch); None: all here
        self.generator: Any = None
        self.sum_over_processes = _same  # distributed: a differentiable all-reduce


def _same(value: Any) -> Any:
    return value


ENGINE_MODULES = {"batchnorm": _batchnorm_module, "dropout": _dropout_module}


def lower_for_engine(ir: dict[str, Any], part: BatchPart) -> Any:
    """The network as a torch.nn.Module with one submodule per netlang layer (named like it, '.' as '_'),
    whose forward(x, stop) returns the output of layer `stop` - 1 (the last layer when stop is None)."""
    import torch

    nodes = ir["layers"]

    def module_for(node: dict[str, Any]) -> Any:
        special = ENGINE_MODULES.get(node["op"])
        return special(node, part) if special else torch_modules.lower(node)

    class Network(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleDict({key_of(node): module_for(node) for node in nodes})

        def forward(self, x: Any, stop: int | None = None) -> Any:
            values = {NETWORK_INPUT: x}
            run = nodes if stop is None else nodes[:stop]
            for node in run:
                values[node["name"]] = self.layers[key_of(node)](*(values[name] for name in node["inputs"]))
            return values[run[-1]["name"]]

    return Network()


def key_of(node: dict[str, Any]) -> str:
    """The name of a layer's submodule: its netlang name, with the "." torch reserves written as "_"."""
    return node["name"].replace(".", "_")
