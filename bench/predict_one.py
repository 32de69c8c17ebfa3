"""Inference on one image (batch 1): netlang's model.predict against PyTorch's eager forward, on every spec.

    python bench/predict_one.py                    # every spec in specs/
    python bench/predict_one.py --nets simple,resnet --calls 500
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

netlang: model.predict(x) on a (1, ...) array, as `netlang predict` calls it (outputs after the final softmax or
sigmoid). PyTorch: the same network (torch_compare.torch_model: written out or lowered by netlang's torch
target) in eval mode under torch.inference_mode(), plus the final softmax/sigmoid. Both run in this process in
alternating rounds of 50 calls (after 20 untimed); each figure is the median call, the ratio the median of the
rounds' ratios. Default threads (2); at batch 1 both frameworks stay on one thread in practice.
"""

from __future__ import annotations

from threads import threads_from_argv

THREADS = threads_from_argv()  # before NumPy and PyTorch load

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from torch_compare import NETS, SPECS, torch_model  # noqa: E402

ROUND_CALLS = 50


def netlang_call(net: str, x: np.ndarray):
    from netlang.backend import build
    from netlang.language.compiler import compile_ir

    model = build(compile_ir(SPECS / NETS[net]), seed=0)
    return lambda: model.predict(x)


def torch_call(net: str, x: np.ndarray):
    import torch

    from netlang.language.compiler import compile_ir

    torch.set_num_threads(int(THREADS))
    last = compile_ir(SPECS / NETS[net])["layers"][-1]["op"]
    model = torch_model(net).eval()
    final = {"softmax": lambda out: torch.softmax(out, 1), "sigmoid": torch.sigmoid}.get(last, lambda out: out)
    tensor = torch.from_numpy(x)

    def call():
        with torch.inference_mode():
            return final(model(tensor)).numpy()

    return call


def time_calls(net: str, calls: int) -> tuple[dict[str, float], float]:
    from netlang.language.compiler import compile_ir

    shape = compile_ir(SPECS / NETS[net])["input"]["shape"]
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    callers = {"netlang": netlang_call(net, x), "pytorch": torch_call(net, x)}
    times: dict[str, list[float]] = {name: [] for name in callers}
    ratios = []
    for call in callers.values():
        for _ in range(20):
            call()
    for _ in range(max(1, calls // ROUND_CALLS)):
        medians = {}
        for name, call in callers.items():
            round_times = []
            for _ in range(ROUND_CALLS):
                start = time.perf_counter()
                call()
                round_times.append(1e6 * (time.perf_counter() - start))
            times[name] += round_times
            medians[name] = statistics.median(round_times)
        ratios.append(medians["netlang"] / medians["pytorch"])
    return {name: statistics.median(values) for name, values in times.items()}, statistics.median(ratios)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per framework and net (300)")
    parser.add_argument("--nets", default="all", help="comma-separated names as in torch_compare.py, or all")
    parser.add_argument("--threads", default=THREADS, help="BLAS/PyTorch threads for both (2)")
    args = parser.parse_args()
    nets = list(NETS) if args.nets == "all" else args.nets.split(",")
    unknown = [net for net in nets if net not in NETS]
    if unknown:
        parser.error(f"unknown net {unknown[0]!r}; choose from {', '.join(NETS)} or all")
    print(f"batch 1, float32, threads {THREADS}; numpy {np.__version__}, torch {torch.__version__}")
    print(f"{'net':<20} {'netlang us':>11} {'pytorch us':>11} {'ratio':>7}")
    for net in nets:
        us, ratio = time_calls(net, args.calls)
        print(f"{NETS[net].removesuffix('.net'):<20} {us['netlang']:>11.0f} {us['pytorch']:>11.0f} {ratio:>7.2f}",
              flush=True)


if __name__ == "__main__":
    main()
