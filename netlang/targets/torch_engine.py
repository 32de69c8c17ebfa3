"""build(ir, loss=..., init=..., dtype=..., seed=..., device=...) -> TorchModel: the same network trained by
PyTorch, on a CPU, a GPU or (see torch_distributed.py) several processes. It implements netlang/engine.py.

The run is netlang's, not an approximation of it: the initial weights are made by netlang's initialisers
(the NumPy engine is built with the same seed and its tensors copied in), the losses are netlang's (mean over
the batch of a per-example sum, the final softmax/sigmoid fused into the loss), batchnorm keeps netlang's
momentum and its biased running variance, and the optimizers are netlang's own, computing on torch tensors
(`xp`). Tensors are named as netlang names them and saved in its .npz layouts, so the NumPy engine, `eval`,
`predict` and `plot` read what this engine wrote, and the other way round.

Dropout draws its masks with torch, from a seed the model's NumPy generator (`rng`, saved in checkpoints)
gives each training step: a run is reproducible and resumable, but its masks are not the NumPy engine's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from netlang.backend.checkpoint import read_checkpoint, write_checkpoint
from netlang.backend.losses import FUSED_ACTIVATION, target_matrix
from netlang.backend.parallel import step_is_small
from netlang.engine import check_state
from netlang.errors import DataError, UsageError
from netlang.ops import OPS
from netlang.targets import torch_modules
from netlang.targets.torch_layers import BatchPart, key_of, lower_for_engine

INSTALL_HINT = 'the torch engine needs PyTorch, which is not installed; install it with: pip install "netlang[torch]"'
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def require_torch() -> Any:
    """The torch module; UsageError with the install line when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return torch


def resolve_device(name: str, local_rank: int | None = None) -> Any:
    """The torch.device `name` means ("auto": a GPU if there is one, else the CPU); UsageError if it is not
    there. Under torchrun (`local_rank` given) "cuda" and "auto" mean this process's GPU, cuda:LOCAL_RANK."""
    torch = require_torch()
    cuda, mps = torch.cuda.is_available(), _mps_available(torch)
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not mps:
            raise UsageError("--device mps: no Apple GPU (MPS) is available to PyTorch here")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            raise UsageError(f"--device {name}: no CUDA GPU is available to PyTorch here (use --device cpu)")
        if name == "cuda":
            return torch.device("cuda", local_rank or 0)
        index = name[len("cuda:"):]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: expected cuda:N with N from 0 to {torch.cuda.device_count() - 1}")
        if local_rank is not None:
            raise UsageError(f"--device {name}: under torchrun give --device cuda (each process uses GPU LOCAL_RANK)")
        return torch.device("cuda", int(index))
    raise UsageError(f"--device {name}: unknown device; expected {DEVICES}")


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


class TorchArrays:
    """The array module the optimizers compute with: torch's functions, with arrays made on the model's device.

    netlang's optimizers call xp.sqrt, xp.zeros_like and xp.asarray; asarray must place restored optimizer
    state where the parameters live, so it is the one function that is not torch's own.
    """

    def __init__(self, torch: Any, device: Any) -> None:
        self._torch = torch
        self.device = device

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def asarray(self, value: Any) -> Any:
        """A tensor of `value` on the model's device."""
        return self._torch.asarray(value, device=self.device)


class TorchModel:
    """A built network on a torch device. `params` and `buffers` are netlang-named, netlang-layout views of
    the module's own tensors (an affine's W is the transpose of its Linear's weight): updating them in place,
    as the optimizers do, updates the module."""

    def __init__(self, ir: dict[str, Any], dtype: np.dtype, loss: str, rng: np.random.Generator, device: Any):
        torch = require_torch()
        self._torch = torch
        self.ir = ir
        self.dtype = np.dtype(dtype)
        self.loss_name = loss
        self.rng = rng
        self.device = device
        self.xp = TorchArrays(torch, device)
        self.part = BatchPart()
        # Moved once: the views below are of the tensors on the device, and stay theirs.
        self.network = lower_for_engine(ir, self.part).to(dtype=_torch_dtype(torch, self.dtype), device=device)
        self.trainer_network = self.network  # what a training step runs: the network, or its DDP wrapper
        self.world = 1  # processes sharing each batch (torch_distributed.py sets them up)
        self._macs_per_sample = ir.get("totals", {}).get("macs")
        self._cpu_threads = torch.get_num_threads()
        self.rank = 0
        fused = FUSED_ACTIVATION.get(loss)
        layers = ir["layers"]
        self.body_length = len(layers) - 1 if layers and layers[-1]["op"] == fused else len(layers)
        self.draws_random = any(node["op"] == "dropout" and node["args"].get("ratio", 0.5) > 0 for node in layers)
        self._places: dict[str, tuple[Any, Any]] = {}  # netlang name -> (module tensor, layout change)
        self.params: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        for node in layers:
            module = self.network.layers[key_of(node)]
            owned = dict(module.named_parameters()) | dict(module.named_buffers())
            op = OPS[node["op"]]
            for kind, tensors in (("params", op.params), ("buffers", op.buffers)):
                for tensor in tensors:
                    attribute, layout = torch_modules.TENSORS[node["op"]][tensor.name]
                    name = f"{node['name']}.{tensor.name}"
                    self._places[name] = (owned[attribute], layout)
                    getattr(self, kind)[name] = layout(owned[attribute].detach())

    # -- inputs and outputs ---------------------------------------------------------------------------------

    def _input(self, x: np.ndarray) -> Any:
        x = np.asarray(x, dtype=self.dtype)
        expected = tuple(self.ir["input"]["shape"])
        if x.shape[1:] != expected:
            raise DataError(f"input batch of shape {x.shape} does not fit the network input {list(expected)}")
        return self._torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

    def _loss_terms(self, logits: Any, t: np.ndarray, total: int) -> tuple[Any, Any]:
        """(sum over this part of the per-example losses / `total`, outputs): netlang's losses on logits."""
        torch, functional = self._torch, self._torch.nn.functional
        t = np.asarray(t)
        shape = tuple(logits.shape)
        if self.loss_name == "cross_entropy":
            indices = _class_indices(t, shape)
            if indices is not None:
                target = torch.from_numpy(indices.astype(np.int64)).to(self.device)
            else:
                target = self._matrix(t, shape)
            loss = functional.cross_entropy(logits, target, reduction="sum") / total
            return loss, torch.softmax(logits, dim=1)
        target = self._matrix(t, shape)
        if self.loss_name == "bce":
            loss = functional.binary_cross_entropy_with_logits(logits, target, reduction="sum") / total
            return loss, torch.sigmoid(logits)
        diff = logits - target
        return 0.5 * (diff * diff).sum() / total, logits

    def _matrix(self, t: np.ndarray, shape: tuple[int, ...]) -> Any:
        """Targets shaped like the outputs (class indices as one-hot rows), on the device."""
        matrix = target_matrix(t, np.empty(shape, dtype=self.dtype))
        return self._torch.from_numpy(np.ascontiguousarray(matrix, dtype=self.dtype)).to(self.device)

    # -- the engine interface -------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """The last layer's outputs for a batch x (N, *input shape), as a NumPy array."""
        self.network.train(train)
        if train:
            self._new_step_generator()
            self.part.rows = (0, None)  # all of x runs here, in a distributed run too
        with self._torch.no_grad():
            return self.network(self._input(x)).cpu().numpy()

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Inference-mode outputs (probabilities after a final softmax or sigmoid), batch_size at a time; in a
        distributed run each process computes its share of every batch and all receive all outputs."""
        x = np.asarray(x)
        self.network.eval()
        chunks = []
        with self._torch.no_grad():
            for start in range(0, len(x), batch_size):
                batch = x[start:start + batch_size]
                low, high = self.share(len(batch))
                self._threads_for(high - low)
                outputs = self.network(self._input(batch[low:high])) if high > low else self._empty_outputs()
                chunks.append(self.gather_rows(outputs, len(batch)).cpu().numpy())
        if not chunks:
            return np.zeros((0,) + tuple(self.ir["layers"][-1]["out_shape"]), dtype=self.dtype)
        return np.concatenate(chunks)

    def _empty_outputs(self) -> Any:
        shape = (0, *self.ir["layers"][-1]["out_shape"])
        return self._torch.zeros(shape, dtype=_torch_dtype(self._torch, self.dtype), device=self.device)

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """The mean loss over the batch (over all processes' shares of it in a distributed run)."""
        x, t = np.asarray(x), np.asarray(t)
        self.network.train(train)
        if train:
            self._new_step_generator(len(x))
        low, high = self.share(len(x))
        with self._torch.no_grad():
            logits = self.network(self._input(x[low:high]), self.body_length)
            loss, _ = self._loss_terms(logits, t[low:high], len(x))
            return float(self.sum_over_processes(loss.detach()))

    def evaluate_batch(self, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Inference-mode (mean loss, outputs as predict gives them) of a batch, from one forward; in a distributed
        run each process computes its share, and all receive the whole batch's loss and outputs."""
        x, t = np.asarray(x), np.asarray(t)
        self.network.eval()
        low, high = self.share(len(x))
        self._threads_for(high - low)
        with self._torch.no_grad():
            logits = self.network(self._input(x[low:high]), self.body_length)
            loss, outputs = self._loss_terms(logits, t[low:high], len(x))
            loss = float(self.sum_over_processes(loss.detach()))
            return loss, self.gather_rows(outputs, len(x)).cpu().numpy()

    def loss_and_gradients(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, Any], np.ndarray]:
        """One training step's forward and backward -> (mean loss, gradients keyed like params in netlang's
        layout, on the device; outputs of the whole batch as a NumPy array).

        In a distributed run this process runs rows share(len(x)) of the batch; its loss is its examples'
        part of the whole batch's mean, times the number of processes, so that DDP's average of the
        processes' gradients is the gradient of the whole batch's mean loss, whatever the parts' sizes."""
        torch = self._torch
        x, t = np.asarray(x), np.asarray(t)
        self.network.train(True)
        self._new_step_generator(len(x))
        low, high = self.share(len(x))
        self.network.zero_grad(set_to_none=True)
        self._threads_for(high - low)
        logits = self.trainer_network(self._input(x[low:high]), self.body_length)
        loss, outputs = self._loss_terms(logits, t[low:high], len(x))
        if loss.requires_grad:  # else no parameter reaches the loss (a network of pools, say): all gradients 0
            (loss * self.world if self.world > 1 else loss).backward()
        grads = {}
        for name in self.params:
            tensor, layout = self._places[name]
            grads[name] = layout(tensor.grad) if tensor.grad is not None else torch.zeros_like(self.params[name])
        total_loss = float(self.sum_over_processes(loss.detach()))
        return total_loss, grads, self.gather_rows(outputs.detach(), len(x)).cpu().numpy()

    def _threads_for(self, rows: int) -> None:
        """On a CPU, set torch's threads for a step of `rows` examples: one for a step too small to gain from
        more (the NumPy engine's rule, parallel.step_is_small), else as many as torch started with. It stays
        so until the next step, for the optimizer's update in between: torch's idle threads spin, and on a
        busy machine a small step waited tens of milliseconds for them (20-80 ms against 3 ms on one)."""
        if self.device.type == "cpu":
            small = step_is_small(rows, self._macs_per_sample)
            self._torch.set_num_threads(1 if small else self._cpu_threads)

    def _new_step_generator(self, rows: int | None = None) -> None:
        """A training forward's dropout generator, seeded from `rng` (only when the network has dropout, so that
        `rng` advances as the NumPy engine's does), and the rows of the batch this process runs."""
        if rows is not None:
            self.part.rows = (self.share(rows)[0], rows)
        if self.draws_random:
            seed = int(self.rng.integers(0, 2**63 - 1))
            self.part.generator = self._torch.Generator(device=self.device).manual_seed(seed)

    def synchronize(self) -> None:
        """Wait until the device has done all the work queued so far (a GPU runs on after a call returns)."""
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            self._torch.mps.synchronize()

    # -- distribution (a single process: all of every batch is here) --------------------------------------

    def share(self, rows: int) -> tuple[int, int]:
        """The rows [low, high) of a batch of `rows` this process runs: contiguous, sizes differing by <= 1."""
        return rows * self.rank // self.world, rows * (self.rank + 1) // self.world

    def sum_over_processes(self, value: Any) -> Any:
        """`value` summed over the processes of a distributed run (itself in a single process)."""
        return value

    def gather_rows(self, part: Any, rows: int) -> Any:
        """The whole batch of `rows` rows from every process's share of it (this share in a single process)."""
        return part

    # -- state ----------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by name: NumPy copies, in netlang's layouts."""
        return {name: _host(view) for name, view in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state: dict[str, np.ndarray], origin: str = "state dict") -> None:
        """Copy tensors in by name; DataError naming the tensor if a name or shape does not match."""
        own = {**self.params, **self.buffers}
        check_state({name: tuple(target.shape) for name, target in own.items()}, state, origin)
        with self._torch.no_grad():
            for name, target in own.items():
                target.copy_(self._torch.from_numpy(np.array(state[name], dtype=self.dtype)))

    def save(self, path: str | os.PathLike) -> None:
        """Write params, buffers and the IR to an .npz checkpoint (the NumPy engine's layout), atomically."""
        write_checkpoint(path, self.state_dict(), self.ir)

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by save() of either engine; DataError if it does not fit."""
        tensors, _ = read_checkpoint(path)
        self.load_state_dict(tensors, origin=str(path))


def _class_indices(t: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """Targets given as class indices (N,) for outputs (N, C > 1), range-checked as netlang's losses check."""
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer) or len(shape) != 2 or shape[1] <= 1:
        return None
    if t.shape[0] != shape[0]:
        return None
    if len(t) and (t.min() < 0 or t.max() >= shape[1]):
        raise DataError(f"class index out of range 0..{shape[1] - 1}: found {t.min()}..{t.max()}")
    return t


def _host(tensor: Any) -> np.ndarray:
    return np.array(tensor.detach().cpu().numpy(), order="C", copy=True)


def _torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def build(
    ir: dict[str, Any],
    *,
    loss: str = "auto",
    init: str = "auto",
    dtype: str = "float32",
    seed: int | None = 0,
    device: str | Any = "cpu",
) -> TorchModel:
    """Turn a validated, shape-inferred IR dict into a TorchModel on `device` (a name or a torch.device), with
    the initial weights and dropout generator the NumPy engine's build() gives for the same arguments.

    SchemaError for a bad dtype, init or loss (as the NumPy engine), UsageError without torch or the device."""
    from netlang.backend import build as build_numpy

    torch = require_torch()
    reference = build_numpy(ir, loss=loss, init=init, dtype=dtype, seed=seed, passes=())
    device = device if isinstance(device, torch.device) else resolve_device(device)
    model = TorchModel(ir, reference.dtype, reference.loss_name, reference.rng, device)
    model.load_state_dict(reference.state_dict(), origin="the initial weights")
    return model
