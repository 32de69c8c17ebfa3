"""The op registries agree: every keyword has a signature, a shape rule, a schema entry and a NumPy layer."""

from __future__ import annotations

from netlang.language.schema import load_schema
from netlang.ops import OPS
from netlang.shapes import SHAPE_RULES


def test_every_op_has_a_shape_rule_and_a_schema_entry():
    schema = load_schema()
    assert set(SHAPE_RULES) == set(OPS)
    assert set(schema["$defs"]["args"]) == set(OPS)
    assert set(schema["$defs"]["layer"]["properties"]["op"]["enum"]) == set(OPS)


def test_every_op_has_a_numpy_layer():
    from netlang.backend.registry import LAYERS

    assert set(LAYERS) == set(OPS)


def test_signature_arguments_match_the_schema():
    schema = load_schema()["$defs"]["args"]
    for name, op in OPS.items():
        declared = {arg.name for arg in (*op.positional, *op.options)}
        assert declared == set(schema[name]["properties"]), name
