"""Reading .npy arrays and .npz archives with every declared size checked first, never unpickling.

NumPy's own loader allocates whatever shape a header declares before reading a byte of data, and hands back
raw bytes for a non-array member. Here each array header is parsed and checked (a plain numeric or text
dtype, a shape whose bytes fit the file, the member and limits.MAX_DATA_BYTES) before anything is allocated,
and the data is then read in bounded chunks, so a file claiming terabytes costs nothing.
"""

from __future__ import annotations

import ast
import lzma
import math
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netlang import limits
from netlang.errors import DataError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # an archive of no members starts with its end record (np.savez() writes one)
NPY_SUFFIX = ".npy"
CHUNK_BYTES = 1 << 20

# dtype kinds a data file may hold: bool, integers, floats, complex and text. Objects (pickles), structured
# records, datetimes and raw bytes are refused when the header is read; complex and text are refused later,
# with the member's role in the message, where numbers are needed.
READABLE_KINDS = "biufcUS"

# Exceptions the zip, zlib, bz2 and lzma layers raise for a damaged archive (all become DataError).
DAMAGED_ARCHIVE = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # an unknown compression method
    RuntimeError,  # an encrypted member
    struct.error,
    IndexError,  # a damaged extra field in a zip header
    OverflowError,
)


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares: the dtype, the shape and the memory order of the data that follows."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        """The bytes of data the header promises (a Python int: no overflow for any declared shape)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def extent(self) -> int:
        """The bytes checked against the limit: nbytes with a zero dimension counted as one.

        So (0, 2**40, 2**40) is refused as NumPy itself refuses it, instead of passing as an empty array.
        """
        return extent(self.shape, self.dtype.itemsize)


def extent(shape: tuple[int, ...], itemsize: int) -> int:
    """The bytes of `shape` with zero dimensions counted as one: what a size limit must see of a header."""
    return math.prod(max(size, 1) for size in shape) * itemsize


def read_npy(path: str | Path) -> np.ndarray:
    """The array in the .npy file at `path`; raises DataError for a missing, damaged or oversized file."""
    file = str(path)
    try:
        with open(path, "rb") as stream:
            header = read_header(stream, file=file, what="")
            available = Path(path).stat().st_size - stream.tell()
            return read_data(stream, header, available, budget=limits.max_data_bytes(), file=file, what="")
    except FileNotFoundError:
        raise DataError("no such file; expected a NumPy .npy array", file=file) from None
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=file) from None
    except MemoryError:
        raise DataError("does not fit in memory; expected a smaller NumPy .npy array", file=file) from None


def read_npz(path: str | Path, wanted: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """(arrays by name, every member name) of the .npz at `path`: only the `wanted` ones present, else all.

    Member names lose their .npy suffix, as with np.load. Raises DataError naming the file and the member.
    """
    file = str(path)
    try:
        with open(path, "rb") as stream:
            if stream.read(len(ZIP_MAGIC)) not in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
                raise DataError("is not a NumPy .npz archive (it does not start with a zip header)", file=file)
    except FileNotFoundError:
        raise DataError("no such file; expected a NumPy .npz archive", file=file) from None
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=file) from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = {_array_name(info.filename): info for info in archive.infolist() if not info.is_dir()}
            names = list(members)
            selected = names if wanted is None else [name for name in wanted if name in members]
            budget = limits.max_data_bytes()
            arrays = {}
            for name in selected:
                arrays[name] = _read_member(archive, members[name], budget, file=file, what=f"member '{name}'")
                budget -= arrays[name].nbytes
            return arrays, names
    except DataError:
        raise
    except MemoryError:
        raise DataError("does not fit in memory; expected a smaller NumPy .npz archive", file=file) from None
    except DAMAGED_ARCHIVE as error:
        raise DataError(f"is not a readable NumPy .npz archive ({error})", file=file) from None


def _array_name(member: str) -> str:
    return member[: -len(NPY_SUFFIX)] if member.endswith(NPY_SUFFIX) else member


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, *, file: str, what: str) -> np.ndarray:
    """One member's array, its header checked against the member's declared size before reading the data."""
    with archive.open(info) as stream:
        header = read_header(stream, file=file, what=what)
        available = info.file_size - stream.tell()
        array = read_data(stream, header, available, budget=budget, file=file, what=what)
        # Reaching the member's end is what makes zipfile check its CRC; anything more is refused unread.
        if stream.read(1):
            raise DataError(
                _subject(what, f"has bytes after its data (shape {header.shape} of {header.dtype}); expected none"),
                file=file,
            )
        return array


def read_header(stream: BinaryIO, *, file: str, what: str) -> ArrayHeader:
    """The parsed and checked .npy header at the stream's position; `what` names the array in a DataError."""

    def refuse(problem: str) -> DataError:
        return DataError(_subject(what, problem), file=file)

    start = stream.read(len(NPY_MAGIC) + 2)
    if len(start) < len(NPY_MAGIC) + 2 or not start.startswith(NPY_MAGIC):
        raise refuse(f"is not a NumPy .npy array (it does not start with {NPY_MAGIC!r})")
    version = (start[-2], start[-1])
    if version not in ((1, 0), (2, 0), (3, 0)):
        found = f"{version[0]}.{version[1]}"
        raise refuse(f"is a .npy array of unknown format version {found}; expected 1.0, 2.0 or 3.0")
    length_format = "<H" if version == (1, 0) else "<I"
    length_bytes = stream.read(struct.calcsize(length_format))
    if len(length_bytes) < struct.calcsize(length_format):
        raise refuse("is a truncated .npy array (its header is cut off)")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > limits.MAX_NPY_HEADER_BYTES:
        most = limits.MAX_NPY_HEADER_BYTES
        raise refuse(f"has a {length}-byte .npy header; expected at most {most} bytes")
    raw = stream.read(length)
    if len(raw) < length:
        raise refuse("is a truncated .npy array (its header is cut off)")
    try:
        text = raw.decode("utf-8" if version == (3, 0) else "latin-1")
        fields = ast.literal_eval(text)
    except (UnicodeDecodeError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise refuse("has a damaged .npy header (not a Python dict literal)") from None
    return _checked_header(fields, refuse)


def _subject(what: str, problem: str) -> str:
    """'member 'x' is truncated', or just 'is truncated' when the file itself is the array."""
    return f"{what} {problem}" if what else problem


def _checked_header(fields: object, refuse) -> ArrayHeader:
    """The ArrayHeader for the header dict `fields`, or the DataError built by `refuse` for what is wrong."""
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise refuse("has a damaged .npy header (expected the keys descr, fortran_order and shape)")
    shape, fortran_order, descr = fields["shape"], fields["fortran_order"], fields["descr"]
    if not isinstance(shape, tuple) or not all(type(size) is int and size >= 0 for size in shape):
        raise refuse(f"has a damaged .npy header: shape {shape!r} is not a tuple of sizes")
    if len(shape) > limits.MAX_ARRAY_DIMS:
        raise refuse(f"has {len(shape)} dimensions; expected at most {limits.MAX_ARRAY_DIMS}")
    if not isinstance(fortran_order, bool):
        raise refuse(f"has a damaged .npy header: fortran_order {fortran_order!r} is not True or False")
    if not isinstance(descr, str):
        raise refuse("holds a structured array (records with fields); expected a plain array of numbers")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError, MemoryError, RecursionError):
        raise refuse(f"has a damaged .npy header: unknown dtype {descr[:40]!r}") from None
    if dtype.hasobject:
        raise refuse("holds Python objects, which netlang never unpickles; save plain numeric arrays")
    if dtype.kind not in READABLE_KINDS or dtype.itemsize == 0:
        raise refuse(f"has dtype {dtype}; expected numbers (integer pixels, floats or class labels)")
    return ArrayHeader(dtype=dtype, shape=shape, fortran_order=fortran_order)


def read_data(
    stream: BinaryIO, header: ArrayHeader, available: int, *, budget: int, file: str, what: str
) -> np.ndarray:
    """The array whose data follows in `stream`, after checking its size against `available` and `budget`."""
    nbytes = header.nbytes
    if header.extent > budget:
        raise DataError(
            _subject(
                what,
                f"declares shape {header.shape} of {header.dtype} ({header.extent:,} bytes), over netlang's limit "
                f"of {limits.max_data_bytes():,} bytes per data file; {limits.data_limit_hint()}",
            ),
            file=file,
        )
    if nbytes > available:
        raise DataError(
            _subject(
                what,
                f"is truncated: shape {header.shape} of {header.dtype} takes {nbytes:,} bytes, "
                f"{max(available, 0):,} follow its header",
            ),
            file=file,
        )
    buffer = np.empty(nbytes, dtype=np.uint8)  # not touched, so not in memory, until filled
    view = memoryview(buffer)
    filled = 0
    while filled < nbytes:
        count = stream.readinto(view[filled : filled + CHUNK_BYTES])
        if not count:
            problem = f"is truncated: its data ends after {filled:,} of {nbytes:,} bytes"
            raise DataError(_subject(what, problem), file=file)
        filled += count
    order = "F" if header.fortran_order else "C"
    return buffer.view(header.dtype).reshape(header.shape, order=order)
