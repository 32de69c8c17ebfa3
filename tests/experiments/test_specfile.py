"""Writing a configuration back as a spec: network lines kept as written, train section replaced or added."""

from __future__ import annotations

from netlang.experiments.specfile import spec_with_training, train_section_span
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training

NETWORK = (
    "# a net { with braces } in a comment\ninput 1x8x8\nconv 4 3x3 pad 1 -> relu   # train { no\n"
    "affine 10 -> softmax\n"
)


def test_a_spec_without_train_section_gets_one_at_the_end():
    text = spec_with_training(NETWORK, {"lr": "0.01", "data": "digits"}, comment="best of 3")
    assert text.startswith(NETWORK)
    assert text.endswith("\n# best of 3\ntrain {\n  lr   0.01\n  data digits\n}\n")
    config = resolve_training(compile_ir(text))
    assert (config["lr"], config["data"]) == (0.01, "digits")


def test_the_train_section_is_replaced_in_place_comments_and_quotes_included():
    spec = NETWORK + 'train {\n  data "npz:a } b.npz"  # a } brace\n  lr 0.5\n}\n# trailing comment\n'
    start, end = train_section_span(spec)
    assert spec[start:end].startswith("train {") and spec[end:].startswith("\n# trailing")
    text = spec_with_training(spec, {"lr": "0.001", "weight_decay": "1e-05"})
    assert text == NETWORK + "train {\n  lr           0.001\n  weight_decay 1e-05\n}\n# trailing comment\n"
    config = resolve_training(compile_ir(text))
    assert (config["lr"], config["weight_decay"]) == (0.001, 1e-05)


def test_a_one_line_train_section_and_values_with_spaces():
    spec = NETWORK + "train { lr 0.5 }\n"
    text = spec_with_training(spec, {"data": "npz:my data.npz"})
    assert text == NETWORK + 'train {\n  data "npz:my data.npz"\n}\n'
    assert compile_ir(text)["train"]["data"]["value"] == "npz:my data.npz"
