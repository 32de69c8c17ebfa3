"""The refusal of a training step that would need more memory than the machine has, made before allocating."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from netlang.errors import TrainingError
from netlang.limits import MAX_MEMORY_VARIABLE, max_memory
from netlang.memory.forecast import training_forecast
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


def check_step_memory(ir: dict[str, Any], config: dict[str, Any], what: str = "training") -> dict[str, Any]:
    """The forecast of a training step of `ir` as `config` sets it up; TrainingError, located at the layer that
    holds the most, if it exceeds memory_limit()."""
    forecast = training_forecast(ir, config["batch_size"], config=config)
    limit, limit_text = memory_limit()
    if limit is not None and forecast["total"] > limit:
        layer = next((node for node in ir["layers"] if node["name"] == forecast["dominant"]), None)
        error = TrainingError(
            f"{what} at batch {forecast['batch']} needs about {size_text(forecast['total'])} for one step "
            f"({forecast['optimizer']}, float{8 * forecast['itemsize']}), but {limit_text}; "
            f"{dominant_text(forecast)}. Train with a smaller --batch-size or network, or set "
            f"{MAX_MEMORY_VARIABLE} to a larger number of bytes to allow it (`netlang summary --batch N` "
            "shows where the memory goes)"
        )
        raise error.at(layer.get("pos"), ir.get("source")) if layer is not None else error
    return forecast
