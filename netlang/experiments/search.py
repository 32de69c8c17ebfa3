"""Random hyperparameter search: trials drawn from ranges, trained briefly, scored on the validation split.

Trial k's values depend only on (search seed, k) (see ranges.sample_trial), and every finished trial is one
line of the results file, so an interrupted search resumes by reading that file and running only the
trials it lacks. Trials may run in parallel worker processes; only the parent writes the results file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netlang.errors import DataError, UsageError
from netlang.experiments.ranges import Range, sample_trial
from netlang.experiments.training import as_float, check_not_shared, train_variant
from netlang.language.trainfields import resolve_training
from netlang.train.loop import Split

RESULTS_FILE = "trials.jsonl"
SETTINGS_FILE = "search.json"
# Set to 1 in the worker processes of a parallel search: each worker is one busy process already, and
# BLAS libraries that each start a thread per core would oversubscribe the machine.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass
class SearchPlan:
    """Everything that decides what the trials are: a resumed search must have the same plan."""

    spec: str
    ranges: list[Range]
    overrides: dict[str, str] = field(default_factory=dict)  # fixed fields (--set)
    search_seed: int = 0
    epochs: int = 3
    train_subset: int | None = None
    val_subset: int | None = None

    def settings(self) -> dict[str, Any]:
        """The plan as JSON-able data (search.json)."""
        return {
            "spec": self.spec,
            "ranges": [searched.text() for searched in self.ranges],
            "overrides": self.overrides,
            "search_seed": self.search_seed,
            "epochs": self.epochs,
            "train_subset": self.train_subset,
            "val_subset": self.val_subset,
        }

    def check(self) -> None:
        """UsageError for a plan whose trials could not be compared fairly."""
        names = [searched.name for searched in self.ranges]
        check_not_shared(names, "--range")
        for name in names:
            if name in self.overrides:
                raise UsageError(f"'{name}' is both searched (--range) and fixed (--set); keep one")
            if name == "epochs":
                raise UsageError("--range: the epochs of a trial are set by --epochs, not searched")


def trial_values(plan: SearchPlan, trial: int) -> dict[str, str]:
    """The sampled field texts of trial `trial` (0-based)."""
    return sample_trial(plan.ranges, plan.search_seed, trial)


def trial_config(ir: dict[str, Any], plan: SearchPlan, values: dict[str, str]) -> dict[str, Any]:
    """The training config a trial runs: spec, then --set, then the sampled values, with the trial epochs."""
    return resolve_training(ir, {**plan.overrides, **values, "epochs": str(plan.epochs)})


def run_trial(ir: dict[str, Any], plan: SearchPlan, split: Split, trial: int) -> dict[str, Any]:
    """Train trial `trial` and return its results-file record (top-level so worker processes can run it)."""
    values = trial_values(plan, trial)
    config = trial_config(ir, plan, values)
    outcome = train_variant(ir, config, split)
    final = outcome.final
    return {
        "trial": trial,
        "values": values,
        "seed": config["seed"],
        "val_acc": as_float(final.get("val_acc")) if outcome.error is None else None,
        "val_loss": as_float(final.get("val_loss")) if outcome.error is None else None,
        "train_loss": as_float(final.get("train_loss")),
        "epochs": len(outcome.history),
        "seconds": round(outcome.seconds, 3),
        "error": outcome.error,
        "val_acc_per_epoch": [as_float(record.get("val_acc")) for record in outcome.history],
    }


# -- the results file -------------------------------------------------------------------------------------


def read_results(path: Path) -> dict[int, dict[str, Any]]:
    """Trial index -> record from a results file; a last line cut short by an interrupt is ignored."""
    if not path.is_file():
        return {}
    records: dict[int, dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[int(record["trial"])] = record
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                break
            raise DataError(f"{path}:{number}: not a trial record; expected one JSON object per line") from None
    return records


def drop_partial_line(path: Path) -> None:
    """Cut a last line left unfinished by a crash, so the next record starts on a line of its own."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def append_result(path: Path, record: dict[str, Any]) -> None:
    """Add one trial's line to the results file, flushed to disk before the next trial is counted done."""
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def check_resumable(out_dir: Path, plan: SearchPlan) -> None:
    """Record the plan in OUT/search.json, or check that an earlier search there had the same one."""
    settings_path = out_dir / SETTINGS_FILE
    wanted = plan.settings()
    if settings_path.is_file():
        try:
            saved = json.loads(settings_path.read_text(encoding="utf-8"))
        except ValueError:
            raise DataError(f"{settings_path}: not valid JSON; remove it or choose another --out") from None
        changed = [key for key in wanted if saved.get(key) != wanted[key]]
        if changed:
            key = changed[0]
            raise UsageError(
                f"{out_dir} holds a search with other settings ({key}: was {saved.get(key)!r}, now "
                f"{wanted[key]!r}); resuming it would mix incomparable trials. Choose another --out"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_path.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")


# -- running ----------------------------------------------------------------------------------------------


def run_search(
    ir: dict[str, Any],
    plan: SearchPlan,
    split: Split,
    trials: int,
    out_dir: Path,
    jobs: int = 1,
    on_record: Callable[[dict[str, Any], int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the trials 0..trials-1 that OUT's results file lacks; return every record, finished ones included.

    on_record(record, done) is called in the parent as each trial finishes (done: trials finished so far).
    """
    results_path = out_dir / RESULTS_FILE
    check_resumable(out_dir, plan)
    records = read_results(results_path)
    drop_partial_line(results_path)
    pending = [trial for trial in range(trials) if trial not in records]

    def finished(record: dict[str, Any]) -> None:
        append_result(results_path, record)
        records[record["trial"]] = record
        if on_record is not None:
            on_record(record, len([t for t in records if t < trials]))

    if jobs <= 1 or len(pending) <= 1:
        for trial in pending:
            finished(run_trial(ir, plan, split, trial))
    else:
        _run_parallel(ir, plan, split, pending, jobs, finished)
    return [records[trial] for trial in range(trials) if trial in records]


def _run_parallel(
    ir: dict[str, Any],
    plan: SearchPlan,
    split: Split,
    pending: list[int],
    jobs: int,
    finished: Callable[[dict[str, Any]], None],
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # "spawn", not "fork": a fresh interpreter reads the thread variables when NumPy loads its BLAS.
    context = multiprocessing.get_context("spawn")
    with single_threaded_workers(), ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        waiting = {pool.submit(run_trial, ir, plan, split, trial) for trial in pending}
        try:
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(future.result())
        except BaseException:
            for future in waiting:
                future.cancel()
            raise


@contextmanager
def single_threaded_workers() -> Iterator[None]:
    """Set THREAD_VARIABLES to 1 while worker processes start (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- reading the results ----------------------------------------------------------------------------------


def ranked(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: higher validation accuracy, then lower validation loss, then earlier trial; failures last."""

    def key(record: dict[str, Any]) -> tuple:
        accuracy, loss = record.get("val_acc"), record.get("val_loss")
        failed = accuracy is None
        return (failed, -(accuracy or 0.0), float("inf") if loss is None else loss, record["trial"])

    return sorted(records, key=key)


def best_config(ir: dict[str, Any], plan: SearchPlan, record: dict[str, Any]) -> dict[str, Any]:
    """The full training config of a trial, with the spec's own epochs (a trial's are only for the search)."""
    return resolve_training(ir, {**plan.overrides, **record["values"]})
