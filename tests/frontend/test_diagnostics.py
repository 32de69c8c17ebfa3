"""Every error of a spec at once (netlang/language/diagnostics.py, statements.py): what `netlang lsp` shows as
diagnostics. A valid spec gives no error and `netlang compile`'s very IR; an invalid one gives the compiler's
own error among the others, each located; hostile text gives a bounded list, quickly."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from netlang.errors import NetlangError, SpecSyntaxError
from netlang.language.compiler import SPEC_STAGES, compile_ir
from netlang.language.diagnostics import analyze
from netlang.language.parser import parse
from netlang.language.statements import parse_statements, split_statements
from netlang.limits import MAX_DIAGNOSTICS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_errors import CASES  # noqa: E402  (the located-error cases, one error each)
from test_fuzz import mutated  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.net"))


def _compile(text: str) -> dict:
    value = text
    for stage in SPEC_STAGES:
        value = stage(value, "spec.net")
    return value


def _where(analysis) -> list[tuple[int, int]]:
    return [(error.line, error.col) for error in analysis.errors]


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.name)
def test_a_valid_spec_has_no_error_and_compiles_to_the_same_ir(path):
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, str(path))
    assert analysis.errors == []
    assert analysis.ir == compile_ir(path)
    tree, errors = parse_statements(text, str(path))
    assert errors == [] and tree == parse(text, str(path))  # statement by statement, the same statements


@pytest.mark.parametrize("text, kind, line, col, fragment", CASES)
def test_the_compilers_error_is_among_the_diagnostics(text, kind, line, col, fragment):
    errors = analyze(text, "spec.net").errors
    assert any(isinstance(error, kind) and (error.line, error.col) == (line, col) and fragment in error.message
               for error in errors), [error.format() for error in errors]


MANY = """input 1x28x28
conv 30 5x5 -> reul -> pool 2
(conv 3 3x3 -> relu
dropout 1.5
block b C {
  conv C 3x3 -> relu
}
b 4 5
b abc
stage: b 8
affine 10 -> softmax -> relu
dropout 1.5
train {
  lr -1
  optimzer adam
  epochs 3
  epochs 4
}
"""


def test_every_error_is_reported_where_it_is():
    analysis = analyze(MANY, "many.net")
    found = [(error.line, error.col, type(error).__name__, error.message) for error in analysis.errors]
    expected = [
        (2, 16, "SpecSyntaxError", "unknown layer 'reul'"),
        (3, 20, "SpecSyntaxError", "a group '(' is never closed"),
        (4, 9, "SchemaError", "the dropout ratio of dropout1 must be in [0, 1), got 1.5"),
        (8, 5, "SpecSyntaxError", "block 'b' takes 1 argument (C), got 2 (4 5)"),
        (9, 3, "SpecSyntaxError", "expected the number of filters after 'conv', got 'abc'"),
        (11, 14, "ShapeError", "softmax may only be the last layer"),
        (12, 9, "SchemaError", "the dropout ratio of dropout2 must be in [0, 1), got 1.5"),
        (14, 6, "SchemaError", "the learning rate must be greater than 0, got -1"),
        (15, 3, "SpecSyntaxError", "unknown training field 'optimzer'"),
        (17, 3, "SpecSyntaxError", "'epochs' is set twice in the training section (first on line 16)"),
    ]
    assert len(found) == len(expected), found
    for (line, col, kind, message), want in zip(found, expected, strict=True):
        assert (line, col, kind) == want[:3] and want[3] in message, (line, col, kind, message)
    assert analysis.ir is None
    # What could be made is still known: the statements around the errors, with their shapes.
    shapes = {layer["name"]: layer.get("out_shape") for layer in analysis.layers}
    assert shapes["conv1"] == [30, 24, 24] and shapes["stage.conv2"] == [8, 10, 10]


def test_shape_errors_in_two_branches_are_both_reported_and_what_reads_them_is_left_unknown():
    text = "input 1x28x28\n(conv 8 29x29 | conv 8 3x3 pad 1 | conv 8 5x5 stride 2) -> relu\naffine 10\n"
    analysis = analyze(text, "shapes.net")
    assert [type(error).__name__ for error in analysis.errors] == ["ShapeError", "ShapeError"]
    assert _where(analysis) == [(2, 2), (2, 36)]
    assert "kernel height 29" in analysis.errors[0].message and "12.5" in analysis.errors[1].message
    shapes = {layer["name"]: layer.get("out_shape") for layer in analysis.layers}
    assert shapes["conv2"] == [8, 28, 28]  # the good branch is inferred; the merge and what follows are not
    assert shapes["concat1"] is None and shapes["relu1"] is None and shapes["affine1"] is None


def test_a_bad_layer_repeated_is_reported_at_each_place_once():
    text = "input 8\naffine 4 -> dropout 2\naffine 4 -> dropout 2\n(affine 4 -> reul) * 3\n"
    analysis = analyze(text, "same.net")
    assert _where(analysis) == [(2, 21), (3, 21), (4, 14)]


def test_a_second_error_in_one_line_after_a_bad_layer_is_reported():
    analysis = analyze("input 4\naffine 3 -> reul -> dropout 7 -> sotfmax\n", "line.net")
    assert _where(analysis) == [(2, 13), (2, 29), (2, 34)]


def test_without_an_input_line_one_error_says_so():
    analysis = analyze("affine 3\naffine 2\n", "noinput.net")
    assert [error.message for error in analysis.errors] == ["the spec must start with 'input', like: input 1x28x28"]


def test_an_unclosed_brace_costs_one_statement():
    text = "input 4\ntrain {\n  lr 0.1\naffine 3 -> reul\n"
    statements = split_statements(text)
    assert [(s.first, s.last, s.keyword) for s in statements] == [(0, 0, "input"), (1, 3, "train")]
    text = "input 4\ntrain {\n  lr 0.1\nblock b {\n  affine 3\n}\nb -> reul\n"
    assert [(s.first, s.last) for s in split_statements(text)] == [(0, 0), (1, 2), (3, 5), (6, 6)]
    assert _where(analyze(text, "brace.net")) == [(3, 9), (7, 6)]


@pytest.mark.parametrize("text", [
    "input 1\n" + "(" * 100_000 + "\n",
    "input 1x28x28\n(affine 10) * 99999999999\n",
    "\x00\x01\ud800\udfff\uffff garbage \x1b[31m {{{ }}} (((" * 2000,
    "input 4\n" + "reul\n" * 5000,
    "input 4\n" + "affine 3 ->\n" * 3000,
    "train {\n" * 3000,
    "block b {\n" * 3000 + "b\n",
], ids=["deep", "repeat", "binary", "bad-layers", "arrows", "sections", "blocks"])
def test_hostile_text_gives_a_bounded_list_of_located_errors_quickly(text):
    start = time.perf_counter()
    analysis = analyze(text, "hostile.net")
    assert time.perf_counter() - start < 20  # a hang, not a speed check: typical runs take well under a second
    assert 1 <= len(analysis.errors) <= MAX_DIAGNOSTICS
    assert all(isinstance(error, NetlangError) and error.line is not None for error in analysis.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_have_no_error_exactly_when_they_compile(text):
    try:
        _compile(text)
        first = None
    except NetlangError as err:
        first = err
    errors = analyze(text, "spec.net").errors
    if first is None:
        assert errors == []
        return
    assert errors and all(error.line is not None for error in errors)
    if not isinstance(first, SpecSyntaxError) or _parses(text):
        # past parsing, the compiler's error is always among them; a syntax error is told statement by
        # statement, which may describe it from the statement's side
        assert (first.line, first.col, first.message) in {(e.line, e.col, e.message) for e in errors}


def _parses(text: str) -> bool:
    try:
        parse(text)
        return True
    except SpecSyntaxError:
        return False


def test_every_setting_that_train_or_search_would_refuse_is_reported():
    text = ("input 4\naffine 3 init std:0 -> affine 2 init std:0\ntrain {\n  data mnsit\n  init std:0\n"
            "  patience 3\n  val_split 0\n}\nsearch {\n  lr 1e-1:1e-4:log\n}\n")
    analysis = analyze(text, "settings.net")
    assert _where(analysis) == [(2, 15), (2, 38), (4, 8), (5, 8), (6, 12), (10, 6)]
    assert "did you mean 'mnist'?" in analysis.errors[2].message
    assert "val_split is 0" in analysis.errors[4].message and "LOW must be below HIGH" in analysis.errors[5].message


@pytest.mark.parametrize("text", ["\xa0# a comment after a no-break space\ninput 2\naffine 2 -> softmax\n",
                                  "input 2\n\u2003\naffine 2 -> softmax\n"])
def test_whitespace_the_grammar_does_not_ignore_is_an_error_in_the_editor_too(text):
    # found by the mutation test: the statement scan stripped a no-break space as blank, the parser does not
    with pytest.raises(NetlangError):
        _compile(text)
    errors = analyze(text, "spec.net").errors
    assert errors and all(error.line is not None for error in errors)
