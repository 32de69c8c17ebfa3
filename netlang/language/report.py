"""Reports of an inferred IR: the summary table (in the manner of Keras' model.summary()) and its JSON form."""

from __future__ import annotations

from typing import Any

from netlang.ops import OPS
from netlang.ops.base import layer_text


def op_text(layer: dict[str, Any]) -> str:
    """A layer's op with its arguments, as a spec would write it: 'conv 30 5x5 pad 1x1', 'pool max 2x2'."""
    text = layer_text(OPS[layer["op"]], layer["args"])
    return f"{text} (implicit)" if layer.get("implicit") else text


def summary_data(ir: dict[str, Any]) -> dict[str, Any]:
    """The report as plain data: `layers` (name, op, text, out_shape, params, macs, ...) and `totals`."""
    layers = [
        {
            "name": layer["name"],
            "op": layer["op"],
            "text": op_text(layer),
            "args": layer["args"],
            "in_shape": layer["in_shape"],
            "out_shape": layer["out_shape"],
            "params": layer["params"] + layer["non_trainable"],
            "trainable": layer["params"],
            "non_trainable": layer["non_trainable"],
            "macs": layer["macs"],
            "act_bytes": layer["act_bytes"],
            "implicit": bool(layer.get("implicit", False)),
        }
        for layer in ir["layers"]
    ]
    return {"source": ir.get("source"), "input": ir["input"]["shape"], "layers": layers, "totals": ir["totals"]}


def _shape_text(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _mib(count_bytes: int) -> str:
    return f"{count_bytes / 2**20:.2f} MiB"


def _millions(count: int) -> str:
    return f"{count / 1e6:.3g} M"


def summary_table(ir: dict[str, Any]) -> str:
    """The report as an aligned text table, then the totals."""
    data = summary_data(ir)
    header = ("Layer", "Op", "Output shape", "Params", "MACs")
    rows = [("input", "input " + "x".join(map(str, data["input"])), _shape_text(data["input"]), "0", "0")]
    rows += [
        (layer["name"], layer["text"], _shape_text(layer["out_shape"]), f"{layer['params']:,}", f"{layer['macs']:,}")
        for layer in data["layers"]
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True))
        right = "  ".join(cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True))
        return f"{left}  {right}"

    rule_width = len(line(header))
    totals = data["totals"]
    out = [f"Model: {data['source'] or '<spec>'}", "─" * rule_width, line(header), "═" * rule_width]
    out += [line(row) for row in rows]
    out.append("─" * rule_width)
    facts = [
        ("Total params", f"{totals['params']:,}", f"({_mib(totals['param_bytes'])} as float32)"),
        ("Trainable params", f"{totals['trainable']:,}", ""),
        ("Non-trainable params", f"{totals['non_trainable']:,}", ""),
        ("MACs per sample", f"{totals['macs']:,}", f"({_millions(totals['macs'])})"),
        ("Activation memory", f"{totals['act_bytes']:,}", f"bytes per sample ({_mib(totals['act_bytes'])} as float32)"),
    ]
    label_width = max(len(label) for label, _, _ in facts)
    value_width = max(len(value) for _, value, _ in facts)
    out += [f"{label + ':':<{label_width + 1}} {value:>{value_width}} {note}".rstrip() for label, value, note in facts]
    return "\n".join(out)
