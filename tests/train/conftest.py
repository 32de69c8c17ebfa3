"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_model import TINY_IR, TinyModel, base_config, tiny_split

from netlang.train.loop import Trainer


@pytest.fixture
def make_trainer():
    """make_trainer(out_dir, **config changes) -> a Trainer on the tiny model and data."""

    def make(out_dir: Path, model=None, **changes) -> Trainer:
        config = base_config(**changes)
        model = model or TinyModel(4, 3, seed=config["seed"])
        return Trainer(model, TINY_IR, config, tiny_split(), out_dir)

    return make
