"""Shared fixtures for the experiment commands: a tiny network on the embedded digits, trained in a blink."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_DIGITS = """# a tiny convnet for the embedded digits
input 1x8x8
conv 4 3x3 pad 1 -> relu -> pool 2   # 4x4x4
affine 10 -> softmax

train {
  data digits   # 1,797 8x8 digits
  batch_size 50
  epochs 7
}
"""


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    path = tmp_path / "tiny.net"
    path.write_text(TINY_DIGITS, encoding="utf-8")
    return path
