"""How steps use the cores (netlang/backend/parallel.py): shards fixed by the work, and the number of shards that
run at once chosen from timed steps, without changing a single bit of what a step computes."""

from __future__ import annotations

import numpy as np
import pytest

from netlang.backend import build, parallel
from netlang.backend.parallel import ConcurrencyChooser, single_threaded_blas
from netlang.language.compiler import compile_ir
from netlang.language.trainfields import resolve_training
from netlang.train.optimizers import Adam

SPECS = [
    "input 4x8x8\nconv 6 3x3 pad 1 -> batchnorm -> relu -> pool 2 -> affine 12 -> batchnorm -> relu -> dropout 0.3"
    " -> affine 10 -> softmax\n",
    "input 3x8x8\nconv 4 3x3 pad 1 -> batchnorm -> relu\n(conv 4 3x3 pad 1 -> batchnorm + identity) -> relu"
    " -> affine 10 -> softmax\n",
]


@pytest.fixture
def two_blas_threads(monkeypatch):
    """Shard training steps in two whatever this machine's BLAS is set to, however small the step."""
    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_MACS", 0)


def trained(spec: str, concurrency: int | None, steps: int = 3) -> tuple[dict, list[float], list[np.ndarray]]:
    """(state, losses, predictions) after `steps` Adam steps, the shards run `concurrency` at a time (None: as
    the model's chooser says)."""
    ir = compile_ir(spec)
    model = build(ir, loss=resolve_training(ir)["loss"], seed=1)
    if concurrency is not None:
        model.choosers["train", 2] = ConcurrencyChooser.fixed(2, concurrency)
        model.choosers["infer", 2] = ConcurrencyChooser.fixed(2, concurrency)
    rng = np.random.default_rng(0)
    optimizer, losses, predictions = Adam(lr=1e-2), [], []
    for _ in range(steps):
        x, labels = rng.standard_normal((70, *ir["input"]["shape"])), rng.integers(0, 10, 70)
        loss, grads, _ = model.loss_and_gradients(x, labels)
        optimizer.update(model.params, grads)
        losses.append(loss)
        predictions.append(model.predict(x, batch_size=70))
    assert len(model._copies) == 2
    return {name: value.copy() for name, value in model.state_dict().items()}, losses, predictions


@pytest.mark.parametrize("spec", SPECS, ids=["chain", "residual"])
def test_shards_in_turn_or_at_once_compute_the_same_bits(two_blas_threads, spec):
    at_once, in_turn, chosen = trained(spec, 2), trained(spec, 1), trained(spec, None, steps=12)
    assert at_once[1] == in_turn[1] == chosen[1][:3]
    for state in (in_turn[0],):
        for name, value in at_once[0].items():
            np.testing.assert_array_equal(value, state[name], err_msg=name)
    for a, b in zip(at_once[2], in_turn[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_chooser_keeps_the_faster_way_and_looks_again_when_steps_slow_down():
    chooser = ConcurrencyChooser(2)
    seconds = {2: 1.0, 1: 2.0}  # shards at once twice as fast
    for _ in range(2 + 2 * ConcurrencyChooser.PROBE_STEPS):  # one untimed warm-up step each, then alternating
        concurrency = chooser.next()
        chooser.record(concurrency, seconds[concurrency])
    assert chooser.choice == 2 and chooser.history == [2]
    seconds = {2: 5.0, 1: 3.0}  # a neighbour starts: now one at a time is faster
    concurrencies = []
    settle = ConcurrencyChooser.SETTLE_STEPS
    for _ in range(settle + 2 * ConcurrencyChooser.PROBE_STEPS):
        concurrencies.append(chooser.next())
        chooser.record(concurrencies[-1], seconds[concurrencies[-1]])
    assert concurrencies[:settle] == [2] * settle  # slow steps, then it probes both ways again (warm now)
    assert sorted(concurrencies[settle:]) == [1, 1, 1, 2, 2, 2]
    assert chooser.choice == 1 and chooser.history == [2, 1]
    for _ in range(ConcurrencyChooser.RECHECK_EVERY):  # steady: no probe until RECHECK_EVERY steps have passed
        assert chooser.next() == 1
        chooser.record(1, 3.0)
    assert chooser.choice is None  # probing again


def test_one_shard_needs_no_choice():
    chooser = ConcurrencyChooser(1)
    chooser.record(chooser.next(), 1.0)
    assert chooser.next() == 1 and chooser.candidates == (1,)


def test_single_threaded_blas_restores_the_setting():
    before = parallel.blas_threads()
    with single_threaded_blas():
        assert parallel.blas_threads() == 1
    assert parallel.blas_threads() == before
