"""The refusal of a training step that would need more memory than the machine has, made before allocating."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from netlang.errors import TrainingError
from netlang.limits import MAX_MEMORY_VARIABLE, max_memory
from netlang.memory.forecast import forecast_evaluation, training_forecast
from netlang.memory.report import dominant_text, size_text


def available_memory(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """Bytes of memory this machine can give a new allocation: MemAvailable of /proc/meminfo on Linux, else
    the free physical pages os.sysconf reports; None where neither can be read."""
    try:
        for line in Path(meminfo).read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit() -> tuple[int | None, str]:
    """(the bytes a training step may take, or None if unknown; that limit in words)."""
    configured = max_memory()
    if configured is not None:
        return configured, f"{MAX_MEMORY_VARIABLE} allows {size_text(configured)}"
    available = available_memory()
    return available, f"this machine has {size_text(available or 0)} available"


def check_step_memory(ir: dict[str, Any], config: dict[str, Any], itemsize: int = 4) -> dict[str, Any]:
    """The forecast of a training step of `ir` as `config` sets it up, in floats of `itemsize` bytes;
    TrainingError, located at the layer that holds the most, if it exceeds memory_limit()."""
    forecast = training_forecast(ir, config["batch_size"], config=config, itemsize=itemsize)
    _refuse_over_limit(ir, forecast, "training", "for one step", "Train with a smaller --batch-size or network")
    return forecast


def check_evaluation_memory(
    ir: dict[str, Any], config: dict[str, Any], eval_batch: int, trained: bool, what: str, itemsize: int = 4
) -> dict[str, Any]:
    """The forecast of evaluate() on `eval_batch` examples at once: after training at config's batch size
    (`trained`, as `train` evaluates after each epoch) or on a freshly built model (`eval`, `predict`); refused as
    check_step_memory() refuses."""
    forecast = forecast_evaluation(
        ir, config["batch_size"], eval_batch, config["optimizer"], config.get("loss") or "auto",
        itemsize=itemsize, weight_decay=config.get("weight_decay", 0.0), trained=trained,
    )
    advice = "Train a smaller network" if trained else "Use a smaller --batch-size or fewer inputs at once"
    _refuse_over_limit(ir, forecast, what, f"for a batch of {eval_batch} in inference", advice)
    return forecast


def _refuse_over_limit(ir: dict[str, Any], forecast: dict[str, Any], what: str, needs: str, advice: str) -> None:
    limit, limit_text = memory_limit()
    if limit is None or forecast["total"] <= limit:
        return
    layer = next((node for node in ir["layers"] if node["name"] == forecast["dominant"]), None)
    error = TrainingError(
        f"{what} needs about {size_text(forecast['total'])} {needs} ({forecast['optimizer']}, "
        f"float{8 * forecast['itemsize']}), but {limit_text}; {dominant_text(forecast)}. {advice}, or set "
        f"{MAX_MEMORY_VARIABLE} to a larger number of bytes to allow it (`netlang summary --batch N` shows where "
        "the memory goes)"
    )
    raise error.at(layer.get("pos"), ir.get("source")) if layer is not None else error
