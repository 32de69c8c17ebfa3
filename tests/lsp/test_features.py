"""The language server's features as plain functions (netlang/lsp): positions, completion contexts, hover on
a broken spec, formatting's refusals, and the analysis of a document that is too large or breaks the checker."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402

from netlang.language.compiler import SPEC_STAGES  # noqa: E402
from netlang.language.diagnostics import analyze  # noqa: E402
from netlang.language.statements import code_of  # noqa: E402
from netlang.lsp import server  # noqa: E402
from netlang.lsp.completion import complete  # noqa: E402
from netlang.lsp.formatting import formatted  # noqa: E402
from netlang.lsp.hover import hover_markdown  # noqa: E402
from netlang.lsp.positions import Lines, units_for, utf8_units, utf16_units  # noqa: E402
from netlang.lsp.symbols import definition, document_symbols  # noqa: E402
from netlang.ops import OPS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_positions_count_utf16_units_and_clamp():
    lines = Lines("input 4\n# \U0001F600é x\r\naffine 2")
    assert lines.position(2, 5) == types.Position(line=1, character=5)  # '# ' + 2 units + 'é'
    assert lines.point(types.Position(line=1, character=5)) == (2, 5)
    assert lines.point(types.Position(line=1, character=3)) == (2, 4)  # inside the emoji: after it
    assert lines.point(types.Position(line=9, character=99)) == (3, 9)  # past the end: the end
    assert lines.position(0, 0) == types.Position(line=0, character=0)
    assert lines.range(None, None) == types.Range(start=types.Position(line=0, character=0),
                                                  end=types.Position(line=0, character=7))
    assert lines.end() == types.Position(line=2, character=8)
    assert Lines("é\U0001F600x", utf8_units).position(1, 3) == types.Position(line=0, character=6)


def test_the_agreed_position_encoding_picks_the_units():
    assert units_for(types.PositionEncodingKind.Utf8) is utf8_units and units_for("utf-8") is utf8_units
    assert units_for(types.PositionEncodingKind.Utf32)("\U0001F600") == 1
    assert units_for(types.PositionEncodingKind.Utf16) is utf16_units and units_for(None) is utf16_units


def labels(text: str, line: int, col: int) -> list[str]:
    return [item.label for item in complete(text, line, col)]


@pytest.mark.parametrize("before", ["", "conv 8 3x3 -> ", "(", "(affine 3 + ", "(affine 3 | ", "c1: ", "g: ("])
def test_a_layer_may_start_after_an_arrow_a_join_a_parenthesis_or_a_label(before):
    text = f"input 1x28x28\n{before}"
    found = labels(text, 2, len(before) + 1)
    assert {"conv", "relu", "dropout"} <= set(found) and "add" not in found and "concat" not in found


def test_completion_knows_each_section_and_the_words_of_arguments():
    text = "block down C {\n  conv C 1x1 \n}\ninput 1x28x28\npool \nsearch {\n  \n}\nconv 3 3x3 round "
    assert {"stride", "pad", "round", "init", "C"} <= set(labels(text, 2, 14))  # inside a block's body
    assert {"conv", "down", "C"} <= set(labels(text, 2, 3)) and "C" not in labels(text, 5, 6)
    assert {"max", "avg", "stride", "pad", "round"} <= set(labels(text, 5, 6))
    assert {"lr", "batch_size"} <= set(labels(text, 7, 3)) and "conv" not in labels(text, 7, 3)
    rounding = next(arg for arg in OPS["conv"].options if arg.name == "round")
    assert labels(text, 9, 18) == list(rounding.choices) and "floor" in rounding.choices
    assert labels("input 4\nnothing ", 2, 9) == [] and labels("input 4", 5, 1) == []


def test_hover_on_a_broken_spec_says_what_was_not_made():
    analysis = analyze("input 1x28x28\nconv 8 29x29 -> relu\naffine 10 -> reul\n", "broken.net")
    assert len(analysis.errors) == 2
    relu, _ = hover_markdown(analysis, 2, 18)
    assert "shape unknown" in relu
    bad, _ = hover_markdown(analysis, 3, 15)
    assert "not made" in bad


def test_formatting_declines_what_it_would_lose_and_keeps_line_endings():
    def formatted_text(text):
        return formatted(text, analyze(text, "f.net"))

    assert formatted_text("input 4\naffine 2 -> reul\n") == (None, "the spec has errors; fix them first")
    assert formatted_text("input 4\naffine 2  # two\n")[0] is None
    assert formatted_text("block b {\n  affine 2\n}\ninput 4\nb\n")[0] is None
    assert formatted_text('input 4\naffine 2\ntrain {\n  data "npz:a#b.npz"\n}\n')[0] is not None  # no comment
    assert formatted_text("input 4\r\naffine  2\r\n") == ("input 4\r\naffine 2\r\n", "")


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.net")), ids=lambda path: path.name)
def test_formatting_an_example_spec_gives_the_same_network_and_is_stable(path):
    text = "\n".join(code_of(line) for line in path.read_text(encoding="utf-8").split("\n")) + "\n"
    canonical, why = formatted(text, analyze(text, "f.net"))
    if "block" in text:
        assert canonical is None and "blocks" in why
        return
    assert canonical is not None, why
    assert formatted(canonical, analyze(canonical, "f.net")) == (canonical, "")
    before, after = text, canonical
    for stage in SPEC_STAGES:
        before, after = stage(before, "f.net"), stage(after, "f.net")
    assert [layer["name"] for layer in after["layers"]] == [layer["name"] for layer in before["layers"]]
    assert after["totals"] == before["totals"]


def test_a_document_too_large_or_a_failing_checker_is_one_diagnostic(monkeypatch):
    large = server.analyze_document("input 4\n" + "affine 2\n" * 20_000, "file:///big.net")
    assert [error.message.split(";")[0] for error in large.errors] == ["this file has 180,008 bytes"]

    def broken(text, filename):
        raise RuntimeError("a bug")

    monkeypatch.setattr(server, "analyze", broken)
    failed = server.analyze_document("input 4\naffine 2\n", "file:///x.net")
    assert len(failed.errors) == 1 and failed.errors[0].line == 1
    assert "netlang's checker failed on this file (RuntimeError: a bug); please report it" in failed.errors[0].message


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.net")), ids=lambda path: path.name)
def test_every_position_of_an_example_spec_has_an_answer_or_none(path):
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, path.name)
    hovered = 0
    for line, content in enumerate(text.split("\n"), 1):
        for col in range(1, len(content) + 2):
            found = hover_markdown(analysis, line, col)
            if found is not None:
                markdown, (where_line, where_col, width) = found
                assert markdown and 1 <= where_line <= line and where_col >= 1 and width >= 1
                hovered += 1
            assert definition(analysis, line, col) is None or "block" in text
            complete(text, line, col)
    assert hovered > 0
    symbols = document_symbols(analysis, Lines(text))
    assert [symbol.name for symbol in symbols if symbol.name == "input"] == ["input"]
