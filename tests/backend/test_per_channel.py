"""apply_per_channel and channel_dots: the same values as NumPy's broadcasting and sums, for every memory layout
they take a fast path on and every one they do not."""

from __future__ import annotations

import numpy as np
import pytest

from netlang.backend.base import apply_per_channel, channel_dots, memory_order


@pytest.mark.parametrize("shape", [(3, 5, 7, 4), (2, 16, 28, 28), (5, 1, 3, 3), (4, 6), (7, 3, 1, 1), (3, 7, 5, 11)])
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply])
def test_per_channel_arithmetic_equals_broadcasting(shape, layout, ufunc):
    rng = np.random.default_rng(0)
    if layout == "channels_last" and len(shape) > 2:
        order = (0, *range(2, len(shape)), 1)
        stored = tuple(shape[axis] for axis in order)
        a = rng.standard_normal(stored).astype(np.float32).transpose(np.argsort(order))
        out = np.empty(stored, np.float32).transpose(np.argsort(order))
    else:
        a = rng.standard_normal(shape).astype(np.float32)
        out = np.empty(shape, np.float32)
    values = rng.standard_normal(shape[1]).astype(np.float32)
    expected = ufunc(a, values.reshape((-1,) + (1,) * (len(shape) - 2)))
    result = apply_per_channel(ufunc, a, values, out)
    assert result is out and memory_order(out) == memory_order(a)
    np.testing.assert_array_equal(result, expected)
    apply_per_channel(ufunc, out, values, out)  # in place
    np.testing.assert_array_equal(out, ufunc(expected, values.reshape((-1,) + (1,) * (len(shape) - 2))))


@pytest.mark.parametrize("shape", [(3, 5, 7, 4), (2, 16, 28, 28), (5, 1, 3, 3), (4, 6), (7, 3, 1, 1), (2, 3, 4, 5, 6)])
@pytest.mark.parametrize("layouts", [("first", "first"), ("last", "last"), ("first", "last"), ("sliced", "first")])
def test_channel_dots_equal_the_sums_of_products(shape, layouts):
    rng = np.random.default_rng(1)

    def laid(layout):
        if layout == "last" and len(shape) > 2:
            order = (0, *range(2, len(shape)), 1)
            return rng.standard_normal(tuple(shape[axis] for axis in order)).transpose(np.argsort(order))
        if layout == "sliced":  # neither layout: every other sample of a larger batch
            return rng.standard_normal((2 * shape[0], *shape[1:]))[::2]
        return rng.standard_normal(shape)

    a, b = laid(layouts[0]), laid(layouts[1])
    expected = (a * b).sum(axis=(0, *range(2, len(shape))))
    np.testing.assert_allclose(channel_dots(a, b), expected, rtol=1e-12)
