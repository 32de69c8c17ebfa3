"""The memory part of `netlang summary --batch N`: the forecast as text, and what `train` says when it refuses."""

from __future__ import annotations

from typing import Any

from netlang.memory.arrays import KINDS

SHORT = {"parameters": "Params", "gradients": "Grads", "optimizer state": "Optimizer", "activations": "Activations",
         "work buffers": "Work", "batch": "Batch"}


def size_text(count_bytes: int) -> str:
    """Bytes in the unit that reads best: 512 B, 3.25 KiB, 36.36 MiB, 1.50 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count_bytes >= scale:
            return f"{count_bytes / scale:.2f} {unit}"
    return f"{count_bytes} B"


def memory_table(forecast: dict[str, Any]) -> str:
    """The forecast as a heading line, the bytes by kind, and one row per layer holding memory at the peak."""
    shards = forecast["shards"]
    split = f"{shards} shards on threads" if shards > 1 else "one thread"
    lines = [
        f"Training step memory at batch {forecast['batch']}: {size_text(forecast['total'])} "
        f"({forecast['total']:,} bytes; {forecast['optimizer']}, {forecast['loss']} loss, "
        f"float{8 * forecast['itemsize']}, {split})",
        "  " + ", ".join(f"{kind} {size_text(nbytes)}" for kind, nbytes in forecast["by_kind"].items() if nbytes),
    ]
    kinds = [kind for kind in KINDS if forecast["by_kind"].get(kind)]
    header = ("Layer", "At peak", *(SHORT[kind] for kind in kinds))
    rows = [
        (row["name"], size_text(row["bytes"]), *(size_text(row["by_kind"][kind]) if row["by_kind"].get(kind) else "-"
                                                 for kind in kinds))
        for row in forecast["layers"]
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([row[0].ljust(widths[0]), *cells])

    lines += [line(header), "─" * len(line(header))]
    lines += [line(row) for row in rows]
    dominant = next(row for row in forecast["layers"] if row["name"] == forecast["dominant"])
    share = 100 * dominant["bytes"] / forecast["total"] if forecast["total"] else 0
    lines.append(f"Largest: {dominant['name']} ({size_text(dominant['bytes'])}, {share:.0f}% of the peak)")
    return "\n".join(lines)


def dominant_text(forecast: dict[str, Any]) -> str:
    """'layer conv2 holds 1.20 GiB of it (activations 800.00 MiB, work buffers 400.00 MiB)'."""
    row = next(row for row in forecast["layers"] if row["name"] == forecast["dominant"])
    kinds = sorted(row["by_kind"].items(), key=lambda item: -item[1])[:2]
    what = ", ".join(f"{kind} {size_text(nbytes)}" for kind, nbytes in kinds)
    name = row["name"]
    holder = "the batch" if name == "batch" else "the loss" if name == "loss" else f"layer '{name}'"
    return f"{holder} holds {size_text(row['bytes'])} of it ({what})"
