"""Search ranges over training fields: parsing `name=LOW:HIGH[:log]` or `name=A,B,C`, and sampling them.

A trial's values are a pure function of (search seed, trial index), so a resumed search draws exactly the
values the interrupted one would have drawn, whichever trials already finished and in whatever order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netlang.errors import SchemaError, UsageError
from netlang.language.trainfields import field_schemas, resolve_training
from netlang.lazy import numpy as np  # `check` reads the search section's ranges without NumPy

# The seeds' hyperparameter search (Deep Learning from Scratch, ch. 6.5): lr 10^U(-6,-2), weight decay
# 10^U(-8,-4), both sampled uniformly in the exponent.
DEFAULT_RANGES = ("lr=1e-6:1e-2:log", "weight_decay=1e-8:1e-4:log")
SCALES = ("log", "linear")


@dataclass(frozen=True)
class Range:
    """One searched field: a continuous interval (log or linear scale) or a list of choices (texts)."""

    name: str
    scale: str  # "log", "linear" or "choice"
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()
    integer: bool = False

    def text(self) -> str:
        """The range as written on the command line (normalised)."""
        if self.scale == "choice":
            return f"{self.name}={','.join(self.choices)}"
        return f"{self.name}={self.low:g}:{self.high:g}:{self.scale}"

    def sample(self, rng) -> str:
        """One value, as the text a spec or --set would hold."""
        if self.scale == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.scale == "log":
            value = 10 ** rng.uniform(math.log10(self.low), math.log10(self.high))
        else:
            value = rng.uniform(self.low, self.high)
        return str(int(round(value))) if self.integer else f"{value:.4g}"


def parse_range(text: str) -> Range:
    """`lr=1e-6:1e-2:log`, `momentum=0.8:0.99`, `batch_size=50,100,200` -> Range; UsageError if malformed."""
    fields = field_schemas()
    name, sep, body = text.partition("=")
    name = name.strip().replace("-", "_")
    example = "(for example --range lr=1e-6:1e-2:log or --range batch_size=50,100,200)"
    if not sep or not name or not body.strip():
        raise UsageError(f"--range expects FIELD=LOW:HIGH[:log] or FIELD=A,B,...; received '{text}' {example}")
    if name not in fields:
        raise UsageError(f"--range: unknown training field '{name}'{_hint(name, fields)}")
    body = body.strip()
    if ":" not in body:
        choices = tuple(choice.strip() for choice in body.split(",") if choice.strip())
        for choice in choices:
            _check_value(name, choice)
        return Range(name, "choice", choices=choices)
    return _interval(name, body, text, fields[name])


def _interval(name: str, body: str, text: str, schema: dict) -> Range:
    parts = body.split(":")
    scale = parts.pop() if len(parts) == 3 else "linear"
    if len(parts) != 2 or scale not in SCALES:
        raise UsageError(f"--range {text}: expected LOW:HIGH, LOW:HIGH:log or LOW:HIGH:linear")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(
            f"--range {text}: LOW and HIGH must be numbers, received '{parts[0]}' and '{parts[1]}'"
        ) from None
    types = schema.get("type", "string")
    types = set(types) if isinstance(types, list) else {types}
    if not types & {"number", "integer"}:
        raise UsageError(f"--range {text}: '{name}' is not a number; give choices instead ({name}=A,B,...)")
    if not low < high:
        raise UsageError(f"--range {text}: LOW must be below HIGH, received {low:g} and {high:g}")
    if scale == "log" and low <= 0:
        raise UsageError(f"--range {text}: a log scale needs LOW > 0, received {low:g}")
    integer = "integer" in types
    for bound in (low, high):
        _check_value(name, str(int(round(bound))) if integer else repr(bound))
    return Range(name, scale, low, high, integer=integer)


def _check_value(name: str, value: str) -> None:
    try:
        resolve_training({}, {name: value})
    except UsageError as err:
        raise UsageError(f"--range {name}: {err.message}") from None


def _hint(name: str, fields) -> str:
    from netlang.errors import did_you_mean

    return did_you_mean(name, fields) or f"; the fields are: {', '.join(fields)}"


def parse_ranges(texts: list[str]) -> list[Range]:
    """The --range options (or the seeds' defaults when there are none); a field given twice is an error."""
    ranges = [parse_range(text) for text in (texts or DEFAULT_RANGES)]
    seen: set[str] = set()
    for searched in ranges:
        if searched.name in seen:
            raise UsageError(f"--range: '{searched.name}' is given twice")
        seen.add(searched.name)
    return ranges


def ranges_of(ir: dict, texts: list[str]) -> list[Range]:
    """The search ranges: the spec's `search { lr 1e-6:1e-2:log }` section (IR `search`: {field: {"value",
    "pos"}}), with each --range text replacing the spec's range for its field; the seeds' defaults when
    neither gives any. A bad range in the spec is a SchemaError at its line and column.
    """
    given = {text.partition("=")[0].strip().replace("-", "_"): text for text in texts}
    for name, entry in ir.get("search", {}).items():
        if name in given:
            continue
        try:
            parse_range(f"{name}={entry['value']}")
        except UsageError as err:
            message = err.message.replace("--range ", "search range ", 1)
            raise SchemaError(message).at(entry.get("pos"), ir.get("source")) from None
    from_spec = {name: f"{name}={entry['value']}" for name, entry in ir.get("search", {}).items()}
    merged = {**from_spec, **given}
    return parse_ranges(list(merged.values()))


def sample_trial(ranges: list[Range], search_seed: int, trial: int) -> dict[str, str]:
    """Trial `trial`'s values: drawn from a generator seeded by (search seed, trial) only."""
    rng = np.random.default_rng([search_seed, trial])
    return {searched.name: searched.sample(rng) for searched in ranges}
