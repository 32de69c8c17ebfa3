"""Hypothesis mutates valid specs: netlang either accepts the result or raises its own error, never anything else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlang.errors import NetlangError
from netlang.language.compiler import compile_ir

ROOT = Path(__file__).resolve().parents[2]
VALID = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "specs").glob("*.net"))]
PIECES = ["->", "(", ")", "* 2", "x", ":", "#", "\n", "\t", " ", "conv", "pool", "avg", "0", "-1", "1e9", "3x3",
          "stride", "pad", "round", "ceil", "floor", "dropout", "softmax", "train", "{", "}", "lr", "input", "é", "\r"]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)))
        end = min(len(text), at + draw(st.integers(1, 6)))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[end:]
        else:
            text = text[:at] + piece + text[end:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_are_accepted_or_refused_cleanly(text):
    try:
        ir = compile_ir(text, filename="fuzz.net")
    except NetlangError as err:
        formatted = err.format()
        assert formatted.startswith("fuzz.net")
        assert err.line is not None and err.col is not None
    else:
        assert ir["totals"]["params"] >= 0
