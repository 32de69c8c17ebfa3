"""Golden reports: every example spec's summary table and JSON, and spec -> IR -> IR giving identical reports.

Regenerate after an intended change with:  NETLANG_UPDATE_GOLDEN=1 python -m pytest tests/frontend/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from netlang.language.compiler import compile_ir
from netlang.language.report import summary_data, summary_table

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SPECS = sorted((ROOT / "specs").glob("*.net"))


def _check(path: Path, text: str) -> None:
    if os.environ.get("NETLANG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with NETLANG_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _run_from_the_repository(monkeypatch):
    monkeypatch.chdir(ROOT)  # reports name the spec by the path it was given


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_summary_table_matches_golden(spec):
    ir = compile_ir(spec.relative_to(ROOT))
    _check(GOLDEN / f"{spec.stem}.summary.txt", summary_table(ir) + "\n")


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_summary_json_matches_golden(spec):
    ir = compile_ir(spec.relative_to(ROOT))
    _check(GOLDEN / f"{spec.stem}.summary.json", json.dumps(summary_data(ir), indent=1) + "\n")


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_spec_to_ir_to_ir_gives_identical_reports(spec, tmp_path):
    ir = compile_ir(spec.relative_to(ROOT))
    ir_file = tmp_path / "model.json"
    ir_file.write_text(json.dumps(ir), encoding="utf-8")
    again = compile_ir(ir_file)
    # The model read is now the IR file: it is named, and positions point into it; the rest is the same.
    assert again["source"] == str(ir_file)
    assert summary_table(again).replace(str(ir_file), ir["source"]) == summary_table(ir)
    assert {**summary_data(again), "source": ir["source"]} == {**summary_data(ir), "source": ir["source"]}
    assert compile_ir(again) == again


def test_book_figures():
    figures = {s.stem: compile_ir(s)["totals"] for s in SPECS}
    assert figures["simple_convnet"]["params"] == 433_890
    assert figures["simple_convnet"]["macs"] == 865_000
    assert figures["deep_convnet"]["params"] == 123_552
    assert figures["lenet5"]["params"] == 61_706
    assert figures["two_layer"]["params"] == 784 * 50 + 50 + 50 * 10 + 10
    assert figures["three_layer"]["params"] == 2 * 3 + 3 + 3 * 2 + 2 + 2 * 2 + 2


def test_readme_shows_the_real_summary(capsys):
    from netlang.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ netlang summary specs/simple_convnet.net\n", 1)[1].split("```", 1)[0]
    assert main(["summary", "specs/simple_convnet.net"]) == 0
    assert capsys.readouterr().out == shown
