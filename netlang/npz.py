"""Reading .npy arrays and .npz archives with every declared size checked first, never unpickling.

The one reader of NumPy files: data sets and predict inputs (netlang.data) and weights and checkpoints
(netlang.backend.checkpoint, netlang.train.checkpoint) all come through here. Writing is netlang.atomic's.

NumPy's own loader allocates whatever shape a header declares before reading a byte of data, and hands back
raw bytes for a non-array member. Here each .npy header is parsed with ast.literal_eval and checked (a plain
numeric or text dtype, at most limits.MAX_ARRAY_DIMS dimensions, a shape whose bytes fit the file or the zip
member exactly and, for data, the caller's byte budget) before anything is allocated; the data is then read
in bounded chunks, so a file claiming terabytes costs nothing. In an .npz, `NpzArchive` lists the members
(a name may appear once), reads a member's header without its data, and reads the data to its end, where
zipfile checks the CRC. Every problem is a DataError naming the file and the member.
"""

from __future__ import annotations

import ast
import lzma
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

import numpy as np

from netlang import limits
from netlang.errors import DataError

NPY_MAGIC = b"\x93NUMPY"
NPY_SUFFIX = ".npy"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # an archive of no members starts with its end record (np.savez() writes one)
CHUNK_BYTES = 1 << 20
LARGEST_ARRAY = np.iinfo(np.intp).max  # NumPy refuses any array of more bytes, even one with a zero dimension

# dtype kinds a file may hold: bool, integers, floats, complex and text. Objects (pickles), structured
# records, datetimes and raw bytes are refused when the header is read; callers refuse what they cannot use
# (complex and text as data, anything but floats as weights), with the member's role in the message.
READABLE_KINDS = "biufcUS"

# Exceptions the zip, zlib, bz2 and lzma layers raise for a damaged archive.
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


class DamagedArchive(DataError):
    """The zip layer refused the archive or one member (bad CRC, broken deflate stream, cut-off file).

    `reason` is zipfile's own words, so a caller may word the refusal for the whole archive instead.
    """

    def __init__(self, message: str, reason: str, *, file: str) -> None:
        super().__init__(message, file=file)
        self.reason = reason


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares: the dtype, the shape and the memory order of the data that follows."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int = 0  # bytes of magic and header before the data

    @property
    def nbytes(self) -> int:
        """The bytes of data the header promises (a Python int: no overflow for any declared shape)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def extent(self) -> int:
        """The bytes checked against a limit: nbytes with a zero dimension counted as one.

        So (0, 2**40, 2**40) is refused as NumPy itself refuses it, instead of passing as an empty array.
        """
        return extent(self.shape, self.dtype.itemsize)


def extent(shape: tuple[int, ...], itemsize: int) -> int:
    """The bytes of `shape` with zero dimensions counted as one: what a size limit must see of a header."""
    return math.prod(max(size, 1) for size in shape) * itemsize


def shown(name: str) -> str:
    """A member name safe to print: control characters (terminal escapes) escaped, length bounded."""
    text = name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."


def reason_of(error: BaseException) -> str:
    """An exception's message in one bounded line (its type's name when it has none)."""
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _subject(what: str, problem: str) -> str:
    """'member 'x' is truncated', or just 'is truncated' when the file itself is the array."""
    return f"{what} {problem}" if what else problem


# -- one .npy array: header, then data ------------------------------------------------------------------------


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
    offset = len(start) + len(length_bytes) + length
    return _checked_header(fields, offset, refuse)


def _checked_header(fields: object, offset: int, refuse) -> ArrayHeader:
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
        raise refuse(f"has dtype {dtype}; expected numbers or text")
    header = ArrayHeader(dtype=dtype, shape=shape, fortran_order=fortran_order, data_offset=offset)
    if header.extent > LARGEST_ARRAY:
        raise refuse(f"declares shape {shape} of {dtype} ({header.extent:,} bytes), more than any array can hold")
    return header


def read_data(
    stream: BinaryIO, header: ArrayHeader, available: int, *, budget: int | None = None, file: str, what: str
) -> np.ndarray:
    """The array whose data follows in `stream`, after checking its size against `available` and `budget`.

    `budget` is what is left of the data limit (limits.max_data_bytes()) for this file, or None for no limit.
    The array is read in chunks into memory of its own: writable, and never larger than the data read.
    """
    nbytes = header.nbytes
    if budget is not None and header.extent > budget:
        raise DataError(
            _subject(
                what,
                f"declares shape {header.shape} of {header.dtype} ({header.extent:,} bytes), over netlang's limit "
                f"of {limits.max_data_bytes():,} bytes per data file; {limits.data_limit_hint()}",
            ),
            file=file,
        )
    if nbytes > available:
        raise _truncated(header, available, file=file, what=what)
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


def _truncated(header: ArrayHeader, available: int, *, file: str, what: str) -> DataError:
    problem = (
        f"is truncated: shape {header.shape} of {header.dtype} takes {header.nbytes:,} bytes, "
        f"{max(available, 0):,} follow its header (the file is damaged or cut short)"
    )
    return DataError(_subject(what, problem), file=file)


def read_npy(path: str | os.PathLike, *, budget: int | None = None) -> np.ndarray:
    """The array in the .npy file at `path`; DataError for a missing, damaged or oversized file.

    `budget`: the most bytes the array may take (the data limit), or None for no limit.
    """
    file = str(path)
    try:
        with open(path, "rb") as stream:
            header = read_header(stream, file=file, what="")
            available = os.fstat(stream.fileno()).st_size - stream.tell()
            return read_data(stream, header, available, budget=budget, file=file, what="")
    except FileNotFoundError:
        raise DataError("no such file; expected a NumPy .npy array", file=file) from None
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=file) from None
    except MemoryError:
        raise DataError("does not fit in memory; expected a smaller NumPy .npy array", file=file) from None


# -- .npz archives: checked members ---------------------------------------------------------------------------


class NpzArchive:
    """An .npz archive opened for checked reading; use as a context manager.

    `names` lists the members (the .npy suffix dropped, as np.load does; each name at most once).
    `header(name)` reads one member's header, checked against the member's size, without its data;
    `members` reads every header (all members must be arrays, at most limits.MAX_CHECKPOINT_MEMBERS), so
    a caller can compare them with what it expects before any data is read; `read(name)` reads the data.
    Every problem is a DataError naming the file (a DamagedArchive when the zip layer refuses it).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            with open(path, "rb") as stream:
                if stream.read(len(ZIP_MAGIC)) not in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
                    raise self._refuse("is not a NumPy .npz archive (it does not start with a zip header)")
        except FileNotFoundError:
            raise self._refuse("no such file; expected a NumPy .npz archive") from None
        except IsADirectoryError:
            raise self._refuse("is a directory; expected a NumPy .npz archive") from None
        except OSError as error:
            raise self._refuse(f"cannot read the file ({error.strerror or error})") from None
        try:
            self._zip = zipfile.ZipFile(path)
        except MemoryError:
            raise self._refuse("does not fit in memory; expected a smaller NumPy .npz archive") from None
        except DAMAGED_ARCHIVE as error:
            reason = reason_of(error)
            raise DamagedArchive(f"is not a readable NumPy .npz archive ({reason})", reason, file=self.path) from None
        try:
            self._infos, self._arrays = self._list_members()
        except BaseException:
            self._zip.close()
            raise
        self.names = list(self._infos)
        self._headers: dict[str, ArrayHeader] = {}

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def _refuse(self, problem: str) -> DataError:
        return DataError(problem, file=self.path)

    def _list_members(self) -> tuple[dict[str, zipfile.ZipInfo], set[str]]:
        """(zip entry by member name, the names stored as .npy), refusing a name that appears twice."""
        infos: dict[str, zipfile.ZipInfo] = {}
        arrays = set()
        for info in self._zip.infolist():
            if info.filename.endswith("/"):  # a directory (ZipInfo.is_dir fails on an empty name)
                continue
            is_array = info.filename.endswith(NPY_SUFFIX)
            name = info.filename[: -len(NPY_SUFFIX)] if is_array else info.filename
            if name in infos:
                raise self._refuse(f"{_member_words(name)} appears twice")
            infos[name] = info
            if is_array:
                arrays.add(name)
        return infos, arrays

    @cached_property
    def members(self) -> dict[str, ArrayHeader]:
        """Every member's checked header, by name: each member must be an array (.npy), as netlang writes them."""
        if len(self.names) > limits.MAX_CHECKPOINT_MEMBERS:
            most = limits.MAX_CHECKPOINT_MEMBERS
            raise self._refuse(f"{len(self.names)} members, more than the {most} a netlang file has")
        for name in self.names:
            if name not in self._arrays:
                raise self._refuse(f"{_member_words(name)} is not an array (.npy)")
        return {name: self.header(name) for name in self.names}

    def header(self, name: str) -> ArrayHeader:
        """The checked header of member `name`: its data must fill the member exactly; no data is read."""
        if name not in self._headers:
            what = _member_words(name)
            info = self._infos[name]
            with self._opened(name) as stream:
                header = read_header(stream, file=self.path, what=what)
            available = info.file_size - header.data_offset
            if header.nbytes > available:
                raise _truncated(header, available, file=self.path, what=what)
            if header.nbytes < available:
                raise self._refuse(_trailing(what, header))
            self._headers[name] = header
        return self._headers[name]

    def read(self, name: str, *, budget: int | None = None) -> np.ndarray:
        """The array `name`, its data read to the member's end (where zipfile checks the CRC).

        `budget`: the most bytes it may take (what is left of the data limit), or None for no limit.
        """
        header = self.header(name)
        what = _member_words(name)
        with self._opened(name) as stream:
            stream.read(header.data_offset)  # the header, checked already
            array = read_data(stream, header, header.nbytes, budget=budget, file=self.path, what=what)
            if stream.read(1):  # reaches the member's end, where zipfile checks the CRC; header() matched sizes
                raise self._refuse(_trailing(what, header))
        return array

    @contextmanager
    def _opened(self, name: str) -> Iterator[BinaryIO]:
        """Member `name` open for reading; the zip layer's exceptions become a DamagedArchive naming it."""
        try:
            with self._zip.open(self._infos[name]) as stream:
                yield stream  # type: ignore[misc]
        except MemoryError:
            raise DataError(f"{_member_words(name)} does not fit in memory", file=self.path) from None
        except DAMAGED_ARCHIVE as error:
            reason = reason_of(error)
            raise DamagedArchive(f"{_member_words(name)} is damaged ({reason})", reason, file=self.path) from None


def _member_words(name: str) -> str:
    return f"member '{shown(name)}'"


def _trailing(what: str, header: ArrayHeader) -> str:
    return _subject(what, f"has bytes after its data (shape {header.shape} of {header.dtype}); expected none")


def read_npz(
    path: str | os.PathLike, wanted: Sequence[str] | None = None, *, budget: int | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """(arrays by name, every member name) of the .npz at `path`: only the `wanted` ones present, else all.

    Member names lose their .npy suffix, as with np.load. `budget`: the most bytes all the arrays read may
    take together (the data limit), or None for no limit. Raises DataError naming the file and the member.
    """
    try:
        with NpzArchive(path) as archive:
            selected = archive.names if wanted is None else [name for name in wanted if name in archive.names]
            arrays = {}
            for name in selected:
                arrays[name] = archive.read(name, budget=budget)
                if budget is not None:
                    budget -= arrays[name].nbytes
            return arrays, archive.names
    except DamagedArchive as error:
        # Data files have always been refused as a whole for zip-level damage (tests/data pin these words);
        # zipfile's reason names the member.
        raise DataError(f"is not a readable NumPy .npz archive ({error.reason})", file=str(path)) from None
