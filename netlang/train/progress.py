"""What training prints: a live progress bar on a terminal, one plain line per epoch otherwise.

The bar (on stderr, redrawn at most ten times a second) shows the epoch, a bar, steps done, the running
loss and accuracy, samples per second and the time left in the epoch. The per-epoch summary line goes to
stdout in both cases, so a log file gets exactly one line per epoch.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def format_duration(seconds: float) -> str:
    """1:05, 12:00, 1:02:03."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_epoch_line(record: dict[str, Any], epochs: int) -> str:
    """The summary of one finished epoch, from its metrics record."""
    width = len(str(epochs))
    text = (
        f"epoch {record['epoch']:>{width}}/{epochs}  "
        f"loss {record['train_loss']:.4f}  acc {100 * record['train_acc']:6.2f}%"
    )
    if record.get("val_loss") is not None:
        text += f"  val_loss {record['val_loss']:.4f}  val_acc {100 * record['val_acc']:6.2f}%"
    for name in ("train_eval", "test"):  # present when the config's `measure` asks for them
        if record.get(f"{name}_acc") is not None:
            text += f"  {name}_acc {100 * record[f'{name}_acc']:6.2f}%"
    text += f"  lr {record['lr']:.3g}  {record['seconds']:.1f}s"
    return text


class Progress:
    """Reports training progress; `live` draws the in-epoch bar (default: when stderr is a terminal)."""

    def __init__(
        self, out: TextIO | None = None, bar: TextIO | None = None, live: bool | None = None
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.bar = bar if bar is not None else sys.stderr
        self.live = _is_terminal(self.bar) if live is None else live
        self._epoch = 0
        self._epochs = 0
        self._steps = 0
        self._started = 0.0
        self._first_step = 0
        self._last_draw = 0.0

    def message(self, text: str) -> None:
        """A line of information (what is being trained, where results go)."""
        self._clear()
        print(text, file=self.out, flush=True)

    def start_epoch(self, epoch: int, epochs: int, steps: int, first_step: int = 0) -> None:
        """An epoch (1-based) of `steps` steps begins, at `first_step` when resumed mid-epoch."""
        self._epoch, self._epochs, self._steps = epoch, epochs, steps
        self._first_step = first_step
        self._started = time.perf_counter()
        self._last_draw = 0.0

    def step(self, done: int, samples: int, loss: float, acc: float) -> None:
        """`done` steps of this epoch are finished, `samples` samples seen since start_epoch."""
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < REDRAW_SECONDS and done < self._steps:
            return
        self._last_draw = now
        elapsed = max(now - self._started, 1e-9)
        rate = samples / elapsed
        steps_run = max(done - self._first_step, 1)
        remaining = elapsed / steps_run * (self._steps - done)
        filled = BAR_WIDTH * done // max(self._steps, 1)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = (
            f"\repoch {self._epoch}/{self._epochs} [{bar}] {done}/{self._steps}  "
            f"loss {loss:.4f}  acc {100 * acc:6.2f}%  {rate:,.0f} samples/s  ETA {format_duration(remaining)}"
        )
        self.bar.write(text + "\x1b[K")
        self.bar.flush()

    def end_epoch(self, record: dict[str, Any]) -> None:
        """Print the finished epoch's summary line."""
        self._clear()
        print(format_epoch_line(record, self._epochs), file=self.out, flush=True)

    def _clear(self) -> None:
        if self.live:
            self.bar.write("\r\x1b[K")
            self.bar.flush()


class Silent(Progress):
    """Prints nothing (library use and tests)."""

    def __init__(self) -> None:
        super().__init__(live=False)

    def message(self, text: str) -> None:
        pass

    def end_epoch(self, record: dict[str, Any]) -> None:
        pass


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
