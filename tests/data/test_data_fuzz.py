"""Fuzzing the data ways in: mutated npz data sets, .npy inputs, IDX files and PNG images.

Each example starts from a valid file and applies a few mutations (byte flips, truncation, inserted bytes,
header fields set to huge or odd values, with the PNG CRC recomputed so the decoder sees the field). The only
outcomes allowed are a result or a NetlangError. Time is bounded by Hypothesis' deadline, memory by a 4 MiB
data limit (NETLANG_MAX_DATA_BYTES) and by the limits checked before any declared size is allocated.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlang.data import decode_png, load_dataset, read_inputs
from netlang.data.idx import read_idx
from netlang.errors import NetlangError

FUZZ = settings(
    # A longer campaign: NETLANG_FUZZ_EXAMPLES=5000 python -m pytest tests/data/test_data_fuzz.py
    max_examples=int(os.environ.get("NETLANG_FUZZ_EXAMPLES", "60")),
    deadline=2000,  # milliseconds per example: far above the few the largest legal case takes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HUGE_SIZES = st.sampled_from([0, 1, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 10**12, 2**63 - 1, 2**64])


@pytest.fixture(autouse=True)
def small_data_limit(monkeypatch):
    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", str(4 << 20))


def npz_bytes(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(6, 4, 4), dtype=np.uint8),
        "y_train": np.arange(6) % 3,
        "x_test": rng.random((3, 1, 4, 4)).astype(np.float32),
        "y_test": np.array([0.0, 1.0, 2.0]),
        "classes": np.array(["a", "b", "c"]),
    }
    stream = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(stream, **arrays)
    return stream.getvalue()


def byte_mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` with a few flips, overwrites with huge little- or big-endian numbers, insertions or a truncation."""
    position = st.integers(0, max(len(data) - 1, 0))
    flip = st.tuples(st.just("flip"), position, st.integers(1, 255))
    number = st.tuples(st.just("number"), position, HUGE_SIZES, st.sampled_from(["<I", ">I", "<Q"]))
    insert = st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16))
    cut = st.tuples(st.just("cut"), position)
    return st.lists(st.one_of(flip, number, insert, cut), min_size=1, max_size=4).map(
        lambda edits: apply_edits(data, edits)
    )


def apply_edits(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for edit in edits:
        kind, at = edit[0], min(edit[1], max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= edit[2]
        elif kind == "number":
            fmt = edit[3]
            value = edit[2] % (1 << (8 * struct.calcsize(fmt)))
            out[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
        elif kind == "insert":
            out[at:at] = edit[2]
        elif kind == "cut":
            del out[at:]
    return bytes(out)


def header_edits(data: bytes) -> st.SearchStrategy[bytes]:
    """The npz with the text of every array header rewritten: huge or odd shapes and dtypes (stored npz only)."""
    shapes = st.sampled_from(
        ["(10**12,)", "(99999999999, 4, 4)", "(6, 4, 4, 0)", "()", "(-1,)", "(6, 4)", "[6]", str((1,) * 70), "(6.0,)"]
    )
    descrs = st.sampled_from(["'|O'", "'<U99999999'", "'<c16'", "'V8'", "[('a', '<f4')]", "'<M8[s]'", "'|b1'"])

    def rewrite(choice):
        shape, descr = choice
        text = re.sub(rb"'shape': \([0-9, ]*\)", b"'shape': " + shape.encode(), data, count=1)
        return re.sub(rb"'descr': '[^']*'", b"'descr': " + descr.encode(), text, count=1)

    return st.tuples(shapes, descrs).map(rewrite)


def outcome(load) -> object:
    """Run `load`; a NetlangError is an allowed outcome, any other exception fails the test."""
    try:
        return load()
    except NetlangError as error:
        assert error.format().strip(), "an error must say something"
        return error


@FUZZ
@given(st.one_of(byte_mutations(npz_bytes(False)), byte_mutations(npz_bytes(True)), header_edits(npz_bytes(False))))
def test_mutated_npz_data_sets(tmp_path, data):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    result = outcome(lambda: load_dataset(f"npz:{path}"))
    if not isinstance(result, NetlangError):
        assert result.x_train.dtype == np.float32 and np.isfinite(result.x_train).all()


def npy_bytes() -> bytes:
    stream = io.BytesIO()
    np.save(stream, np.linspace(0, 1, 32, dtype=np.float32).reshape(2, 1, 4, 4))
    return stream.getvalue()


@FUZZ
@given(byte_mutations(npy_bytes()))
def test_mutated_npy_inputs(tmp_path, data):
    path = tmp_path / "fuzz.npy"
    path.write_bytes(data)
    result = outcome(lambda: read_inputs([path], input_shape=(1, 4, 4)))
    if not isinstance(result, NetlangError):
        assert result.dtype == np.float32 and np.isfinite(result).all()


def idx_bytes() -> bytes:
    labels = np.arange(10, dtype=np.uint8)
    return bytes([0, 0, 0x08, 1]) + struct.pack(">I", len(labels)) + labels.tobytes()


@FUZZ
@given(
    st.one_of(
        byte_mutations(idx_bytes()),
        byte_mutations(idx_bytes()).map(gzip.compress),  # mutated IDX inside an intact gzip member
        byte_mutations(gzip.compress(idx_bytes())),  # a damaged gzip stream
    )
)
def test_mutated_idx_files(tmp_path, data):
    path = tmp_path / "fuzz-idx1-ubyte"
    path.write_bytes(data)
    outcome(lambda: read_idx(path))


@FUZZ
@given(st.integers(0, 255), st.lists(HUGE_SIZES.map(lambda size: size % 2**32), max_size=80), st.binary(max_size=64))
def test_idx_headers_declaring_anything(tmp_path, code, shape, values):
    data = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + values
    path = tmp_path / "fuzz-idx3-ubyte"
    for content in (data, gzip.compress(data)):
        path.write_bytes(content)
        outcome(lambda: read_idx(path))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(width=4, height=4, depth=8, color_type=0, interlace=0, idat=None) -> bytes:
    """A valid small PNG, or one whose IHDR fields or IDAT payload were replaced (CRCs always right)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color_type, 1)
    row = bytes((4 * channels * depth + 7) // 8)
    payload = zlib.compress(b"".join(bytes([filter_type % 5]) + row for filter_type in range(4)))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    palette = png_chunk(b"PLTE", bytes(range(12))) if color_type == 3 else b""
    body = idat if idat is not None else payload
    chunks = png_chunk(b"IHDR", ihdr) + palette + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


PNG_FIELDS = st.builds(
    png_file,
    width=st.one_of(st.integers(1, 64), HUGE_SIZES.map(lambda size: size % 2**32)),
    height=st.one_of(st.integers(1, 64), HUGE_SIZES.map(lambda size: size % 2**32)),
    depth=st.sampled_from([1, 2, 4, 8, 16, 3, 255]),
    color_type=st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
    interlace=st.sampled_from([0, 0, 0, 1, 2]),
    idat=st.one_of(
        st.none(),
        st.binary(max_size=64),
        st.integers(0, 1 << 22).map(lambda size: zlib.compress(bytes(size), 9)),  # deflate bombs, up to 4 MB
    ),
)


@FUZZ
@given(st.one_of(byte_mutations(png_file()), PNG_FIELDS))
def test_mutated_png_images(tmp_path, data):
    result = outcome(lambda: decode_png(data, file="fuzz.png"))
    if not isinstance(result, NetlangError):
        assert result.dtype == np.float32 and result.ndim == 2
    path = tmp_path / "fuzz.png"
    path.write_bytes(data)
    outcome(lambda: read_inputs([path], input_shape=(1, 4, 4)))
