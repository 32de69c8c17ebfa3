"""Branch groups found in graphs that do not mark them (netlang/language/scopes.py): every example spec's graph,
stripped of its scopes and names, comes back as groups that print as a spec and compile to the same graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlang.errors import ShapeError
from netlang.language.compiler import compile_ir
from netlang.language.printer import to_spec_text
from netlang.language.scopes import default_names, group_layers
from netlang.ops.base import NETWORK_INPUT

SPECS = Path(__file__).parents[2] / "specs"

SPEC_FILES = sorted(path.name for path in SPECS.glob("*.net"))


@pytest.mark.parametrize("spec", SPEC_FILES)
def test_example_graphs_regrouped(spec):
    ir = compile_ir(SPECS / spec)
    bare = [{"name": f"#{index}", "op": layer["op"], "args": layer["args"],
             "inputs": [NETWORK_INPUT if name == NETWORK_INPUT else f"#{_index(ir, name)}" for name in layer["inputs"]]}
            for index, layer in enumerate(ir["layers"])]
    grouped = group_layers(bare)
    assert len(grouped) == len(bare)
    names = default_names(grouped, lambda layer: None)
    rebuilt = [{"name": names[layer["name"]], "op": layer["op"], "args": layer["args"],
                "inputs": [names.get(name, name) for name in layer["inputs"]],
                **({"scope": [names[merge] for merge in scope]} if scope else {})} for layer, scope in grouped]
    regrouped = compile_ir({"netlang": 2, "input": {"shape": ir["input"]["shape"]}, "layers": rebuilt})
    again = compile_ir(to_spec_text(regrouped))
    fields = ("name", "op", "args", "inputs", "scope")
    assert [{k: layer.get(k) for k in fields} for layer in again["layers"]] == [
        {k: layer.get(k) for k in fields} for layer in regrouped["layers"]]
    # the same graph: each layer reads the same layers as in the spec, up to the names
    original = {f"#{index}": layer for index, layer in enumerate(ir["layers"])}
    back = {name: old for old, name in names.items()}
    for layer in regrouped["layers"]:
        source = original[back[layer["name"]]]
        assert source["op"] == layer["op"] and source["out_shape"] == layer["out_shape"]
        assert [back.get(name, name) for name in layer["inputs"]] == [
            NETWORK_INPUT if name == NETWORK_INPUT else f"#{_index(ir, name)}" for name in source["inputs"]]


def _index(ir, name):
    return next(index for index, layer in enumerate(ir["layers"]) if layer["name"] == name)


def test_crossing_branches_are_refused():
    layers = [{"name": "a", "op": "relu", "inputs": ["input"]}, {"name": "b", "op": "tanh", "inputs": ["input"]},
              {"name": "s1", "op": "add", "inputs": ["a", "b"]}, {"name": "s2", "op": "add", "inputs": ["s1", "b"]},
              {"name": "s3", "op": "concat", "inputs": ["s2", "a"]}]
    with pytest.raises(ShapeError, match="not made of netlang's branch groups"):
        group_layers(layers)


def test_layers_the_output_does_not_read_are_left_out():
    layers = [{"name": "a", "op": "relu", "inputs": ["input"]}, {"name": "dead", "op": "tanh", "inputs": ["a"]},
              {"name": "b", "op": "sigmoid", "inputs": ["a"]}]
    assert [layer["name"] for layer, _ in group_layers(layers)] == ["a", "b"]
