"""Reports of an inferred IR: the summary table (in the manner of Keras' model.summary()) and its JSON form."""

from __future__ import annotations

from typing import Any

from netlang.ops import OPS
from netlang.ops.base import layer_text


def op_text(layer: dict[str, Any]) -> str:
    """A layer's op with its arguments, as a spec would write it: 'conv 30 5x5 pad 1x1', 'pool max 2x2'; a
    merge says how many branches it joins."""
    if OPS[layer["op"]].merge:
        return f"{layer['op']} ({len(layer['inputs'])} branches)"
    text = layer_text(OPS[layer["op"]], layer["args"])
    return f"{text} (implicit)" if layer.get("implicit") else text


def summary_data(ir: dict[str, Any]) -> dict[str, Any]:
    """The report as plain data: `layers` (name, op, text, inputs, shapes, params, macs, ...) and `totals`."""
    layers = []
    for layer in ir["layers"]:
        row = {
            "name": layer["name"],
            "op": layer["op"],
            "text": op_text(layer),
            "args": layer["args"],
            "inputs": layer["inputs"],
        }
        row.update({field: layer[field] for field in ("in_shape", "in_shapes") if field in layer})
        row.update({
            "out_shape": layer["out_shape"],
            "params": layer["params"] + layer["non_trainable"],
            "trainable": layer["params"],
            "non_trainable": layer["non_trainable"],
            "macs": layer["macs"],
            "act_bytes": layer["act_bytes"],
            "implicit": bool(layer.get("implicit", False)),
            "scope": layer.get("scope", []),
        })
        layers.append(row)
    return {"source": ir.get("source"), "input": ir["input"]["shape"], "layers": layers, "totals": ir["totals"]}


def is_chain(ir: dict[str, Any]) -> bool:
    """Whether every layer reads the one before it (the first: the input)."""
    previous = "input"
    for layer in ir["layers"]:
        if layer["inputs"] != [previous]:
            return False
        previous = layer["name"]
    return True


def fold_layers(layers: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """The report's layers with every group or block use nested deeper than `depth` folded into one row (with
    `group`, the `scope` it sits in and the `layer_count` it stands for); rows read folded rows' names."""
    rows: list[dict[str, Any]] = []
    members: dict[str, list[dict[str, Any]]] = {}
    for layer in layers:
        scope = layer["scope"]
        if len(scope) <= depth:
            rows.append({**layer, "depth": len(scope)})
            continue
        group = scope[depth]
        if group not in members:
            members[group] = []
            rows.append({"name": group, "group": True, "depth": depth})
        members[group].append(layer)
    folded_into = {layer["name"]: group for group, inside in members.items() for layer in inside}
    for row in rows:
        if row.get("group"):
            inside = members[row["name"]]
            names = {layer["name"] for layer in inside}
            row.update({
                "text": f"({len(inside)} layer{'s' if len(inside) != 1 else ''})",
                "scope": inside[0]["scope"][:depth],
                "layer_count": len(inside),
                "inputs": list(dict.fromkeys(
                    folded_into.get(n, n) for layer in inside for n in layer["inputs"] if n not in names
                )),
                "out_shape": inside[-1]["out_shape"],
                "params": sum(layer["params"] for layer in inside),
                "macs": sum(layer["macs"] for layer in inside),
            })
        else:
            row["inputs"] = [folded_into.get(name, name) for name in row["inputs"]]
    return rows


def _shape_text(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _mib(count_bytes: int) -> str:
    return f"{count_bytes / 2**20:.2f} MiB"


def _millions(count: int) -> str:
    return f"{count / 1e6:.3g} M"


def summary_table(ir: dict[str, Any], depth: int | None = None) -> str:
    """The report as an aligned text table, then the totals. A graph's table indents the layers of each group
    and block use, and says what each layer reads (Connected to); `depth` folds the groups nested deeper than
    it into one row each, with their totals."""
    data = summary_data(ir)
    graph = not is_chain(ir)
    layers = fold_layers(data["layers"], depth if depth is not None else 1 << 30)
    header = ("Layer", "Op", "Output shape", "Params", "MACs") + (("Connected to",) if graph else ())
    rows = [("input", "input " + "x".join(map(str, data["input"])), _shape_text(data["input"]), "0", "0")]
    for layer in layers:
        row = (
            "  " * layer["depth"] * graph + layer["name"], layer["text"], _shape_text(layer["out_shape"]),
            f"{layer['params']:,}", f"{layer['macs']:,}",
        )
        rows.append(row + ((", ".join(layer["inputs"]),) if graph else ()))
    if graph:
        rows[0] = rows[0] + ("",)
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True))
        right = "  ".join(cell.rjust(width) for cell, width in zip(row[3:5], widths[3:5], strict=True))
        connected = f"  {row[5]}" if len(row) > 5 else ""
        return f"{left}  {right}{connected}".rstrip()

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
