"""Each optimizer against updates worked out by hand for a few steps, and its state round-tripping."""

import numpy as np
import pytest

from netlang.train.optimizers import (
    DEFAULT_LR,
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
)


def run_steps(optimizer, gradients, start=1.0):
    """Apply one update per gradient to a single parameter starting at `start`; the value after each step."""
    params = {"fc.W": np.array([start])}
    values = []
    for gradient in gradients:
        optimizer.update(params, {"fc.W": np.array([gradient])})
        values.append(float(params["fc.W"][0]))
    return values


def test_sgd_steps_against_the_gradient():
    # 1 - 0.1*0.5 = 0.95;  0.95 - 0.1*(-1) = 1.05
    assert run_steps(SGD(lr=0.1), [0.5, -1.0]) == pytest.approx([0.95, 1.05])


def test_momentum_accumulates_velocity():
    # v1 = -0.05, p = 0.95;  v2 = 0.9*-0.05 - 0.05 = -0.095, p = 0.855
    # v3 = 0.9*-0.095 + 0.1 = 0.0145, p = 0.8695
    values = run_steps(Momentum(lr=0.1, momentum=0.9), [0.5, 0.5, -1.0])
    assert values == pytest.approx([0.95, 0.855, 0.8695])


def test_nesterov_matches_sutskever_look_ahead_on_a_quadratic():
    # f(theta) = theta^2 / 2, so grad = theta.
    # Sutskever et al.: v' = mu*v - lr*grad(theta + mu*v), theta' = theta + v'.
    # theta0 = 1, v0 = 0: v1 = -0.1, theta1 = 0.9, look-ahead 0.9 + 0.9*-0.1 = 0.81
    # v2 = 0.9*-0.1 - 0.1*0.81 = -0.171, theta2 = 0.729, look-ahead 0.729 + 0.9*-0.171 = 0.5751
    # The stored parameter is the look-ahead point, so the gradient is simply the parameter itself.
    optimizer = Nesterov(lr=0.1, momentum=0.9)
    params = {"x.W": np.array([1.0])}
    seen = []
    for _ in range(2):
        optimizer.update(params, {"x.W": params["x.W"].copy()})
        seen.append(float(params["x.W"][0]))
    assert seen == pytest.approx([0.81, 0.5751])
    # (the book's variant, mu^2 * v_new, would give 0.729 after the first step)


def test_nesterov_equals_pytorch_formulation_for_constant_lr():
    # PyTorch: buf = mu*buf + g; p -= lr*(g + mu*buf).
    # g = 0.5, 0.5: p = 1 - 0.095 = 0.905; then 0.905 - 0.1355 = 0.7695
    assert run_steps(Nesterov(lr=0.1, momentum=0.9), [0.5, 0.5]) == pytest.approx([0.905, 0.7695])


def test_adagrad_divides_by_root_of_summed_squares():
    # h1 = 0.25: p = 1 - 0.1*0.5/0.5 = 0.9;  h2 = 1.25: p = 0.9 + 0.1/sqrt(1.25) = 0.98944271910
    values = run_steps(AdaGrad(lr=0.1, eps=0.0), [0.5, -1.0])
    assert values == pytest.approx([0.9, 0.98944271910], rel=1e-10)


def test_rmsprop_uses_a_decaying_average_of_squares():
    # h1 = 0.1*0.25 = 0.025: p = 1 - 0.005/sqrt(0.025) = 0.96837722340
    # h2 = 0.9*0.025 + 0.025 = 0.0475: p = 0.96837722340 - 0.005/sqrt(0.0475) = 0.94543565001
    values = run_steps(RMSprop(lr=0.01, rho=0.9, eps=0.0), [0.5, 0.5])
    assert values == pytest.approx([0.96837722340, 0.94543565001], rel=1e-10)


def test_adam_is_bias_corrected():
    # Step 1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25: p = 1 - 0.1*0.5/0.5 = 0.9 (eps aside)
    # Step 2 (g = -1): m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975,
    # m_hat = -0.055/0.19 = -0.28947368, v_hat = 0.00124975/0.001999 = 0.62518759:
    # p = 0.9 + 0.1*0.28947368/0.79068805
    values = run_steps(Adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8), [0.5, -1.0])
    assert values == pytest.approx([0.9, 0.93661035224], rel=1e-7)


def test_adam_with_a_constant_gradient_moves_lr_per_step():
    # With bias correction m_hat = g and v_hat = g^2 from the first step on, so each step is lr * sign(g).
    values = run_steps(Adam(lr=0.01), [3.0, 3.0, 3.0])
    assert values == pytest.approx([0.99, 0.98, 0.97], rel=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(0)
    grads = [{"a.W": rng.normal(size=(3, 2)), "a.b": rng.normal(size=2)} for _ in range(3)]
    config = {"optimizer": name, "lr": 0.05, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
              "rho": 0.99}
    straight = make_optimizer(config)
    params = {"a.W": np.ones((3, 2)), "a.b": np.zeros(2)}
    for g in grads:
        straight.update(params, g)

    first = make_optimizer(config)
    resumed_params = {"a.W": np.ones((3, 2)), "a.b": np.zeros(2)}
    for g in grads[:2]:
        first.update(resumed_params, g)
    saved = {key: np.array(value) for key, value in first.state_dict().items()}
    second = make_optimizer(config)
    second.load_state_dict(saved)
    second.update(resumed_params, grads[2])

    for key in params:
        np.testing.assert_array_equal(params[key], resumed_params[key])
    assert second.steps == 3


def test_loaded_state_is_a_copy():
    optimizer = Momentum(lr=0.1)
    optimizer.update({"a.W": np.ones(2)}, {"a.W": np.ones(2)})
    state = optimizer.state_dict()
    restored = Momentum(lr=0.1)
    restored.load_state_dict(state)
    restored.update({"a.W": np.ones(2)}, {"a.W": np.ones(2)})
    np.testing.assert_array_equal(state["v/a.W"], [-0.1, -0.1])


def test_registry_and_default_learning_rates():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    assert set(DEFAULT_LR) == set(OPTIMIZERS)
    assert make_optimizer({"optimizer": "adam", "lr": None}).lr == 0.001
    assert make_optimizer({"optimizer": "sgd", "lr": None}).lr == 0.01
    assert make_optimizer({"optimizer": "momentum", "lr": 0.5, "momentum": 0.5}).momentum == 0.5
