"""The logic-gate data sets `xor`, `and`, `or`, `nand`: a 4-row truth table, for training and test."""

from __future__ import annotations

import numpy as np

from netlang.data.dataset import Dataset

GATE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)

# Outputs for the rows of GATE_INPUTS, in the same order.
GATE_OUTPUTS = {
    "xor": (0, 1, 1, 0),
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
}


def load_gate(name: str) -> Dataset:
    """The truth table of gate `name` (a key of GATE_OUTPUTS) as a Dataset with train = test."""
    labels = np.array(GATE_OUTPUTS[name], dtype=np.int64)
    return Dataset(
        name=name,
        x_train=GATE_INPUTS.copy(),
        y_train=labels,
        x_test=GATE_INPUTS.copy(),
        y_test=labels.copy(),
        classes=["0", "1"],
    )
