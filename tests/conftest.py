"""Shared fixtures: the repository's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file in a temporary directory and return its path."""

    def write(text: str, name: str = "spec.net") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        return path

    return write
