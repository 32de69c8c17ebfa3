"""Hypothesis mutates IR files: every outcome of compiling one is an IR or a NetlangError located in the file
(exit 1 or 2 through the command line), never another exception, and each within a bounded time."""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlang.cli import main
from netlang.errors import NetlangError
from netlang.language.compiler import compile_ir
from netlang.limits import MAX_SHOWN_LINE

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [compile_ir(ROOT / "specs" / name) for name in ("xor.net", "two_layer.net", "simple_convnet.net")]
SEEDS.append(compile_ir("input 1x8x8\nc: conv 4 3x3 pad 1 -> (relu + identity) -> (pool 2 | pool 2) -> affine 3 "
                        "-> softmax\ntrain {\n  lr 0.01\n  init he\n}\nsearch {\n  lr 1e-4:1e-2:log\n}\n"))

HOSTILE_VALUES = st.sampled_from([
    math.nan, math.inf, -math.inf, 1e308, -1e308, 10**40, -(10**40), 2**63, -1, 0, 0.5, 3.0, True, None, "",
    "x", "\x1b[2J", "input", "a", "conv1", "affine", "std:0", "1e-1:1e-4:log", [], {}, [[]], [0, 0], [10**9] * 3,
    {"line": 0, "col": -1}, {"line": 10**12, "col": 10**12, "span": 10**12},
])


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every JSON path in a value, containers included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set(root: object, path: tuple, value: object) -> object:
    if not path:
        return value
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


@st.composite
def mutated_ir(draw) -> str:
    ir = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(ir)[1:] or [()]  # the root itself only when nothing is left inside it
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["value", "delete", "nest", "duplicate", "rename_input", "swap_type"]))
        if action == "value":
            ir = _set(ir, path, copy.deepcopy(draw(HOSTILE_VALUES)))  # never mutate the shared samples
        elif action == "delete" and path:
            parent = ir
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
        elif action == "nest":
            ir = _set(ir, path, _nested(draw(st.sampled_from([5, 50, 99, 101, 500]))))
        elif action == "duplicate" and isinstance(ir, dict) and isinstance(ir.get("layers"), list) and ir["layers"]:
            index = draw(st.integers(0, len(ir["layers"]) - 1))
            ir["layers"].insert(draw(st.integers(0, len(ir["layers"]))), ir["layers"][index])
        elif action == "rename_input" and isinstance(ir, dict) and isinstance(ir.get("layers"), list):
            names = ["input", "nowhere", *[layer.get("name") for layer in ir["layers"] if isinstance(layer, dict)]]
            layer = draw(st.sampled_from(ir["layers"])) if ir["layers"] else None
            if isinstance(layer, dict):
                layer["inputs"] = draw(st.lists(st.sampled_from(names), max_size=3))
        elif action == "swap_type":
            ir = _set(ir, path, draw(st.one_of(st.text(max_size=3), st.integers(-5, 10**12),
                                               st.floats(allow_nan=True, allow_infinity=True))))
        if not isinstance(ir, dict):
            break
    return json.dumps(ir, indent=draw(st.sampled_from([None, 1])))


def _check_outcome(path: Path) -> None:
    try:
        ir = compile_ir(path)
    except NetlangError as err:
        assert err.file == str(path), "an IR file's errors point into the IR file"
        formatted = err.format()
        assert "\x1b" not in formatted
        assert max(map(len, formatted.splitlines()[1:]), default=0) <= MAX_SHOWN_LINE + 12
    else:
        assert ir["totals"]["params"] >= 0 and ir["source"] == str(path)


@settings(max_examples=250, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(mutated_ir())
def test_mutated_ir_files_compile_or_are_refused_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.json"
    path.write_text(text, encoding="utf-8")
    _check_outcome(path)


@settings(max_examples=40, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(mutated_ir())
def test_mutated_ir_files_exit_0_1_or_2_through_the_command_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.json"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) in (0, 1, 2)  # anything but a NetlangError would propagate and fail
