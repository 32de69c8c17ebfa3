"""netlang's NumPy backend against PyTorch (CPU): training-step time and peak memory, side by side.

    python bench/torch_compare.py            # both nets, 2 threads, float32, batch 100
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)
    python bench/torch_compare.py --steps 40 --nets simple --threads 1
    python bench/torch_compare.py --nets all --busy     # every spec in specs/, beside a CPU-bound neighbour

Time: a step is forward + backward + an Adam update on a fixed random batch. netlang as it chooses, netlang on one
thread (unsharded, BLAS limited to one thread) and PyTorch are timed in alternating rounds of 5 steps (after
one untimed; WARMUP_STEPS untimed before the first) in this one process, so machine load hits all three
alike. Each time is the median over all its steps; each ratio is the median over rounds of the ratio of two
round medians: netlang/PyTorch, and netlang/(netlang on one thread), which should never be above 1.
--busy starts a CPU-bound neighbour process first and stops it at the end (also on Ctrl-C, an error or a
SIGTERM; it stops by itself if this script is killed outright).
Memory: each framework runs 3 steps of DeepConvNet in a fresh subprocess, which reports how far its resident
set size peaked above where it stood before the steps (model and data already built): Linux's VmHWM from
/proc/self/status, reset through /proc/self/clear_refs just before the steps, minus VmRSS then. (Not
ru_maxrss: a child inherits its parent's ru_maxrss across exec.) For NumPy the subprocess also reports
tracemalloc's peak of traced allocations during the steps.
PyTorch is only needed for this script; netlang never depends on it.
"""

from __future__ import annotations

import sys

from threads import threads_from_argv

THREADS = threads_from_argv()  # before NumPy and PyTorch load

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rounds import alternate_rounds  # noqa: E402

SPECS = Path(__file__).resolve().parents[1] / "specs"
NETS = {
    "simple": "simple_convnet.net",
    "deep": "deep_convnet.net",
    "resnet": "resnet.net",
    "inception": "inception.net",
    "densenet": "densenet.net",
}
# Any other spec of specs/ by its file name without .net ("--nets all": every one).
NETS.update({path.stem: path.name for path in sorted(SPECS.glob("*.net")) if path.name not in NETS.values()})
BATCH = 100
# Untimed steps of each stepper first: enough for netlang's ConcurrencyChooser (netlang/backend/parallel.py) to
# make its first choice (one untimed step each way, then three timed each way), as it does in the first few
# seconds of any training run.
WARMUP_STEPS = 10


def netlang_step_fn(net: str, one_thread: bool = False):
    """A closure running one netlang training step on a fixed batch; with `one_thread`, unsharded and with BLAS
    limited to one thread, as `OPENBLAS_NUM_THREADS=1` would run it (the bar netlang's own choice must meet)."""
    from netlang.backend import build
    from netlang.backend.parallel import single_threaded_blas
    from netlang.commands.gradcheck import random_targets
    from netlang.language.compiler import compile_ir
    from netlang.language.trainfields import resolve_training
    from netlang.train.optimizers import Adam

    ir = compile_ir(SPECS / NETS[net])
    model = build(ir, loss=resolve_training(ir)["loss"], dtype="float32", seed=0)
    x, t = fixed_batch(ir, model.loss_name, random_targets)
    optimizer = Adam(lr=1e-3)
    if one_thread:
        model.max_shards = 1

    def step() -> None:
        if one_thread:
            with single_threaded_blas():
                _, grads, _ = model.loss_and_gradients(x, t)
                optimizer.update(model.params, grads)
        else:
            _, grads, _ = model.loss_and_gradients(x, t)
            optimizer.update(model.params, grads)

    return step


def fixed_batch(ir, loss_name: str, random_targets):
    """The same random batch for both frameworks: inputs of the spec's shape, targets that suit its loss."""

    class Outputs:  # what random_targets asks of a model
        pass

    outputs = Outputs()
    outputs.loss_name = loss_name
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *ir["input"]["shape"])).astype(np.float32)
    return x, random_targets(outputs, (BATCH, *ir["layers"][-1]["out_shape"]), rng)


def torch_model(net: str):
    """The PyTorch network: SimpleConvNet and DeepConvNet written out; the graph examples lowered by netlang's
    torch target (netlang/targets/torch_modules.py), layer for layer, without the softmax (it is in the loss)."""
    import torch.nn as nn

    if net not in ("simple", "deep"):
        from netlang.language.compiler import compile_ir
        from netlang.targets.torch_modules import lower_network

        layers = compile_ir(SPECS / NETS[net])["layers"]
        fused = layers[-1]["op"] in ("softmax", "sigmoid")  # the loss applies it, as netlang's does
        return lower_network(layers[:-1] if fused else layers)
    if net == "simple":
        return nn.Sequential(
            nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10),
        )  # fmt: skip
    layers, channels = [], 1
    for filters, pad, pool in ((16, 1, False), (16, 1, True), (32, 1, False), (32, 2, True), (64, 1, False),
                               (64, 1, True)):  # fmt: skip
        layers += [nn.Conv2d(channels, filters, 3, padding=pad), nn.ReLU()]
        layers += [nn.MaxPool2d(2)] if pool else []
        channels = filters
    layers += [nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5)]
    return nn.Sequential(*layers)


def torch_step_fn(net: str):
    """A closure running one PyTorch training step on a fixed batch."""
    import torch

    from netlang.backend.model import resolve_loss
    from netlang.commands.gradcheck import random_targets
    from netlang.language.compiler import compile_ir
    from netlang.language.trainfields import resolve_training

    torch.set_num_threads(int(THREADS))
    torch.manual_seed(0)
    model = torch_model(net).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ir = compile_ir(SPECS / NETS[net])
    loss_name = resolve_loss(ir, resolve_training(ir)["loss"])
    x, t = (torch.from_numpy(array) for array in fixed_batch(ir, loss_name, random_targets))
    loss_fn = {
        "cross_entropy": torch.nn.CrossEntropyLoss(),
        "bce": torch.nn.BCEWithLogitsLoss(),
        "mse": lambda out, target: 0.5 * ((out - target) ** 2).sum() / len(out),
    }[loss_name]
    if loss_name == "bce":
        t = t.float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), t).backward()
        optimizer.step()

    return step


def time_side_by_side(net: str, steps: int) -> tuple[dict[str, float], dict[str, float]]:
    """(median ms per step of each stepper, median over rounds of the ratios of their round medians).

    netlang as it chooses, netlang on one thread and PyTorch take turns in rounds of rounds.ROUND_STEPS timed
    steps, each round after an untimed step that brings the stepper's data back into cache (as in a training
    loop, where steps follow each other). Each round's ratio compares medians taken a second apart, so a burst
    of load from other processes skews one round, not the figure. Ratios: "pytorch" is netlang/PyTorch,
    "one_thread" netlang/(netlang on one thread).
    """
    steppers = {
        "netlang": netlang_step_fn(net),
        "one_thread": netlang_step_fn(net, one_thread=True),
        "pytorch": torch_step_fn(net),
    }
    times, rounds = alternate_rounds(steppers, steps, WARMUP_STEPS)
    ratios = {name: [medians["netlang"] / medians[name] for medians in rounds] for name in ("pytorch", "one_thread")}
    return (
        {name: statistics.median(values) for name, values in times.items()},
        {name: statistics.median(values) for name, values in ratios.items()},
    )


def memory_status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB (Linux only)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_worker(framework: str, net: str) -> dict[str, float]:
    """Run in a fresh process: peak-RSS growth (and, for NumPy, tracemalloc peak) over 3 steps, in MB."""
    step = netlang_step_fn(net) if framework == "netlang" else torch_step_fn(net)
    before = memory_status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    if framework == "netlang":
        tracemalloc.start()
    for _ in range(3):
        step()
    result = {"rss_growth_mb": (memory_status_kb("VmHWM") - before) / 1024}
    if framework == "netlang":
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return result


def measure_memory(framework: str, net: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--memory-worker", framework, "--nets", net, "--threads", THREADS]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# The neighbour spins until its parent is gone, so that not even a kill -9 of this script leaves it running.
NEIGHBOUR = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


def blas_kernel() -> str:
    """NumPy's BLAS and the kernel it runs (OpenBLAS picks one for the CPU, or takes $OPENBLAS_CORETYPE's)."""
    from threadpoolctl import threadpool_info

    for library in threadpool_info():
        if library["user_api"] == "blas":
            return f"{library['internal_api']} {library.get('architecture') or ''}".strip()
    return "no BLAS found"


def start_neighbour() -> subprocess.Popen:
    """A CPU-bound process beside this one (the caller stops it; it also stops by itself when this one ends)."""
    return subprocess.Popen([sys.executable, "-c", NEIGHBOUR])


def main() -> None:
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # run the finally clauses
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per framework and net (30)")
    parser.add_argument("--nets", default="simple,deep,resnet",
                        help="comma-separated: simple, deep, resnet, inception, densenet, any spec's name, or all")
    parser.add_argument("--threads", default=THREADS, help="BLAS/PyTorch threads for both (2)")
    parser.add_argument("--busy", action="store_true",
                        help="run beside a CPU-bound neighbour process of this script's own (stopped at the end)")
    parser.add_argument("--memory-worker", choices=("netlang", "pytorch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    nets = list(NETS) if args.nets == "all" else args.nets.split(",")
    unknown = [net for net in nets if net not in NETS]
    if unknown:
        parser.error(f"unknown net {unknown[0]!r}; choose from {', '.join(NETS)} or all")
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, nets[0])))
        return

    import torch

    neighbour = start_neighbour() if args.busy else None
    try:
        busy = ", beside a CPU-bound neighbour" if neighbour else ""
        print(f"float32, batch {BATCH}, threads {THREADS}{busy}; numpy {np.__version__} ({blas_kernel()}), "
              f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})")
        print(f"{'net':<20} {'netlang':>9} {'1 thread':>9} {'pytorch':>9}   {'/pytorch':>8} {'/1 thread':>9}")
        print(f"{'':<20} {'ms/step':>9} {'ms/step':>9} {'ms/step':>9}   {'ratio':>8} {'ratio':>9}")
        for net in nets:
            ms, ratio = time_side_by_side(net, args.steps)
            print(f"{NETS[net].removesuffix('.net'):<20} {ms['netlang']:>9.2f} {ms['one_thread']:>9.2f} "
                  f"{ms['pytorch']:>9.2f}   {ratio['pytorch']:>8.2f} {ratio['one_thread']:>9.2f}", flush=True)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    if "deep" in nets:
        ours, theirs = measure_memory("netlang", "deep"), measure_memory("pytorch", "deep")
        print("DeepConvNet step memory (fresh process, 3 steps, RSS peak above the pre-step level):")
        print(f"  netlang {ours['rss_growth_mb']:.0f} MB (tracemalloc peak {ours['traced_peak_mb']:.0f} MB)")
        print(f"  pytorch {theirs['rss_growth_mb']:.0f} MB")


if __name__ == "__main__":
    main()
