"""A tiny stand-in model and data for the training tests (imported by conftest and the test modules).

The stand-in is softmax regression with input dropout and a running-mean buffer, so that the tests exercise
everything a checkpoint must carry (parameters, buffers, the dropout generator) in microseconds per step.
"""

from __future__ import annotations

import numpy as np

from netlang.train.loop import Split

DROPOUT = 0.2


class TinyModel:
    """Softmax regression x @ W + b with input dropout in training mode: an engine of its own
    (netlang.engine.Model), which the trainer and optimizers must serve as well as the NumPy backend."""

    loss_name = "cross_entropy"
    xp = np
    dtype = np.dtype(np.float32)
    ir: dict = {}

    def __init__(self, n_in: int, n_out: int, seed: int) -> None:
        init = np.random.default_rng(seed)
        self.params = {
            "fc.W": (0.1 * init.standard_normal((n_in, n_out))).astype(np.float32),
            "fc.b": np.zeros(n_out, dtype=np.float32),
        }
        self.buffers = {"fc.running_mean": np.zeros(n_in, dtype=np.float32)}
        self.rng = np.random.default_rng(seed + 1000)

    def _probabilities(self, x: np.ndarray, train: bool) -> tuple[np.ndarray, np.ndarray]:
        if train:
            keep = self.rng.random(x.shape) >= DROPOUT
            x = x * keep / np.float32(1 - DROPOUT)
            self.buffers["fc.running_mean"] *= np.float32(0.9)
            self.buffers["fc.running_mean"] += np.float32(0.1) * x.mean(axis=0)
        logits = x @ self.params["fc.W"] + self.params["fc.b"]
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return x, exp / exp.sum(axis=1, keepdims=True)

    def loss_and_gradients(self, x, t):
        x, probs = self._probabilities(x, train=True)
        n = len(x)
        loss = float(-np.mean(np.log(probs[np.arange(n), t] + 1e-7)))
        dlogits = probs.copy()
        dlogits[np.arange(n), t] -= 1
        dlogits /= n
        grads = {"fc.W": x.T @ dlogits, "fc.b": dlogits.sum(axis=0)}
        return loss, grads, probs

    def loss(self, x, t, train=True):
        _, probs = self._probabilities(x, train=train)
        return float(-np.mean(np.log(probs[np.arange(len(x)), t] + 1e-7)))

    def evaluate_batch(self, x, t):
        _, probs = self._probabilities(x, train=False)
        return float(-np.mean(np.log(probs[np.arange(len(x)), t] + 1e-7))), probs

    def forward(self, x, train):
        return self._probabilities(x, train=train)[1]

    def predict(self, x, batch_size=1000):
        return self._probabilities(x, train=False)[1]

    def state_dict(self):
        return {key: value.copy() for key, value in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state, origin="state dict"):
        for key, value in state.items():
            target = self.params[key] if key in self.params else self.buffers[key]
            target[...] = value

    def save(self, path):
        with open(path, "wb") as file:
            np.savez(file, **self.state_dict())

    def load(self, path):
        with np.load(path) as npz:
            self.load_state_dict({key: npz[key] for key in npz.files})


def tiny_split(seed: int = 0, n_train: int = 120, n_val: int = 30, n_test: int = 40) -> Split:
    """Three Gaussian blobs in 4 dimensions: easy to learn, never perfectly."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.5, (3, 4))

    def blobs(n):
        y = rng.integers(0, 3, n)
        x = centers[y] + rng.normal(0, 1.0, (n, 4))
        return x.astype(np.float32), y.astype(np.int64)

    return Split(*blobs(n_train), *blobs(n_val), *blobs(n_test))


def base_config(**changes):
    config = {
        "data": "blobs", "loss": "auto", "optimizer": "momentum", "lr": 0.1, "momentum": 0.9, "beta1": 0.9,
        "beta2": 0.999, "eps": 1e-8, "rho": 0.99, "epochs": 2, "batch_size": 16, "init": "auto",
        "weight_decay": 0.0, "val_split": 0.2, "seed": 0, "schedule": "none", "step_size": 10, "gamma": 0.1,
        "min_lr": 0.0, "patience": 0,
    }
    config.update(changes)
    return config


TINY_IR = {
    "netlang": 1,
    "source": "tiny.net",
    "input": {"shape": [4]},
    "layers": [
        {"name": "fc", "op": "affine", "args": {"units": 3}, "param_shapes": {"W": [4, 3], "b": [3]},
         "buffer_shapes": {}},
        {"name": "softmax1", "op": "softmax", "args": {}},
    ],
}


