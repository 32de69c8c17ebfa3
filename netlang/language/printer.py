"""IR -> spec text: the canonical spec of a network, which compiles back to the same IR (names included).

The layers are written in IR order, one top-level stage per line. The groups the IR records in each layer's
`scope` come back as groups: a named group or block use as `name: ( ... )`, a branch group as `( a + b )` or
`( a | b )` with its branches split at the merge layer's inputs (a branch that is the group's input is
`identity`). A layer whose name is not the one netlang would give it gets its name as a label. Implicit
flattens are left out: compiling puts them back.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from netlang.errors import SchemaError
from netlang.ops import OPS
from netlang.ops.base import NETWORK_INPUT, layer_text

_JOINS = {"add": " + ", "concat": " | "}


def to_spec_text(ir: dict[str, Any]) -> str:
    """A shape-inferred IR as spec text; SchemaError for a graph whose branches its layers' scopes do not mark."""
    printer = _Printer([layer for layer in ir["layers"] if not layer.get("implicit")], ir)
    stages = printer.stages(printer.layers, depth=0, prefix="", source=NETWORK_INPUT)
    lines = [f"# {ir['source']}, written back by netlang compile"] if ir.get("source") else []
    lines.append("input " + "x".join(map(str, ir["input"]["shape"])))
    # Successive lines continue the network: each group starts a line, and the layers after it follow on it.
    line: list[str] = []
    for stage, is_group in stages:
        if line and is_group:
            lines.append(" -> ".join(line))
            line = []
        line.append(stage)
    lines.append(" -> ".join(line))
    for section in ("train", "search"):
        if ir.get(section):
            lines.append(f"{section} {{")
            lines += [f"  {key} {_value_text(entry['value'])}" for key, entry in ir[section].items()]
            lines.append("}")
    return "\n".join(lines) + "\n"


class _Printer:
    def __init__(self, layers: list[dict[str, Any]], ir: dict[str, Any]) -> None:
        self.layers = layers
        self.ir = ir
        self.counters: Counter[str] = Counter()  # as lowering numbers unnamed layers, in the same order

    def stages(self, layers: list[dict[str, Any]], depth: int, prefix: str, source: str) -> list[tuple[str, bool]]:
        """The stages of a pipeline of `layers` (all in the same groups down to `depth`) reading `source`, each
        with whether it is a group."""
        stages: list[tuple[str, bool]] = []
        index = 0
        while index < len(layers):
            layer = layers[index]
            scope = layer.get("scope", [])
            if len(scope) <= depth:
                stages.append((self.layer(layer, prefix), False))
                source = layer["name"]
                index += 1
                continue
            group = scope[depth]
            end = index
            while end < len(layers) and len(layers[end].get("scope", [])) > depth and (
                    layers[end]["scope"][depth] == group):
                end += 1
            members = layers[index:end]
            stages.append((self.group(group, members, depth + 1, prefix, source), True))
            source = members[-1]["name"]
            index = end
        return stages

    def group(self, group: str, members: list[dict[str, Any]], depth: int, prefix: str, source: str) -> str:
        last = members[-1]
        if last["name"] == group and OPS[last["op"]].merge:  # an unnamed branch group, known by its merge
            return self.branches(last, members[:-1], depth, prefix, source)
        if not group.startswith(prefix):
            raise SchemaError(f"the group '{group}' is not named within '{prefix.rstrip('.')}'")
        label = group[len(prefix):]
        inner = self.stages(members, depth, f"{group}.", source)
        body = " -> ".join(text for text, _ in inner)
        if len(inner) == 1 and inner[0][1] and body.startswith("("):
            body = body[1:-1]  # `g: ((a + b))` reads as `g: (a + b)`
        return f"{label}: ({body})"

    def branches(self, merge: dict[str, Any], members: list[dict[str, Any]], depth: int, prefix: str,
                 source: str) -> str:
        self.counters[merge["op"]] += 1  # lowering numbers the merge before its branches
        expected = f"{prefix}{merge['op']}{self.counters[merge['op']]}"
        if merge["name"] != expected:
            raise SchemaError(
                f"the merge layer '{merge['name']}' cannot be written as spec text: a group's sum or "
                f"concatenation is named by netlang ('{expected}' here)"
            )
        names = [layer["name"] for layer in members]
        texts, start = [], 0
        for end_name in merge["inputs"]:
            if end_name == source:
                texts.append("identity")
                continue
            if end_name not in names[start:]:
                raise SchemaError(f"the branches of '{merge['name']}' are not in order in the IR")
            end = names.index(end_name, start) + 1
            texts.append(" -> ".join(text for text, _ in self.stages(members[start:end], depth, prefix, source)))
            start = end
        return "(" + _JOINS[merge["op"]].join(texts) + ")"

    def layer(self, layer: dict[str, Any], prefix: str) -> str:
        op = OPS[layer["op"]]
        self.counters[op.name] += 1
        text = layer_text(op, layer["args"], compact=True)
        if layer["name"] == f"{prefix}{op.name}{self.counters[op.name]}":
            return text
        if not layer["name"].startswith(prefix):
            raise SchemaError(f"the layer '{layer['name']}' is not named within '{prefix.rstrip('.')}'")
        return f"{layer['name'][len(prefix):]}: {text}"


def _value_text(value: Any) -> str:
    """A training field's value as a spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if not text or any(char.isspace() or char in '#{}"' for char in text):
        return json.dumps(text)
    return text
