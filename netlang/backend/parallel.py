"""How a step uses the cores, decided here and nowhere else: how many shards a batch is split into (fixed by the
work, so that the numbers a step gives never depend on the machine's load), and how many of those shards run at
once (chosen from the measured time of steps, so that a busy machine never makes netlang slower than one thread).

Shards. A training step (or an inference batch) of enough work is split into shards; each runs on a thread of its
own through its own copy of the layers, BLAS single-threaded, and the shards' losses and gradients are averaged
(batchnorm layers combine their statistics across shards exactly, ShardSync). Why not leave the threads to BLAS:
a convolution step is hundreds of small GEMMs with single-threaded NumPy passes between them, and at each GEMM
BLAS splits the data between the cores afresh, so what one core just wrote the other reads; its idle threads also
spin, against each other and against any neighbour (a batchnorm MLP took 206 ms a step with two BLAS threads
beside other work against 12 ms on one). Sharding keeps each shard's data on one core, and the NumPy passes run in
parallel too. So BLAS runs on one thread during every step, sharded or not, and all the parallelism is shards.

shard_count() reads the work only: the multiply-accumulates of the step (MIN_PARALLEL_MACS), the batch
(MIN_SHARD examples per shard) and the BLAS thread setting, which is the user's limit on threads
(OPENBLAS_NUM_THREADS=1 gives one shard). The same spec, batch and setting always give the same shards, and so
the same results to the last bit: a resumed run continues bit for bit whatever the load was.

Concurrency. Whether the shards run side by side or one after another (ConcurrencyChooser) changes nothing in the
results, only the time: with every shard on its own single-threaded BLAS, running them in turn computes exactly
what running them at once does. The chooser times steps both ways, alternating, keeps the faster, and checks
again every RECHECK_EVERY steps, or sooner when steps get SLOWDOWN times slower than when it chose (a neighbour
started). On a quiet machine shards run at once; beside a CPU-bound neighbour they may be faster in turn, since a
shard that loses its core holds up the others at every batchnorm and at the end of the step. The load average
would not do: it misses work in other virtual machines on the same host, and says nothing about which is faster.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """A context in which BLAS runs on the calling thread only; the thread setting is restored after it.

    It calls the BLAS libraries' own setters through threadpoolctl's per-library controllers: 2 microseconds,
    where threadpoolctl's limit() takes about 35 (a tenth of a step of a small network).
    """
    controller = _blas_controller()
    libraries = controller.lib_controllers if controller else []
    before = [library.num_threads for library in libraries]
    for library, threads in zip(libraries, before, strict=True):
        if threads != 1:
            library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in zip(libraries, before, strict=True):
            if threads != 1:
                library.set_num_threads(threads)


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

    Every shard adds the parts up in shard order, so all get the same total (the one that Model's lockstep, which
    runs the shards in turn on one thread, gets too). Shards wait for each other once per total: successive
    totals keep their parts in alternate lists, and a shard cannot hand in a part two totals ahead of a partner
    still reading, because the next total's wait holds it. If one shard fails, abort() releases the others,
    which then raise threading.BrokenBarrierError instead of waiting for ever.
    """

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties)
        self._parts: tuple[list[Any], list[Any]] = ([None] * parties, [None] * parties)
        self._calls = [0] * parties  # per shard, how many totals it has asked for

    def total(self, index: int, part: Any) -> Any:
        """The sum over all shards of `part` (this shard's, the index-th)."""
        parts = self._parts[self._calls[index] % 2]
        self._calls[index] += 1
        parts[index] = part
        self._barrier.wait()
        total = parts[0]
        for other in parts[1:]:
            total = total + other
        return total

    def abort(self) -> None:
        self._barrier.abort()


class ConcurrencyChooser:
    """How many of a step's `shards` run at once: all of them or one, whichever the timed steps say is faster.

    next() gives the concurrency for the coming step, record() takes its time per example. It alternates the
    two until each has PROBE_STEPS timed steps (the first step of each is not timed: it allocates), keeps the
    one with the lower median, and probes again after RECHECK_EVERY steps, or once steps have got SLOWDOWN times
    slower than the median it chose by (see SLOWDOWN_WINDOW). Either choice computes the same numbers.
    """

    PROBE_STEPS = 3
    RECHECK_EVERY = 64
    # A slowdown counts when the median of the last SLOWDOWN_WINDOW steps is SLOWDOWN times the chosen median, and
    # no sooner than SETTLE_STEPS after the choice: on a machine whose load jumps about, step times scatter by
    # tens of percent, and every probe spends steps on the slower way.
    SLOWDOWN = 1.5
    SLOWDOWN_WINDOW = 5
    SETTLE_STEPS = 16

    def __init__(self, shards: int) -> None:
        self.candidates = (shards, 1) if shards > 1 else (1,)
        self._warm: set[int] = set()
        self._probes: dict[int, list[float]] = {c: [] for c in self.candidates}
        self.choice: int | None = None if len(self.candidates) > 1 else 1
        self._chosen_by = 0.0  # the median time per example the choice was made by
        self._since = 0  # steps since the choice
        self._recent: list[float] = []
        self.history: list[int] = []  # the concurrencies chosen so far, in order (for tests and benchmarks)

    @classmethod
    def fixed(cls, shards: int, concurrency: int) -> ConcurrencyChooser:
        """A chooser that always says `concurrency` (tests and benchmarks compare the two ways with it)."""
        chooser = cls(shards)
        chooser.candidates, chooser.choice = (concurrency,), concurrency
        return chooser

    def next(self) -> int:
        """The concurrency to run the next step with."""
        if self.choice is not None:
            return self.choice
        # probing: the candidate with the fewest timed steps, the first one on ties
        return min(self.candidates, key=lambda c: (len(self._probes[c]) + (c in self._warm), self.candidates.index(c)))

    def record(self, concurrency: int, seconds_per_example: float) -> None:
        """Take the time of a step run with `concurrency` (as next() said)."""
        if len(self.candidates) == 1:
            return
        if concurrency not in self._warm:
            self._warm.add(concurrency)
            return
        if self.choice is None:
            self._probes[concurrency].append(seconds_per_example)
            if all(len(times) >= self.PROBE_STEPS for times in self._probes.values()):
                medians = {c: statistics.median(times) for c, times in self._probes.items()}
                self.choice = min(self.candidates, key=lambda c: (medians[c], self.candidates.index(c)))
                self._chosen_by, self._since, self._recent = medians[self.choice], 0, []
                self.history.append(self.choice)
            return
        self._since += 1
        self._recent = [*self._recent[1 - self.SLOWDOWN_WINDOW :], seconds_per_example]
        slower = (
            self._since >= self.SETTLE_STEPS and len(self._recent) == self.SLOWDOWN_WINDOW
            and statistics.median(self._recent) > self.SLOWDOWN * self._chosen_by
        )
        if slower or self._since >= self.RECHECK_EVERY:
            self.choice = None
            self._probes = {c: [] for c in self.candidates}


def timed(chooser: ConcurrencyChooser, examples: int, run: Callable[[int], Any]) -> Any:
    """run(concurrency) with the concurrency `chooser` gives, its time per example recorded; run's result."""
    concurrency = chooser.next()
    start = time.perf_counter()
    result = run(concurrency)
    chooser.record(concurrency, (time.perf_counter() - start) / max(examples, 1))
    return result
