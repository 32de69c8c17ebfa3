"""Learning-rate schedules (the lr of each epoch) and early stopping on the validation loss.

Epochs are counted from 0 here: epoch 0 always trains at the base learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def constant_lr(config: dict[str, Any], base: float, epoch: int) -> float:
    """schedule none: the base learning rate throughout."""
    return base


def step_lr(config: dict[str, Any], base: float, epoch: int) -> float:
    """schedule step: lr * gamma^(epoch // step_size)."""
    return base * config["gamma"] ** (epoch // config["step_size"])


def cosine_lr(config: dict[str, Any], base: float, epoch: int) -> float:
    """schedule cosine: min_lr + (lr - min_lr) * (1 + cos(pi * epoch / epochs)) / 2, then min_lr past the end."""
    low = config["min_lr"]
    epoch = min(epoch, config["epochs"])
    return low + (base - low) * (1.0 + math.cos(math.pi * epoch / config["epochs"])) / 2.0


#: The schedule keyword of a train section -> f(config, base_lr, epoch) -> lr for that epoch.
SCHEDULES: dict[str, Callable[[dict[str, Any], float, int], float]] = {
    "none": constant_lr,
    "step": step_lr,
    "cosine": cosine_lr,
}


def epoch_lr(config: dict[str, Any], base: float, epoch: int) -> float:
    """The learning rate for 0-based `epoch` under config["schedule"]."""
    return SCHEDULES[config["schedule"]](config, base, epoch)


class EarlyStopping:
    """Tracks the best validation loss; says stop after `patience` epochs without improvement (0 = never)."""

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best_loss = math.inf
        self.best_epoch = 0  # 1-based epoch number of the best validation loss; 0 = none yet
        self.epochs_without_improvement = 0

    def observe(self, epoch: int, val_loss: float) -> bool:
        """Record the validation loss of 1-based `epoch`; True when it is the best so far."""
        if val_loss < self.best_loss:
            self.best_loss = val_loss
            self.best_epoch = epoch
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once `patience` epochs in a row brought no improvement (never when patience is 0)."""
        return self.patience > 0 and self.epochs_without_improvement >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Scalars for a checkpoint."""
        return {
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "epochs_without_improvement": self.epochs_without_improvement,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict wrote."""
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.epochs_without_improvement = int(state["epochs_without_improvement"])
