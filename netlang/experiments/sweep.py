"""Sweeps: networks trained once per variant, with the same seed and data, so that their learning curves differ
only by what was varied: training fields (the seeds' optimizer and initialiser comparisons), the network itself
(several specs: with and without batchnorm, dropout 0 and 0.15), or both (the seeds' batch-norm study: weight
scale x batchnorm)."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

from netlang.errors import UsageError
from netlang.experiments.training import SHARED_FIELDS, as_float, check_not_shared, train_variant
from netlang.language.trainfields import resolve_training
from netlang.train.loop import Split

# A variant "learns" when its final training accuracy is this far above always answering the commonest class.
LEARNED_MARGIN = 0.1


# `--set init=std:1:1e-4:log16`: 16 values from 1 down to 1e-4, evenly spaced in the exponent (numpy's logspace);
# `lin` for even steps. A word prefix such as `std:` is kept on every value.
SPACED = re.compile(
    r"^(?P<prefix>[A-Za-z_]+:)?(?P<low>[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?):(?P<high>[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
    r":(?P<scale>log|lin)(?P<count>[0-9]+)$"
)
MAX_SPACED = 1000


def expand_values(key: str, value: str) -> list[str]:
    """A --set value -> its values: `A,B,C` listed, `[PREFIX:]LOW:HIGH:logN` or `...:linN` spaced; UsageError."""
    match = SPACED.match(value.strip())
    if match is None:
        return [part.strip() for part in value.split(",") if part.strip()]
    try:
        low, high, count = float(match["low"]), float(match["high"]), int(match["count"])
    except ValueError:
        raise UsageError(f"--set {key}={value}: LOW and HIGH must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UsageError(f"--set {key}={value}: LOW and HIGH must be finite numbers")
    if not 2 <= count <= MAX_SPACED:
        raise UsageError(f"--set {key}={value}: the count after '{match['scale']}' must be 2 to {MAX_SPACED}")
    if match["scale"] == "log":
        if low <= 0 or high <= 0:
            raise UsageError(f"--set {key}={value}: a log spacing needs both ends above 0")
        numbers = [10 ** (math.log10(low) + (math.log10(high) - math.log10(low)) * i / (count - 1))
                   for i in range(count)]
    else:
        numbers = [low + (high - low) * i / (count - 1) for i in range(count)]
    return [f"{match['prefix'] or ''}{number:.4g}" for number in numbers]


def parse_settings(
    settings: list[str], need_swept: bool = True
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """--set entries -> (swept fields with their values, fixed fields); a value with several values is swept.

    `need_swept`: at least one field must vary (not so when several specs are the variants)."""
    swept: dict[str, list[str]] = {}
    fixed: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE or KEY=A,B,...; received '{setting}'")
        if key in swept or key in fixed:
            raise UsageError(f"--set: '{key}' is given twice")
        values = expand_values(key, value)
        if len(values) > 1:
            swept[key] = values
        else:
            fixed[key] = value.strip()
    if need_swept and not swept:
        raise UsageError(
            "nothing to sweep: give one field several values, e.g. --set optimizer=sgd,momentum,adam, "
            "or several specs"
        )
    check_not_shared(list(swept), "--set")
    return swept, fixed


def variants(swept: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the swept values, the first field varying slowest."""
    names = list(swept)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*swept.values())]


def label(values: dict[str, str]) -> str:
    """'optimizer=sgd' or 'optimizer=sgd init=he'."""
    return " ".join(f"{name}={value}" for name, value in values.items())


def spec_labels(specs: list[str]) -> list[str]:
    """How variants name their specs: the file stem, or the path where two stems are the same."""
    stems = ["stdin" if spec == "-" else Path(spec).stem for spec in specs]
    return [stem if stems.count(stem) == 1 else spec for stem, spec in zip(stems, specs, strict=True)]


def dimensions(specs: list[str], swept: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The sweep's axes, slowest first: {"name": "spec" or a field, "values": [...]}; specs only when several."""
    axes = [{"name": "spec", "values": spec_labels(specs)}] if len(specs) > 1 else []
    return axes + [{"name": name, "values": list(values)} for name, values in swept.items()]


def shared_base(
    irs: list[dict[str, Any]], labels: list[str], fixed: dict[str, str]
) -> dict[str, Any]:
    """The first spec's resolved config; UsageError if the specs would train on different data or splits."""
    configs = [resolve_training(ir, fixed) for ir in irs]
    for name in (*SHARED_FIELDS, "train_subset"):
        seen = {label: config[name] for label, config in zip(labels, configs, strict=True)}
        if len(set(map(repr, seen.values()))) > 1:
            found = ", ".join(f"{label}: {value!r}" for label, value in seen.items())
            raise UsageError(
                f"the specs set '{name}' differently ({found}); every variant must share it, so give it "
                f"for all with --set {name}=VALUE"
            )
    return configs[0]


def run_sweep(
    specs: list[tuple[str, dict[str, Any]]],
    fixed: dict[str, str],
    combinations: list[dict[str, str]],
    split: Split,
    on_variant: Any = None,
) -> list[dict[str, Any]]:
    """Train every (spec, combination) on `split`, the specs varying slowest; one curves record per variant.

    `specs` holds (label, IR) pairs; a spec's own train section applies, `fixed` and the combination over it.
    Each record: label, spec, values, config, step_loss (the training loss of every step), epochs (per epoch
    train_loss and train_acc, running means over the batches; train_eval_acc/loss, a pass over the training
    split in inference mode, and test_acc/loss, when the config's `measure` asks; val_loss, val_acc), seconds,
    error (None unless training diverged).
    """
    plans = [
        (spec_name, ir, values, resolve_training(ir, {**fixed, **values}))  # every error up front
        for spec_name, ir in specs for values in combinations
    ]
    curves = []
    for spec_name, ir, values, config in plans:
        outcome = train_variant(ir, config, split)
        words = ([spec_name] if len(specs) > 1 else []) + ([label(values)] if values else [])
        record = {
            "label": " ".join(words),
            "spec": spec_name,
            "values": values,
            "config": config,
            "step_loss": outcome.step_losses,
            "epochs": [
                {name: (epoch[name] if name == "epoch" else as_float(epoch.get(name))) for name in EPOCH_FIELDS}
                for epoch in outcome.history
            ],
            "seconds": round(outcome.seconds, 3),
            "error": outcome.error,
        }
        curves.append(record)
        if on_variant is not None:
            on_variant(record)
    return curves


EPOCH_FIELDS = (
    "epoch", "train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "val_loss", "val_acc", "test_loss",
    "test_acc",
)


def training_accuracy(epoch: dict[str, Any]) -> float | None:
    """An epoch's training accuracy: the inference-mode pass when it was measured, else the batches' mean."""
    measured = epoch.get("train_eval_acc")
    return measured if measured is not None else epoch.get("train_acc")


def chance_accuracy(labels: Any) -> float:
    """The accuracy of always answering the most common class: what a network that learns nothing reaches."""
    import numpy as np

    counts = np.bincount(np.asarray(labels).reshape(-1).astype(np.int64))
    return float(counts.max(initial=0)) / max(1, int(counts.sum()))


def learned(record: dict[str, Any], chance: float, margin: float = LEARNED_MARGIN) -> bool:
    """Whether a variant learned at all: its final training accuracy beats `chance` by `margin`."""
    final = training_accuracy(record["epochs"][-1]) if record["epochs"] else None
    return final is not None and final >= chance + margin


def smooth(values: list[float], window: int) -> list[float]:
    """Moving average over the last `window` values (fewer at the start), as the seeds smooth loss curves."""
    smoothed, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        smoothed.append(total / min(index + 1, window))
    return smoothed


def grid_axes(axes: list[dict[str, Any]]) -> tuple[int, int]:
    """(panel axis, line axis) of a two-axis sweep: one small plot per value of the axis with more values, one
    line style per value of the other, as the seeds' weight scale x batchnorm figure. On a tie the specs are
    the lines (with and without batchnorm on one plot), else the first axis makes the plots."""
    first, second = (len(axis["values"]) for axis in axes)
    if second > first or (second == first and axes[0]["name"] == "spec"):
        return 1, 0
    return 0, 1


def axis_value(record: dict[str, Any], name: str) -> str:
    """A variant's value on the axis `name` ("spec" or a swept field)."""
    return record["spec"] if name == "spec" else record["values"][name]
