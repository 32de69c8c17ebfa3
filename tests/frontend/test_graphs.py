"""Graphs in the language: branch groups, blocks, the IR's inputs, located errors, the spec-text printer and the
folded report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlang.cli import main
from netlang.errors import SchemaError, ShapeError, SpecSyntaxError
from netlang.language.compiler import compile_ir
from netlang.language.printer import to_spec_text
from netlang.language.report import summary_table

ROOT = Path(__file__).resolve().parents[2]
IMG = "input 1x8x8\n"


def wiring(ir: dict) -> list[tuple[str, str, list[str]]]:
    return [(layer["name"], layer["op"], layer["inputs"]) for layer in ir["layers"]]


def test_branches_are_summed_or_concatenated_and_identity_is_the_skip():
    ir = compile_ir(IMG + "conv 4 3x3 pad 1 -> (conv 4 3x3 pad 1 -> relu + identity) -> (conv 2 1x1 | conv 3 1x1)\n")
    assert wiring(ir) == [
        ("conv1", "conv", ["input"]),
        ("conv2", "conv", ["conv1"]),
        ("relu1", "relu", ["conv2"]),
        ("add1", "add", ["relu1", "conv1"]),
        ("conv3", "conv", ["add1"]),
        ("conv4", "conv", ["add1"]),
        ("concat1", "concat", ["conv3", "conv4"]),
    ]
    assert ir["layers"][-1]["in_shapes"] == [[2, 8, 8], [3, 8, 8]]
    assert ir["layers"][-1]["out_shape"] == [5, 8, 8]
    assert [layer.get("scope") for layer in ir["layers"]][1:4] == [["add1"]] * 3


def test_arrow_binds_tighter_than_plus_and_groups_nest_and_repeat():
    ir = compile_ir("input 6\n((affine 6 -> relu + affine 6) | affine 2) * 2 -> affine 3\n")
    ops = [layer["op"] for layer in ir["layers"]]
    assert ops == ["affine", "relu", "affine", "add", "affine", "concat"] * 2 + ["affine"]
    assert ir["layers"][6]["inputs"] == ["concat1"]  # the second repeat reads the first's output
    assert ir["layers"][-1]["in_shape"] == [8]


def test_branches_may_break_across_lines_around_plus_and_bar():
    ir = compile_ir("input 4\n(affine 3 ->\n relu\n + affine 3\n +\n affine 3)\n")
    assert [layer["op"] for layer in ir["layers"]] == ["affine", "relu", "affine", "affine", "add"]
    ir = compile_ir("input 4\n(affine 3 # a comment\n | affine 2)\n")
    assert ir["layers"][-1]["out_shape"] == [5]


def test_mixing_plus_and_bar_says_how_to_write_it():
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir("input 4\n(affine 2 + affine 2 | affine 2)\n", filename="mix.net")
    error = caught.value
    assert "mixes '+' (sum) and '|' (concatenation)" in error.message and "((a + b) | c)" in error.message
    assert (error.line, error.col) == (2, 22)


def test_a_sum_of_different_shapes_names_the_group_the_shapes_and_what_fits():
    with pytest.raises(ShapeError) as caught:
        compile_ir(IMG + "conv 4 3x3 pad 1\nres: (conv 8 3x3 stride 2 pad 1 + identity)\n", filename="r.net")
    error = caught.value
    assert error.message.startswith("res.add1: ")
    assert "branch 1 an 8×4×4 image, branch 2 a 4×8×8 image" in error.message
    assert "end it with 'conv 8 1x1 stride 2'" in error.message and "'|'" in error.message
    assert (error.line, error.col) == (3, 1)  # the group, from its name


def test_a_concat_of_different_sizes_is_refused():
    with pytest.raises(ShapeError, match="must agree in spatial size.*an 8×4×4 image, a 3×8×8 image"):
        compile_ir(IMG + "(conv 8 3x3 stride 2 pad 1 | conv 3 1x1)\n")


def test_merge_ops_are_written_with_their_symbols_not_as_keywords():
    with pytest.raises(SpecSyntaxError, match="'add' is written as '\\+' between branches"):
        compile_ir("input 4\nadd\n")


BLOCKS = """input 1x8x8
block basic C S {
  (conv C 3x3 stride S pad 1 -> relu -> conv C 3x3 pad 1 + conv C 1x1 stride S) -> relu
}
conv 4 3x3 pad 1
basic 4 1 -> basic 8 2
first: basic 8 1
"""


def test_blocks_substitute_their_arguments_and_name_layers_by_use():
    ir = compile_ir(BLOCKS)
    names = [layer["name"] for layer in ir["layers"]]
    assert names[1:7] == ["basic1.conv2", "basic1.relu1", "basic1.conv3", "basic1.conv4", "basic1.add1", "basic1.relu2"]
    assert names[-1] == "first.relu6"
    second = {layer["name"]: layer for layer in ir["layers"]}["basic2.conv5"]
    assert second["args"]["filters"] == 8 and second["args"]["stride"] == [2, 2] and second["out_shape"] == [8, 4, 4]
    assert second["scope"] == ["basic2", "basic2.add2"]


@pytest.mark.parametrize(
    ("spec", "message", "line"),
    [
        ("input 4\nblock b N {\n affine N\n}\nbb 3\n", "unknown layer 'bb' — did you mean 'b'?", 5),
        ("input 4\nblock b N {\n affine N\n}\nb 3 4\n", "block 'b' takes 1 argument (N), got 2 (3 4)", 5),
        ("input 4\nblock b N {\n affine N\n}\nb\n", "block 'b' takes 1 argument (N), got 0 (none)", 5),
        ("input 4\nblock b N {\n affine N\n}\nb relu\n", "expected the number of outputs after 'affine'", 5),
        ("input 4\nblock b N {\n affine N\n}\naffine 2\n", "the block 'b' is defined but never used", 2),
        ("input 4\nblock a {\n b\n}\nblock b {\n a\n}\na\n", "the block 'a' uses itself (a -> b -> a)", 6),
        ("input 4\nblock b {\n relu\n}\nblock b {\n tanh\n}\nb\n", "the block 'b' is defined twice", 5),
        ("input 4\nblock relu {\n tanh\n}\nrelu\n", "'relu' is a layer of netlang's", 2),
        ("input 4\nblock b relu {\n tanh\n}\nb 2\n", "the parameter 'relu' of block 'b' is a layer's name", 2),
        ("input 4\nblock b N N {\n affine N\n}\nb 2 3\n", "block 'b' names its parameter 'N' twice", 2),
    ],
)
def test_block_mistakes_are_located(spec, message, line):
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir(spec, filename="b.net")
    assert message in caught.value.message
    assert caught.value.line == line


def test_a_block_may_take_a_layer_keyword_as_an_argument():
    ir = compile_ir("input 4\nblock act F {\n F\n}\naffine 3 -> act tanh -> act relu\n")
    assert [layer["name"] for layer in ir["layers"]] == ["affine1", "act1.tanh1", "act2.relu1"]


GRAPH_SPECS = sorted((ROOT / "specs").glob("*.net"))


@pytest.mark.parametrize("spec", GRAPH_SPECS, ids=[path.stem for path in GRAPH_SPECS])
def test_spec_to_ir_to_text_to_ir_gives_the_same_ir(spec):
    ir = compile_ir(spec.relative_to(ROOT))
    again = compile_ir(to_spec_text(ir), filename=str(spec.relative_to(ROOT)))
    assert without_positions(again) == without_positions(ir)


def test_the_printer_writes_groups_blocks_labels_and_training_fields_back():
    spec = BLOCKS + "res: (affine 5 -> relu + x: affine 5) * 2 -> softmax\ntrain {\n data \"npz:a b.npz\"\n lr 0.5\n}\n"
    ir = compile_ir(spec)
    text = to_spec_text(ir)
    assert "basic1: ((conv 4 3x3 pad 1 -> relu -> conv 4 3x3 pad 1 + conv 4 1x1) -> relu)" in text
    assert "res.1: (affine 5 -> relu + x: affine 5)" in text
    assert 'data "npz:a b.npz"' in text and "lr 0.5" in text
    assert without_positions(compile_ir(text)) == without_positions(ir)


def without_positions(value):
    if isinstance(value, dict):
        return {key: without_positions(item) for key, item in value.items() if key not in ("pos", "arg_pos", "source")}
    if isinstance(value, list):
        return [without_positions(item) for item in value]
    return value


def test_compile_writes_spec_text_for_a_net_file(tmp_path, capsys):
    out = tmp_path / "resnet.net"
    assert main(["compile", str(ROOT / "specs" / "resnet.net"), "-o", str(out)]) == 0
    text = out.read_text()
    assert "block" not in text and "basic1: (" in text and "down1: (" in text  # block uses as named groups
    assert main(["summary", str(out)]) == 0
    assert "78,762" in capsys.readouterr().out


def test_summary_depth_folds_groups_into_rows_with_their_totals():
    ir = compile_ir(ROOT / "specs" / "resnet.net")
    folded = summary_table(ir, depth=0)
    rows = {line.split()[0]: line for line in folded.splitlines() if line[:1].isalpha()}
    assert "(7 layers)" in rows["basic1"] and "(32, 14, 14)" in rows["down1"]
    in_down1 = [layer for layer in ir["layers"] if layer.get("scope", [""])[0] == "down1"]
    params = sum(layer["params"] + layer["non_trainable"] for layer in in_down1)
    assert f"{params:,}" in rows["down1"]
    full = summary_table(ir)
    assert "Connected to" in full and "  basic1.conv2" in full
    assert "basic1.batchnorm3, batchnorm1" not in full  # the skip reads relu1 (the stem's output)
    assert "basic1.batchnorm3, relu1" in full


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"name": "a", "op": "relu", "args": {}, "inputs": ["b"]}, {"name": "b", "op": "relu", "args": {}}],
         "its input 'b' is not an earlier layer"),
        ([{"name": "a", "op": "relu", "args": {}}, {"name": "m", "op": "add", "args": {}, "inputs": ["a"]}],
         "'add' takes two or more inputs, got 1"),
        ([{"name": "a", "op": "relu", "args": {}}, {"name": "b", "op": "relu", "args": {}, "inputs": ["input"]}],
         "the output of 'a' is never read"),
        ([{"name": "a", "op": "relu", "args": {}}, {"name": "a", "op": "relu", "args": {}}],
         "the name 'a' is used twice"),
    ],
)
def test_an_ir_file_with_a_broken_graph_is_refused(layers, message):
    with pytest.raises(SchemaError, match=message):
        compile_ir({"netlang": 2, "input": {"shape": [4]}, "layers": layers})


def test_summary_json_carries_the_graph(capsys):
    assert main(["summary", "--json", str(ROOT / "specs" / "inception.net")]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    merge = next(layer for layer in layers if layer["op"] == "concat")
    assert len(merge["inputs"]) == 4 and len(merge["in_shapes"]) == 4


@pytest.mark.parametrize(
    ("spec", "message", "line", "col"),
    [
        ("input 4\naffine 3 + affine 3\n", "'+' joins branches inside parentheses", 2, 10),
        ("input 4\naffine 3\n  | affine 3\n", "'|' joins branches inside parentheses", 3, 3),
        ("input 4\n(affine 3 +)\n", "expected a branch after '+'", 2, 12),
        ("input 4\n(affine 3 || affine 3)\n", "expected a branch after '|'", 2, 12),
        ("input 4\nblock {\n relu\n}\n", "expected the block's name after 'block'", 2, 7),
        ("input 4\nblock b {\n relu\n", "section is never closed, or a block's braces", 3, 6),
    ],
)
def test_misplaced_branch_and_block_syntax_is_located(spec, message, line, col):
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir(spec)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.col) == (line, col)
