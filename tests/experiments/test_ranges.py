"""Search ranges: parsing, validation, and the seeded, log-uniform draw of each trial."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netlang.errors import UsageError
from netlang.experiments.ranges import DEFAULT_RANGES, parse_range, parse_ranges, ranges_of, sample_trial


def test_parses_log_linear_and_choice_ranges():
    log = parse_range("lr=1e-6:1e-2:log")
    assert (log.name, log.scale, log.low, log.high) == ("lr", "log", 1e-6, 1e-2)
    linear = parse_range("momentum=0.8:0.95")
    assert (linear.scale, linear.low, linear.high) == ("linear", 0.8, 0.95)
    choice = parse_range("batch-size=50,100,200")
    assert (choice.name, choice.scale, choice.choices) == ("batch_size", "choice", ("50", "100", "200"))
    assert parse_range("epochs=2:9").integer


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr", "FIELD=LOW:HIGH"),
        ("lrr=1e-6:1e-2:log", "did you mean 'lr'"),
        ("lr=1e-2:1e-6:log", "LOW must be below HIGH"),
        ("lr=0:1e-2:log", "log scale needs LOW > 0"),
        ("lr=a:b", "must be numbers"),
        ("lr=1e-6:1e-2:ln", "LOW:HIGH:log"),
        ("optimizer=sgd,adamm", "optimizer"),
        ("optimizer=1:2", "not a number"),
        ("momentum=0.5:1.5", "momentum"),
    ],
)
def test_malformed_ranges_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_range(text)


def test_defaults_are_the_seeds_ranges_and_a_field_may_not_repeat():
    assert [r.text() for r in parse_ranges([])] == ["lr=1e-06:0.01:log", "weight_decay=1e-08:0.0001:log"]
    assert list(DEFAULT_RANGES) == ["lr=1e-6:1e-2:log", "weight_decay=1e-8:1e-4:log"]
    with pytest.raises(UsageError, match="given twice"):
        parse_ranges(["lr=0.1:1", "lr=0.2:1"])


def test_a_trial_depends_only_on_the_search_seed_and_its_index():
    ranges = parse_ranges(["lr=1e-6:1e-2:log", "batch_size=50,100,200", "epochs=1:5"])
    first = [sample_trial(ranges, 7, trial) for trial in range(5)]
    assert [sample_trial(ranges, 7, trial) for trial in reversed(range(5))] == first[::-1]
    assert len({trial["lr"] for trial in first}) == 5
    assert sample_trial(ranges, 8, 0) != first[0]
    for trial in first:
        assert trial["batch_size"] in {"50", "100", "200"}
        assert trial["epochs"] in {"1", "2", "3", "4", "5"}


def test_log_ranges_are_uniform_in_the_exponent():
    ranges = parse_ranges(["lr=1e-6:1e-2:log"])
    exponents = np.array([math.log10(float(sample_trial(ranges, 0, k)["lr"])) for k in range(2000)])
    assert exponents.min() >= -6 and exponents.max() <= -2
    # Uniform on (-6, -2): a quarter of the draws in each decade, mean -4.
    counts, _ = np.histogram(exponents, bins=4, range=(-6, -2))
    assert np.all(np.abs(counts / 2000 - 0.25) < 0.04), counts
    assert abs(exponents.mean() + 4) < 0.1


def test_command_line_ranges_replace_the_specs_own_field_by_field():

    ir = {"search": {"lr": {"value": "1e-5:1e-1:log"}, "batch_size": {"value": "50,100"}}}
    texts = [searched.text() for searched in ranges_of(ir, ["lr=1e-3:1e-2:log", "momentum=0.5:0.9"])]
    assert texts == ["lr=0.001:0.01:log", "batch_size=50,100", "momentum=0.5:0.9:linear"]
    assert [searched.name for searched in ranges_of({}, [])] == ["lr", "weight_decay"]


def test_spec_search_section_gives_the_ranges():
    from netlang.language.compiler import compile_ir

    ir = compile_ir("input 4\naffine 2 -> softmax\nsearch {\n  lr 1e-4:1e-1:log\n  batch_size 10,20\n}\n")
    assert [searched.text() for searched in ranges_of(ir, [])] == ["lr=0.0001:0.1:log", "batch_size=10,20"]


def test_a_bad_range_in_the_spec_points_at_it():
    from netlang.errors import SchemaError
    from netlang.language.compiler import compile_ir

    with pytest.raises(SchemaError) as caught:  # by compiling, as `check` does, with the search's own message
        compile_ir("input 4\naffine 2 -> softmax\nsearch {\n  lr 1e-1:1e-4:log\n}\n", filename="s.net")
    assert (caught.value.file, caught.value.line, caught.value.col) == ("s.net", 4, 6)
    assert "LOW must be below HIGH" in caught.value.message
