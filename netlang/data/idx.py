"""The IDX file format of MNIST and Fashion-MNIST, gzipped or not, read with full validation.

An IDX file is: two zero bytes, a dtype code byte, a dimension count byte, one big-endian uint32 per
dimension, then the values, big-endian, in C order. Nothing more may follow.

The file is read as a stream: the header first, its declared size checked (in Python integers, so no
product of dimensions overflows) against limits.max_data_bytes() and the caller's expectations, and only
then the values, in bounded chunks. A gzip member is inflated only as far as the header says, so a small
file that inflates to gigabytes is refused after reading one byte more than its header promised.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netlang import limits
from netlang.errors import DataError
from netlang.npz import extent

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20

# The IDX dtype code -> the NumPy dtype of its values (IDX values are big-endian).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Called with the (native) dtype and the shape a header declares, before any value is read; raises DataError.
HeaderCheck = Callable[[np.dtype, tuple[int, ...]], None]


def read_idx(path: str | Path, check_header: HeaderCheck | None = None) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzip detected by content); raises DataError.

    `check_header`, if given, sees the declared dtype and shape before any value is read.
    """
    file = str(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
            raw.seek(0)
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
            try:
                return _read_stream(stream, file, check_header)
            except (EOFError, zlib.error, gzip.BadGzipFile) as error:
                raise DataError(
                    f"is a damaged gzip file ({error}); delete it so it can be fetched again", file=file
                ) from None
    except MemoryError:
        raise DataError("does not fit in memory", file=file) from None
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=file) from None


def _read_stream(stream: BinaryIO, file: str, check_header: HeaderCheck | None) -> np.ndarray:
    """The IDX array read from `stream`: header, checks, then exactly the declared values and nothing more."""
    start = stream.read(4)
    if len(start) < 4 or start[0] != 0 or start[1] != 0:
        raise DataError(
            f"is not an IDX file: it starts with {start[:4].hex(' ') or 'nothing'}, expected 00 00 <dtype> <ndim>",
            file=file,
        )
    code, ndim = start[2], start[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{known:02X}" for known in IDX_DTYPES)
        raise DataError(f"has unknown IDX dtype code 0x{code:02X}; expected one of {known}", file=file)
    if not 1 <= ndim <= limits.MAX_ARRAY_DIMS:
        raise DataError(f"is an IDX file with {ndim} dimensions; expected 1 to {limits.MAX_ARRAY_DIMS}", file=file)
    header_size = 4 + 4 * ndim
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(
            f"is truncated: its header declares {ndim} dimensions ({header_size} bytes) "
            f"but the file has {4 + len(sizes)} bytes",
            file=file,
        )
    shape = tuple(int(size) for size in np.frombuffer(sizes, dtype=">u4"))
    dtype = IDX_DTYPES[code]
    data_size = math.prod(shape) * dtype.itemsize
    expected = header_size + data_size
    if check_header is not None:  # first: a file of the wrong kind is told so, not told to raise a limit
        check_header(dtype.newbyteorder("="), shape)
    if extent(shape, dtype.itemsize) > limits.max_data_bytes():
        raise DataError(
            f"declares an IDX array of shape {shape} and dtype {dtype.name} ({extent(shape, dtype.itemsize):,} "
            "bytes), over netlang's "
            f"limit of {limits.max_data_bytes():,} bytes per data file; {limits.data_limit_hint()}",
            file=file,
        )
    values = _read_exactly(stream, data_size)
    if len(values) < data_size:
        raise DataError(
            f"is truncated: an IDX array of shape {shape} and dtype {dtype.name} takes {expected} bytes, "
            f"the file has {header_size + len(values)}",
            file=file,
        )
    if stream.read(1):
        raise DataError(
            f"has trailing bytes: an IDX array of shape {shape} and dtype {dtype.name} takes {expected} bytes, "
            "the file has more",
            file=file,
        )
    return np.frombuffer(values, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    """Up to `size` bytes from `stream`, fewer only at its end; memory grows with what is actually read."""
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(min(CHUNK_BYTES, size - len(data)))
        if not chunk:
            break
        data += chunk
    return data
