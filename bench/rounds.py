"""Timing in alternating rounds, shared by the side-by-side benchmarks (torch_compare.py, engines.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

ROUND_STEPS = 5
# Idle thread-pool workers spin for a while after their last task (OpenBLAS's for about 0.1 s), taking the
# cores the other framework's next round needs: each round starts after this pause.
SETTLE_S = 0.3


def alternate_rounds(
    steppers: dict[str, Callable[[], None]], steps: int, warmup: int
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """(ms of every timed step of each stepper, each round's median ms of each stepper).

    Each stepper runs `warmup` untimed steps first; then they take turns in rounds of ROUND_STEPS timed steps,
    each round after a pause (SETTLE_S) and an untimed step that brings the stepper's data back into cache, so
    a burst of load from other processes skews one round, not the figure."""
    times: dict[str, list[float]] = {name: [] for name in steppers}
    rounds: list[dict[str, float]] = []
    for step in steppers.values():
        for _ in range(warmup):
            step()
    for _ in range(max(1, steps // ROUND_STEPS)):
        medians = {}
        for name, step in steppers.items():
            time.sleep(SETTLE_S)
            step()
            round_times = []
            for _ in range(ROUND_STEPS):
                start = time.perf_counter()
                step()
                round_times.append(1e3 * (time.perf_counter() - start))
            times[name] += round_times
            medians[name] = statistics.median(round_times)
        rounds.append(medians)
    return times, rounds
