"""Shared helpers for the data tests: writers for small IDX and PNG files, so no test needs real data.

They are fixtures (returning functions) because test modules here are not importable as a package.
"""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np
import pytest

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of `array` (uint8, int8, >i2 or >f4)."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_set(directory, n_train: int = 6, n_test: int = 4, *, gzipped: bool = True, seed: int = 0):
    """Write the four MNIST-style IDX files into `directory`; returns (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = []
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gzipped:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
        arrays += [images, labels]
    return tuple(arrays)


def _paeth(left: int, up: int, upper_left: int) -> int:
    # Written from the PNG specification, independently of netlang/data/png.py.
    p = left + up - upper_left
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
    if pa <= pb and pa <= pc:
        return left
    if pb <= pc:
        return up
    return upper_left


def _filter_row(kind: int, row: bytes, previous: bytes, bpp: int) -> bytes:
    out = bytearray()
    for i, value in enumerate(row):
        left = row[i - bpp] if i >= bpp else 0
        up = previous[i]
        upper_left = previous[i - bpp] if i >= bpp else 0
        prediction = (0, left, up, (left + up) // 2, _paeth(left, up, upper_left))[kind]
        out.append((value - prediction) % 256)
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(
    samples: np.ndarray,
    *,
    color_type: int,
    depth: int = 8,
    filters: tuple[int, ...] = (0,),
    palette: bytes | None = None,
    transparency: bytes | None = None,
    interlace: int = 0,
    idat_parts: int = 1,
    extra_chunks: tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    """A minimal PNG encoder: `samples` (H, W, C) integers; row y uses filter filters[y % len(filters)]."""
    height, width, channels = samples.shape
    if depth == 16:
        rows = [samples[y].astype(">u2").tobytes() for y in range(height)]
    elif depth == 8:
        rows = [samples[y].astype(np.uint8).tobytes() for y in range(height)]
    else:
        rows = []
        for y in range(height):
            bits = np.unpackbits(samples[y, :, 0].astype(np.uint8)[:, np.newaxis], axis=1)[:, 8 - depth :]
            rows.append(np.packbits(bits.reshape(-1)).tobytes())
    bpp = max(1, channels * depth // 8)
    previous = bytes(len(rows[0]))
    filtered = bytearray()
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        filtered += bytes([kind]) + _filter_row(kind, row, previous, bpp)
        previous = row
    compressed = zlib.compress(bytes(filtered))
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    for kind, body in extra_chunks:
        out += _chunk(kind, body)
    if palette is not None:
        out += _chunk(b"PLTE", palette)
    if transparency is not None:
        out += _chunk(b"tRNS", transparency)
    step = -(-len(compressed) // idat_parts)
    for start in range(0, len(compressed), step):
        out += _chunk(b"IDAT", compressed[start : start + step])
    return out + _chunk(b"IEND", b"")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never touch the network: the default downloader serves file:// URLs only."""
    from netlang.data import fetch

    real_open = fetch._open_url

    def local_only(url: str):
        if not url.startswith("file:"):
            raise AssertionError(f"a test tried to download {url}")
        return real_open(url)

    monkeypatch.setattr(fetch, "_open_url", local_only)


@pytest.fixture
def make_idx():
    return idx_bytes


@pytest.fixture
def make_idx_set():
    return write_idx_set


@pytest.fixture
def make_png():
    return png_bytes
