"""NumPy imported at its first use, for the modules that `netlang check` and `summary` load.

An op keeps its NumPy layer beside its signature and shape rule (netlang/ops/), so the front end imports
the modules that hold the layers. `check` and `summary` must still start without NumPy: its import is about
0.1 s of a 0.25 s run. Those modules write `from netlang.lazy import numpy as np`. The first attribute read
imports NumPy; each attribute is then stored on the stand-in, so a later `np.matmul` costs one attribute
lookup, as on the module itself.
"""

from __future__ import annotations

import importlib
from typing import Any


class _Deferred:
    """A module's stand-in that imports it when an attribute is first read."""

    def __init__(self, module_name: str) -> None:
        self._module_name = module_name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self._module_name), attribute)
        setattr(self, attribute, value)
        return value


numpy: Any = _Deferred("numpy")
