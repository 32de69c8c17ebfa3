"""The IDX reader: round trips, gzip detection, and a DataError naming the file for every malformed input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from netlang.data.idx import read_idx
from netlang.errors import DataError


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">f4"])
def test_round_trip(tmp_path, make_idx, gzipped, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = make_idx(array)
    path = tmp_path / ("a.idx.gz" if gzipped else "a.idx")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    result = read_idx(path)
    assert result.shape == (2, 3, 4)
    assert result.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(result, array)


def refusal(tmp_path, data: bytes) -> str:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_refuses_bad_magic(tmp_path):
    assert "is not an IDX file: it starts with 50 4b 03 04" in refusal(tmp_path, b"PK\x03\x04rest")
    assert "starts with nothing" in refusal(tmp_path, b"")


def test_refuses_unknown_dtype_code(tmp_path):
    message = refusal(tmp_path, bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 9]))
    assert "unknown IDX dtype code 0x07; expected one of 0x08, 0x09" in message


def test_refuses_zero_dimensions(tmp_path):
    assert "0 dimensions; expected 1 to 32" in refusal(tmp_path, bytes([0, 0, 0x08, 0]))
    assert "100 dimensions; expected 1 to 32" in refusal(tmp_path, bytes([0, 0, 0x08, 100]) + bytes(400))


def test_refuses_truncated_header(tmp_path):
    message = refusal(tmp_path, bytes([0, 0, 0x08, 3, 0, 0, 0, 2]))
    assert "header declares 3 dimensions (16 bytes) but the file has 8 bytes" in message


def test_refuses_length_mismatch(tmp_path, make_idx):
    data = make_idx(np.zeros((2, 28, 28), dtype=np.uint8))
    assert "is truncated: an IDX array of shape (2, 28, 28)" in refusal(tmp_path, data[:-1])
    trailing = f"has trailing bytes: an IDX array of shape (2, 28, 28) and dtype uint8 takes {len(data)} bytes"
    assert trailing in refusal(tmp_path, data + b"x")


def test_refuses_damaged_gzip(tmp_path, make_idx):
    compressed = gzip.compress(make_idx(np.zeros((4, 4), dtype=np.uint8)))
    assert "is a damaged gzip file" in refusal(tmp_path, compressed[:-6])
    corrupted = bytearray(compressed)
    corrupted[12] ^= 0xFF
    assert "is a damaged gzip file" in refusal(tmp_path, bytes(corrupted))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read the file"):
        read_idx(tmp_path / "absent")
