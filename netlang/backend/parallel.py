"""Training steps shared out over threads: each thread runs one shard of the batch through its own copy of the
layers, with BLAS single-threaded meanwhile, and the shards' losses and gradients are averaged.

Why not leave the threads to BLAS: a convolution step is hundreds of small GEMMs with single-threaded NumPy
passes between them, and at each GEMM BLAS splits the data between the cores afresh, so what one core just
wrote the other reads. Sharding keeps each shard's data on one core, and the NumPy passes run in parallel
too. On DeepConvNet (batch 100, float32, two cores) a training step took about 50 ms sharded against 60-65 ms
with two BLAS threads; in the stretches when this shared machine is busy, the BLAS-threaded step rose to
115-130 ms while the sharded one stayed at about 50 (alternating runs in one process).

BLAS threads are read and limited with threadpoolctl. Without it, or with one BLAS thread, steps run unsharded.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from netlang.lazy import numpy as np

# A shard smaller than this gains less from its own thread than it loses to the split (small GEMMs).
MIN_SHARD = 32
MAX_SHARDS = 8

_blas: Any = None  # threadpoolctl's controller of the loaded BLAS libraries, once looked up
_pool: ThreadPoolExecutor | None = None


def _blas_controller() -> Any:
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency; an incomplete install runs serially
            _blas = False
        else:
            _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def blas_threads() -> int:
    """How many threads the loaded BLAS is set to use (1 if that cannot be found out)."""
    controller = _blas_controller()
    if not controller or not controller.lib_controllers:
        return 1
    return max(lib.num_threads for lib in controller.lib_controllers)


# A step (or inference batch) of fewer multiply-accumulates than this runs on one thread, unsharded and with BLAS
# single-threaded: handing its few small GEMMs between threads costs more than a second core gains. Measured with
# `netlang bench` on two cores, one thread against two: specs/two_layer.net (4 M MACs a step of 100) 0.4 against
# 0.7 ms, digits_convnet (2.6 M) 1.0 against 1.5, multilayer_bn (13 M) 4.9 against 7.0; LeNet-5 (42 M) gains
# from shards (16-21 ms against 23-38 unsharded on one thread, alternating in one process), and so do
# SimpleConvNet (87 M) and up.
MIN_PARALLEL_MACS = 20_000_000


def shard_count(batch: int, macs_per_sample: int | None = None) -> int:
    """How many shards a training step on `batch` examples is split into: one per BLAS thread, each at least
    MIN_SHARD examples; 1 for a step smaller than MIN_PARALLEL_MACS (see step_is_small)."""
    if step_is_small(batch, macs_per_sample):
        return 1
    return max(1, min(blas_threads(), batch // MIN_SHARD, MAX_SHARDS))


def step_is_small(batch: int, macs_per_sample: int | None) -> bool:
    """Whether a step on `batch` examples is too small to gain from more than one thread (MIN_PARALLEL_MACS)."""
    return macs_per_sample is not None and batch * macs_per_sample < MIN_PARALLEL_MACS


def single_threaded_blas() -> AbstractContextManager:
    """A context in which BLAS runs on the calling thread only."""
    controller = _blas_controller()
    return controller.limit(limits=1) if controller else nullcontext()


def run_in_threads(tasks: list) -> list:
    """Call every task (a function of no arguments) on its own thread; their results, in order.

    NumPy's floating-point error handling (np.errstate) is per thread: the caller's applies in the tasks too.
    """
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(MAX_SHARDS, thread_name_prefix="netlang-shard")
    errors = np.geterr()

    def under_callers_errstate(task):
        with np.errstate(**errors):
            return task()

    futures = [_pool.submit(under_callers_errstate, task) for task in tasks]
    errors = [error for error in (future.exception() for future in futures) if error is not None]
    if errors:  # a task that failed broke its partners' barriers (ShardSync): raise its error, not theirs
        raise next((error for error in errors if not isinstance(error, threading.BrokenBarrierError)), errors[0])
    return [future.result() for future in futures]


class ShardSync:
    """Totals over the shards of one training step, for a layer whose statistics are the whole batch's
    (batchnorm): each shard's copy of the layer hands in its part and gets the sum of all parts back.

    Every shard adds the parts up in the same order, so all get the same total. If one shard fails, abort()
    releases the others, which then raise threading.BrokenBarrierError instead of waiting for ever.
    """

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties)
        self._parts: list[Any] = [None] * parties

    def total(self, index: int, part: Any) -> Any:
        """The sum over all shards of `part` (this shard's, the index-th)."""
        self._parts[index] = part
        self._barrier.wait()
        total = self._parts[0]
        for other in self._parts[1:]:
            total = total + other
        self._barrier.wait()  # everyone has read the parts before any shard hands in its next one
        return total

    def abort(self) -> None:
        self._barrier.abort()
