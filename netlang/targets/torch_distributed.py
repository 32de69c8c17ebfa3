"""Data-parallel training under torchrun: one process per CPU or GPU, DistributedDataParallel, one run.

    torchrun --nproc-per-node N -m netlang train SPEC --engine torch

Every process builds the same model from the same seed, reads the same data and draws the same seeded
shuffle, so all agree on every step's batch without talking. `batch_size` is the global batch: process r of
W runs rows [n*r//W, n*(r+1)//W) of each batch of n rows (parts differ by at most one row; the last, short
batch of an epoch is divided the same way, even when some parts are empty). Each process's loss is its rows'
share of the whole batch's mean loss, times W, so DDP's average of the gradients is exactly the gradient of
the whole batch's mean loss. Batchnorm normalises with the whole batch's statistics, summed over the
processes in the forward pass (and differentiated through): a step is the step one process would take on
the whole batch, as the NumPy engine's thread shards also make it.

The processes all compute the same loss, validation and test figures (each computes its share, the sums
are all-reduced), so they take the same early-stopping and NaN decisions; one process (rank 0) prints and
writes the run directory. A stop asked for on any process (Ctrl-C: torchrun passes SIGINT on to every
process) is agreed on after each step, so all stop after the same step and rank 0 saves it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from netlang.errors import UsageError
from netlang.targets.torch_engine import TorchModel, require_torch


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a torchrun launch."""

    rank: int
    world: int
    local_rank: int


def torchrun_launch(environ: dict[str, str] | None = None) -> Launch | None:
    """The launch torchrun's environment describes (RANK, WORLD_SIZE, LOCAL_RANK), or None for one process."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return None
    try:
        launch = Launch(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", "0")))
    except (KeyError, ValueError):
        raise UsageError(
            "WORLD_SIZE is set but RANK or LOCAL_RANK is missing or not a number; start distributed "
            "training with torchrun"
        ) from None
    if launch.world < 1 or not 0 <= launch.rank < launch.world:
        raise UsageError(f"RANK {launch.rank} and WORLD_SIZE {launch.world} do not fit; start it with torchrun")
    return launch if launch.world > 1 else None


# How long a process that finished waits for the others at the end before it tears the group down anyway.
EXIT_BARRIER_SECONDS = 120


class ProcessGroup:
    """The default process group while a `with` block runs: gloo for CPUs, NCCL for CUDA devices."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def __enter__(self) -> ProcessGroup:
        torch = require_torch()
        import torch.distributed as dist

        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            # On a normal end every process waits for the others before tearing the group down: one that tore
            # it down while another still used it ended with "terminate called without an active exception"
            # (SIGABRT) in about one two-process run in ten. After an error the others may never come.
            # torchrun stops the others when one process fails; the timeout is for any other way one is missing.
            if exc_type is None:
                try:
                    if dist.get_backend() == "gloo":
                        dist.monitored_barrier(timeout=timedelta(seconds=EXIT_BARRIER_SECONDS))
                    else:
                        dist.barrier()
                except RuntimeError:
                    pass  # a process that ended another way says why itself
            dist.destroy_process_group()


def distribute(model: TorchModel, launch: Launch) -> None:
    """Make `model` train its share of every batch with DistributedDataParallel (the process group is up)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    model.rank, model.world = launch.rank, launch.world
    device_ids = [model.device.index] if model.device.type == "cuda" else None
    # Every process computes the same running statistics, so DDP need not send buffers before each step
    # (the option's name changed in torch 2.13).
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_buffer_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    model.trainer_network = DistributedDataParallel(model.network, device_ids=device_ids, **no_buffer_sync)
    model.part.sum_over_processes = _differentiable_sum()
    model.sum_over_processes = _sum_over_processes
    model.gather_rows = lambda part, rows: _gather_rows(model, part, rows)


def _differentiable_sum() -> Any:
    """A function summing a tensor over the processes that autograd differentiates through: the gradient of
    a sum that every process holds is the sum of the processes' gradients."""
    import torch

    class SumOverProcesses(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, value: Any) -> Any:
            return _sum_over_processes(value)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return _sum_over_processes(grad)

    return SumOverProcesses.apply


def _sum_over_processes(value: Any) -> Any:
    import torch.distributed as dist

    total = value.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def _gather_rows(model: TorchModel, part: Any, rows: int) -> Any:
    """Every process's rows of a batch, in order: parts padded to one size for all_gather, then cut back."""
    import torch
    import torch.distributed as dist

    largest = -(-rows // model.world)
    padded = part.new_zeros((largest, *part.shape[1:]))
    padded[: len(part)] = part
    pieces = [torch.empty_like(padded) for _ in range(model.world)]
    dist.all_gather(pieces, padded)
    sizes = [rows * (r + 1) // model.world - rows * r // model.world for r in range(model.world)]
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes, strict=True)])


def any_process(wish: bool) -> bool:
    """True on every process when any process passes True (an all-reduce of one number)."""
    torch = require_torch()
    import torch.distributed as dist

    flag = torch.tensor([1.0 if wish else 0.0])
    if dist.get_backend() == "nccl":
        flag = flag.cuda()
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)
