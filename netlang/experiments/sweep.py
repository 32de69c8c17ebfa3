"""Sweeps: the same network trained once per variant of some training fields, with the same seed and data,
so that their learning curves differ only by what was varied (the seeds' optimizer and initialiser
comparisons)."""

from __future__ import annotations

import itertools
from typing import Any

from netlang.errors import UsageError
from netlang.experiments.training import as_float, check_not_shared, train_variant
from netlang.language.trainfields import resolve_training
from netlang.train.loop import Split


def parse_settings(settings: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """--set entries -> (swept fields with their values, fixed fields); a value with commas is swept."""
    swept: dict[str, list[str]] = {}
    fixed: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE or KEY=A,B,...; received '{setting}'")
        if key in swept or key in fixed:
            raise UsageError(f"--set: '{key}' is given twice")
        values = [part.strip() for part in value.split(",") if part.strip()]
        if len(values) > 1:
            swept[key] = values
        else:
            fixed[key] = value.strip()
    if not swept:
        raise UsageError("nothing to sweep: give one field several values, e.g. --set optimizer=sgd,momentum,adam")
    check_not_shared(list(swept), "--set")
    return swept, fixed


def variants(swept: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the swept values, the first field varying slowest."""
    names = list(swept)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*swept.values())]


def label(values: dict[str, str]) -> str:
    """'optimizer=sgd' or 'optimizer=sgd init=he'."""
    return " ".join(f"{name}={value}" for name, value in values.items())


def run_sweep(
    ir: dict[str, Any],
    fixed: dict[str, str],
    combinations: list[dict[str, str]],
    split: Split,
    on_variant: Any = None,
) -> list[dict[str, Any]]:
    """Train every combination on `split`; one curves record per variant (JSON-able).

    Each record: label, values, config, step_loss (the training loss of every step), epochs (per-epoch
    train_loss, val_loss, val_acc), seconds, error (None unless training diverged).
    """
    configs = [resolve_training(ir, {**fixed, **values}) for values in combinations]  # every error up front
    curves = []
    for values, config in zip(combinations, configs, strict=True):
        outcome = train_variant(ir, config, split)
        record = {
            "label": label(values),
            "values": values,
            "config": config,
            "step_loss": outcome.step_losses,
            "epochs": [
                {
                    "epoch": epoch["epoch"],
                    "train_loss": as_float(epoch["train_loss"]),
                    "val_loss": as_float(epoch["val_loss"]),
                    "val_acc": as_float(epoch["val_acc"]),
                }
                for epoch in outcome.history
            ],
            "seconds": round(outcome.seconds, 3),
            "error": outcome.error,
        }
        curves.append(record)
        if on_variant is not None:
            on_variant(record)
    return curves


def smooth(values: list[float], window: int) -> list[float]:
    """Moving average over the last `window` values (fewer at the start), as the seeds smooth loss curves."""
    smoothed, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        smoothed.append(total / min(index + 1, window))
    return smoothed
