"""Hostile specs: tiny text asking for unbounded work, deep nesting, and what `train` would refuse later.

Each is refused by `check` at once, with a located error, before the work it asks for (netlang/limits.py).
"""

from __future__ import annotations

import json

import pytest

from netlang.cli import main
from netlang.errors import NetlangError, SchemaError, ShapeError, SpecSyntaxError, UsageError
from netlang.language import schema
from netlang.language.compiler import compile_ir
from netlang.limits import MAX_LAYERS, MAX_NESTING, MAX_SHOWN_LINE


def refused(text: str, kind: type[NetlangError] = NetlangError) -> NetlangError:
    with pytest.raises(kind) as caught:
        compile_ir(text, filename="h.net")
    return caught.value


# Class 1: unbounded work from tiny input.


def test_a_huge_repeat_is_refused_at_its_count_before_expanding():
    err = refused("input 784\n(affine 10) * 99999999999\n", SpecSyntaxError)
    assert (err.file, err.line, err.col) == ("h.net", 2, 13)
    assert "99,999,999,999 layers" in err.message and f"at most {MAX_LAYERS:,}" in err.message
    assert "NETLANG_MAX_LAYERS" in err.message


def test_nested_repeats_multiply():
    err = refused("input 784\n((affine 10 -> relu) * 200) * 200\n", SpecSyntaxError)
    assert err.line == 2 and "80,000 layers" in err.message


def test_block_uses_multiply_without_being_expanded():
    lines = ["block b0 {\n  affine 10\n}"]
    lines += [f"block b{n} {{\n  b{n - 1} -> b{n - 1}\n}}" for n in range(1, 80)]  # b79 makes 2**79 layers
    err = refused("\n".join(lines) + "\ninput 784\nb79\n", SpecSyntaxError)
    assert "b79" in err.message and "NETLANG_MAX_LAYERS" in err.message


def test_the_layer_limit_is_a_setting(monkeypatch):
    monkeypatch.setenv("NETLANG_MAX_LAYERS", "6")
    assert len(compile_ir("input 4\n(affine 4 -> relu) * 3\n")["layers"]) == 6
    err = refused("input 4\n(affine 4 -> relu) * 4\n", SpecSyntaxError)
    assert "8 layers or more" in err.message and "at most 6" in err.message
    monkeypatch.setenv("NETLANG_MAX_LAYERS", "many")
    with pytest.raises(UsageError, match="NETLANG_MAX_LAYERS must be a whole number"):
        compile_ir("input 4\naffine 2\n")


def test_the_layer_limit_holds_for_chains_and_ir_files(monkeypatch, tmp_path):
    monkeypatch.setenv("NETLANG_MAX_LAYERS", "3")
    err = refused("input 4\naffine 2 -> affine 2 -> affine 2 -> affine 2\n", SpecSyntaxError)
    assert (err.line, err.col) == (2, 37) and "passes 3 layers" in err.message
    layers = [{"name": f"a{n}", "op": "affine", "args": {"units": 2}} for n in range(4)]
    ir_file = tmp_path / "four.json"
    ir_file.write_text(json.dumps({"netlang": 1, "input": {"shape": [4]}, "layers": layers}))
    with pytest.raises(SchemaError, match="layers: 4 layers, and a network may have at most 3"):
        compile_ir(ir_file)


def test_sizes_that_would_take_terabytes_are_refused_by_check():
    err = refused("input 784\naffine 99999999999 -> softmax\n", ShapeError)
    assert (err.line, err.col) == (2, 1) and "99,999,999,999 values" in err.message
    err = refused("input 1x28x28\nconv 1000000000 3\n", ShapeError)
    assert err.line == 2 and "affine" not in err.message
    err = refused("input 100000\naffine 10000 -> softmax\n", ShapeError)  # 1e9 weights in few values
    assert "1,000,010,000 parameters" in err.message and "NETLANG_MAX_PARAMS" in err.message
    err = refused("input 3x100000x100000\nrelu\n", ShapeError)
    assert (err.line, err.col) == (1, 7) and "the input holds" in err.message


def test_the_parameter_limit_is_a_setting(monkeypatch):
    monkeypatch.setenv("NETLANG_MAX_PARAMS", "100")
    assert compile_ir("input 4\naffine 20\n")["totals"]["params"] == 100
    err = refused("input 4\naffine 20 -> affine 2\n", ShapeError)
    assert "affine2" in err.message and "the limit is 100" in err.message


def test_numbers_with_too_many_digits_are_refused():
    err = refused("input 784\naffine " + "9" * 5000 + "\n", SpecSyntaxError)
    assert (err.line, err.col) == (2, 8) and "digits" in err.message
    refused("input 7" + "0" * 5000 + "\naffine 2\n", SpecSyntaxError)
    refused("input 4\n(affine 2) * " + "9" * 5000 + "\n", SpecSyntaxError)


def test_a_large_network_validates_each_distinct_layer_once(monkeypatch):
    calls = []
    top, content, wiring = schema._validators()
    original = type(content).iter_errors

    def counting(self, instance, *args, **kwargs):
        calls.append(self is content)
        return original(self, instance, *args, **kwargs)

    monkeypatch.setattr(type(content), "iter_errors", counting)
    ir = compile_ir("input 784\n(affine 10 -> relu) * 500\naffine 10 -> softmax\n")
    assert len(ir["layers"]) == 1002
    assert calls.count(True) <= 4  # affine 10, relu, softmax (not 1002)


def test_errors_stay_at_the_first_offending_layer_among_identical_ones(tmp_path):
    ir = compile_ir("input 4\n(affine 4 -> relu) * 30\n")
    layers = [{key: value for key, value in layer.items() if key in {"name", "op", "args", "inputs"}}
              for layer in ir["layers"]]
    layers[20]["args"] = {"units": 0}  # affine11, and later affine21 alike
    layers[40]["args"] = {"units": 0}
    ir_file = tmp_path / "many.json"
    ir_file.write_text(json.dumps({"netlang": 2, "input": {"shape": [4]}, "layers": layers}, indent=1))
    with pytest.raises(SchemaError) as caught:
        compile_ir(ir_file)
    assert caught.value.message.startswith("layers[20].args.units: the number of outputs of affine11")
    lines = ir_file.read_text().splitlines()
    assert '"units": 0' in lines[caught.value.line - 1]
    assert sum('"units": 0' in line for line in lines[: caught.value.line - 1]) == 0


def test_the_caret_line_is_bounded_whatever_the_column():
    err = SchemaError("bad", file="f.json", line=1, col=10**9, span=10**9, source_line="x" * 50)
    assert err.format() == "f.json:1:1000000000: bad"  # a column past the line: no caret at all
    err = SchemaError("bad", file="f.json", line=1, col=40_000, span=10**9, source_line="y" * 10**6)
    shown, caret = err.format().splitlines()[1:]
    assert len(shown) <= MAX_SHOWN_LINE + 12 and len(caret) <= MAX_SHOWN_LINE + 12
    assert shown.strip().startswith("...") and caret.strip().startswith("^")


def test_control_characters_in_errors_are_escaped():
    err = SpecSyntaxError("unknown 'a\x1b[2Jb'", file="h.net", line=1, col=1, source_line="a\x1b[2Jb")
    assert "\x1b" not in err.format() and "\\x1b[2J" in err.format()


# Class 6: deep nesting.


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 2000, 100_000])
def test_deeply_nested_parentheses_are_refused_where_they_pass_the_limit(depth):
    err = refused("input 784\n" + "(" * depth + "affine 10" + ")" * depth + "\n", SpecSyntaxError)
    assert (err.line, err.col) == (2, MAX_NESTING + 1) and "nest more than" in err.message


def test_nesting_up_to_the_limit_compiles():
    depth = 30
    ir = compile_ir("input 4\n" + "(" * depth + "affine 2" + ")" * depth + "\n")
    assert [layer["op"] for layer in ir["layers"]] == ["affine"]


def test_long_chains_of_block_uses_are_refused():
    lines = ["block b0 {\n  affine 10\n}"] + [f"block b{n} {{\n  b{n - 1}\n}}" for n in range(1, 400)]
    err = refused("\n".join(lines) + "\ninput 784\nb399\n", SpecSyntaxError)
    assert "nest more than" in err.message and err.line is not None


def test_parentheses_in_comments_and_quoted_values_do_not_count():
    text = "input 4\n# " + "(" * 500 + "\naffine 2 -> softmax\ntrain {\n  data \"npz:" + "(" * 200 + "\"\n}\n"
    assert compile_ir(text)["train"]["data"]["value"] == "npz:" + "(" * 200


# Class 8: what `train` and `search` would refuse, `check` refuses, with their message, located.


@pytest.mark.parametrize(
    "text, where, words",
    [
        ("input 4\naffine 2 init std:0 -> softmax\n", (2, 15), "needs a positive number"),
        ("input 4\naffine 2 init normal:-1\n", (2, 15), "needs a positive number"),
        ("input 4\naffine 2\ntrain {\n  init std:0\n}\n", (4, 8), "needs a positive number"),
        ("input 4\naffine 2\nsearch {\n  lr 1e-1:1e-4:log\n}\n", (4, 6), "LOW must be below HIGH"),
        ("input 4\naffine 2\nsearch {\n  lr 0:1e-2:log\n}\n", (4, 6), "log scale needs LOW > 0"),
        ("input 4\naffine 2\ntrain {\n  patience 2\n  val_split 0\n}\n", (4, 12), "early stopping"),
        ("input 4\naffine 2\ntrain {\n  lr 1e999\n}\n", (4, 6), "must be a number"),
        ("input 4\naffine 2\ntrain {\n  data mnsit\n}\n", (4, 8), "unknown data set 'mnsit'"),
        ("input 4\naffine 2\ntrain {\n  data npz:\n}\n", (4, 8), "needs a file path"),
        ("input 4\naffine 2\ntrain {\n  momentum nan\n}\n", (4, 12), "must be a number"),
    ],
)
def test_check_refuses_what_train_would(text, where, words, capsys, write_spec):
    spec = write_spec(text)
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:{where[0]}:{where[1]}: ") and words in err and "Traceback" not in err


def test_the_schema_lists_the_data_sets_netlang_knows():
    from netlang.data import SOURCES
    from netlang.language.schema import load_schema

    listed = load_schema()["properties"]["train"]["properties"]["data"]["properties"]["value"]["examples"]
    assert sorted(listed) == sorted([*SOURCES, "npz:PATH"])
