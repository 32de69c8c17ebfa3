"""netlang: write a neural network as text; get its shapes, costs and a NumPy training pipeline.

    import netlang
    model = netlang.compile("specs/simple_convnet.net")   # a path, spec text, or an IR dict
"""

from __future__ import annotations

from typing import Any

from netlang.errors import NetlangError

__version__ = "0.1.0"
__all__ = ["NetlangError", "__version__", "compile", "compile_ir"]


def compile_ir(source: Any, filename: str | None = None) -> dict[str, Any]:
    """A spec path, spec text or IR dict -> the validated, shape-inferred IR (plain JSON data)."""
    from netlang.language.compiler import compile_ir as _compile_ir

    return _compile_ir(source, filename)


def compile(source: Any, *, dtype: str = "float32", seed: int = 0, init: str | None = None):  # noqa: A001
    """A spec path, spec text or IR dict -> an executable Model (see netlang.backend), with the loss and init
    of its training section unless `init` says otherwise."""
    from netlang.backend import build
    from netlang.language.trainfields import resolve_training

    ir = compile_ir(source)
    config = resolve_training(ir)
    return build(ir, loss=config["loss"], init=init or config["init"], dtype=dtype, seed=seed)
