"""Hostile IR files: an IR file is input, not a trusted intermediate.

Every problem is a SchemaError or ShapeError located in the IR file itself (its JSON path in the message, its
line and column), no file the IR names is ever read, and nothing it holds reaches the terminal unescaped.
"""

from __future__ import annotations

import json

import pytest

from netlang.cli import main
from netlang.errors import NetlangError, SchemaError
from netlang.language.compiler import compile_ir
from netlang.language.irfile import locate
from netlang.limits import MAX_NESTING

AFFINE = {"name": "a", "op": "affine", "args": {"units": 2}}


def ir_text(*layers, **fields) -> str:
    return json.dumps({"netlang": 2, "input": {"shape": [4]}, "layers": list(layers) or [AFFINE], **fields},
                      indent=1)


def refused(tmp_path, text: str) -> tuple[NetlangError, str]:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NetlangError) as caught:
        compile_ir(path)
    err = caught.value
    assert err.file == str(path), "an IR file's errors point into the IR file"
    formatted = err.format()
    assert "Traceback" not in formatted and "\x1b" not in formatted
    return err, formatted


def pointed_at(err: NetlangError, text: str) -> str:
    """The text from the error's line and column to the end of that line."""
    return text.splitlines()[err.line - 1][err.col - 1 :]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize(
    "layer, field",
    [
        ({"name": "d", "op": "dropout", "args": {"ratio": "X"}}, "ratio"),
        ({"name": "l", "op": "leaky_relu", "args": {"alpha": "X"}}, "alpha"),
    ],
)
def test_non_finite_numbers_are_refused_where_they_stand(tmp_path, constant, layer, field):
    text = ir_text(layer, AFFINE).replace('"X"', constant)
    err, _ = refused(tmp_path, text)
    assert isinstance(err, SchemaError) and err.message.startswith(f"layers[0].args.{field}: ")
    assert "must be a number" in err.message
    assert pointed_at(err, text).startswith(constant)


def test_a_non_finite_learning_rate_is_refused(tmp_path):
    text = ir_text(train={"lr": {"value": "X"}}).replace('"X"', "NaN")
    err, _ = refused(tmp_path, text)
    assert err.message.startswith("train.lr.value: the learning rate must be a number") and "NaN" in err.message
    assert pointed_at(err, text).startswith("NaN")


@pytest.mark.parametrize("number", ["1e308", "3.0", "1.5"])
def test_a_float_where_a_whole_number_belongs_is_refused(tmp_path, number):
    text = ir_text({"name": "a", "op": "affine", "args": {"units": "X"}}).replace('"X"', number)
    err, _ = refused(tmp_path, text)
    assert err.message.startswith("layers[0].args.units: ") and "must be a whole number" in err.message
    assert pointed_at(err, text).startswith(number)


def test_a_whole_number_of_thousands_of_digits_is_refused(tmp_path):
    text = ir_text({"name": "a", "op": "affine", "args": {"units": "X"}}).replace('"X"', "9" * 5000)
    err, formatted = refused(tmp_path, text)
    assert "digits" in err.message and pointed_at(err, text).startswith("999")
    assert len(formatted) < 1000


def test_duplicate_layer_names_are_refused_at_the_second(tmp_path):
    text = ir_text(AFFINE, AFFINE)
    err, _ = refused(tmp_path, text)
    assert err.message == "layers[1] ('a'): the name 'a' is used twice; layer names must be unique"
    layer_lines = [number for number, line in enumerate(text.splitlines(), 1) if line == "  {"]
    assert (err.line, err.col) == (layer_lines[1], 3)


@pytest.mark.parametrize("inputs", [["nowhere"], ["b"], [], ["input", "input"]])
def test_bad_inputs_references_are_refused(tmp_path, inputs):
    text = ir_text({**AFFINE, "inputs": inputs}, {**AFFINE, "name": "b"})
    err, _ = refused(tmp_path, text)
    assert err.message.startswith("layers[0]") and err.line is not None


def test_the_source_field_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-LINE-1\nSECRET-LINE-2\n")
    layer = {"name": "a", "op": "affine", "args": {"units": 0}, "pos": {"line": 1, "col": 1}}
    text = ir_text(layer, source=str(secret))
    err, formatted = refused(tmp_path, text)
    assert "SECRET" not in formatted
    assert pointed_at(err, text).startswith("0")
    # Nor through the Python API, for an IR dict (a run's IR, say): its source is not read either.
    with pytest.raises(NetlangError) as caught:
        compile_ir(json.loads(text))
    assert "SECRET" not in caught.value.format()


def test_escape_sequences_in_names_never_reach_the_terminal(tmp_path, capsys):
    for name in ["\x1b[2Jcleared", "a\nb", "a\x07", "conv1\n"]:
        text = ir_text({**AFFINE, "name": name})
        err, _ = refused(tmp_path, text)
        assert err.message.startswith("layers[0].name: the layer name must start with a letter")
    path = tmp_path / "hostile.json"
    path.write_text(ir_text({**AFFINE, "inputs": ["\x1b]0;title\x07"]}))
    assert main(["check", str(path)]) == 1
    assert "\x1b" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"source": "\x1b[31mred.net"}, "source"),
        ({"train": {"data": {"value": "npz:\x1b[2J.npz"}}}, "train.data.value"),
        ({"search": {"lr": {"value": "1e-4:1e-2\x07"}}}, "search.lr.value"),
    ],
)
def test_control_characters_in_texts_that_get_printed_are_refused(tmp_path, fields, path):
    err, _ = refused(tmp_path, ir_text(**fields))
    assert err.message.startswith(f"{path}: ")


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000, 200_000])
def test_deeply_nested_json_is_refused_before_parsing(tmp_path, depth):
    text = '{"netlang": 2, "input": {"shape": [4]}, "layers": ' + "[" * depth + "]" * depth + "}"
    err, _ = refused(tmp_path, text)
    assert "nest more than" in err.message and err.line == 1


def test_hostile_positions_never_stretch_the_caret(tmp_path):
    layer = {**AFFINE, "args": {"units": 0}, "pos": {"line": 10**12, "col": 10**12, "span": 10**12},
             "arg_pos": {"units": {"line": 1, "col": 10**9, "span": 10**9}}}
    err, formatted = refused(tmp_path, ir_text(layer))
    assert max(map(len, formatted.splitlines())) < 300


def test_pass_errors_point_at_the_layer_in_the_ir_file(tmp_path):
    text = ir_text({"name": "s", "op": "softmax", "args": {}}, AFFINE)
    err, _ = refused(tmp_path, text)
    assert "softmax may only be the last layer" in err.message
    assert text.splitlines()[err.line - 1].strip() == "{"
    assert '"s"' in "".join(text.splitlines()[err.line : err.line + 2])


def test_an_ir_file_compiles_with_positions_in_itself(tmp_path):
    path = tmp_path / "ok.json"
    text = ir_text(AFFINE, {"name": "b", "op": "softmax", "args": {}})
    path.write_text(text)
    ir = compile_ir(path)
    assert ir["source"] == str(path)
    for layer in ir["layers"]:
        assert text.splitlines()[layer["pos"]["line"] - 1][layer["pos"]["col"] - 1] == "{"


def test_locate_finds_values_by_json_path():
    text = '{"a": [1, {"b": "x"}, [2, 3]], "c": {"d\\"e": null}}'
    assert locate(text, ["a", 1, "b"]) == (1, 17)
    assert locate(text, ["a", 2, 1]) == (1, 27)
    assert locate(text, ["c", 'd"e']) == (1, 46)
    assert locate(text, ["missing"]) is None


def test_check_exits_1_for_hostile_ir_files_and_2_for_a_missing_one(tmp_path, capsys):
    path = tmp_path / "nan.json"
    path.write_text(ir_text({"name": "d", "op": "dropout", "args": {"ratio": 0.5}}, AFFINE).replace("0.5", "NaN"))
    assert main(["check", str(path)]) == 1
    assert main(["check", str(tmp_path / "absent.json")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_deeply_nested_ir_given_as_data_is_refused():
    deep: object = 1
    for _ in range(50_000):
        deep = {"x": deep}
    ir = {"netlang": 2, "input": {"shape": [4]}, "layers": [AFFINE], "train": {"lr": {"value": deep}}}
    with pytest.raises(SchemaError, match="nest more than"):
        compile_ir(ir)
