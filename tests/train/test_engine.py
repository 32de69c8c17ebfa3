"""The engine interface (netlang/engine.py): the NumPy backend and the training tests' stand-in both implement
it, and the optimizers serve any engine's array module, giving the same updates on NumPy and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_model import TinyModel

from netlang.backend import build
from netlang.engine import Model
from netlang.language.compiler import compile_ir
from netlang.train.optimizers import OPTIMIZERS


def test_the_numpy_backend_and_the_stand_in_implement_the_engine_interface():
    assert isinstance(build(compile_ir("input 3\naffine 2 -> softmax\n")), Model)
    assert isinstance(TinyModel(4, 3, seed=0), Model)
    assert not isinstance(object(), Model)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizers_give_the_same_updates_on_numpy_and_torch_arrays(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = {"a.W": rng.standard_normal((3, 4)), "a.b": rng.standard_normal(4)}
    steps = [{key: rng.standard_normal(value.shape) for key, value in params.items()} for _ in range(4)]
    on_numpy = {key: value.copy() for key, value in params.items()}
    on_torch = {key: torch.from_numpy(value.copy()) for key, value in params.items()}
    numpy_optimizer, torch_optimizer = OPTIMIZERS[name](0.05), OPTIMIZERS[name](0.05, xp=torch)
    for grads in steps:
        numpy_optimizer.update(on_numpy, grads)
        torch_optimizer.update(on_torch, {key: torch.from_numpy(value) for key, value in grads.items()})
    for key, value in on_numpy.items():
        assert not np.allclose(value, params[key])
        np.testing.assert_allclose(on_torch[key].numpy(), value, rtol=1e-12, atol=1e-15)
    restored = OPTIMIZERS[name](0.05, xp=torch)
    restored.load_state_dict({k: np.asarray(v) for k, v in torch_optimizer.state_dict().items()})
    assert all(isinstance(array, torch.Tensor) for arrays in restored.state.values() for array in arrays.values())
