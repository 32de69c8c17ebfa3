"""The IDX file format of MNIST and Fashion-MNIST, gzipped or not, read with full validation.

An IDX file is: two zero bytes, a dtype code byte, a dimension count byte, one big-endian uint32 per
dimension, then the values, big-endian, in C order. Nothing more may follow.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from netlang.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# The IDX dtype code -> the NumPy dtype of its values (IDX values are big-endian).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzip detected by content); raises DataError."""
    return parse_idx(read_maybe_gzipped(path), file=str(path))


def read_maybe_gzipped(path: str | Path) -> bytes:
    """The bytes of a file, decompressed if it starts with the gzip magic number; raises DataError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=str(path)) from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"is a damaged gzip file ({error}); delete it so it can be fetched again", file=str(path)
        ) from None


def parse_idx(data: bytes, *, file: str) -> np.ndarray:
    """The array encoded by the IDX bytes `data`; `file` names the source in a DataError."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(
            f"is not an IDX file: it starts with {data[:4].hex(' ') or 'nothing'}, "
            "expected 00 00 <dtype> <ndim>",
            file=file,
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{known:02X}" for known in IDX_DTYPES)
        raise DataError(f"has unknown IDX dtype code 0x{code:02X}; expected one of {known}", file=file)
    if ndim == 0:
        raise DataError("is an IDX file with 0 dimensions; expected at least 1", file=file)
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"is truncated: its header declares {ndim} dimensions ({header_size} bytes) "
            f"but the file has {len(data)} bytes",
            file=file,
        )
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{problem}: an IDX array of shape {shape} and dtype {dtype.name} takes {expected} bytes, "
            f"the file has {len(data)}",
            file=file,
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="))
