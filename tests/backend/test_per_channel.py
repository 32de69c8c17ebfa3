"""apply_per_channel: the same values as NumPy's broadcasting, for every memory layout it takes a fast path on
and every one it does not."""

from __future__ import annotations

import numpy as np
import pytest

from netlang.backend.base import apply_per_channel, memory_order


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
