"""Checkpoints: named tensors plus the IR as JSON in one .npz, written atomically, read without pickle.

Reading never trusts the file: `NpzMembers` reads each member's .npy header first (dtype and shape, no data),
so a caller can compare them with what the network implies before a byte of data is read; object arrays
are refused (nothing is ever unpickled), a header may not claim more bytes than its member holds, and a bad
CRC, a truncated member or a duplicated name is a DataError naming the file and the member.
"""

from __future__ import annotations

import json
import math
import os
import tokenize
import zipfile
import zlib
from typing import IO, Any, NamedTuple

import numpy as np

from netlang.atomic import write_npz
from netlang.errors import DataError
from netlang.limits import MAX_CHECKPOINT_MEMBERS, MAX_CHECKPOINT_TEXT, MAX_NPY_HEADER_BYTES

IR_KEY = "__ir__"
MAX_MEMBERS = MAX_CHECKPOINT_MEMBERS
MAX_HEADER_BYTES = MAX_NPY_HEADER_BYTES
MAX_TEXT_BYTES = MAX_CHECKPOINT_TEXT

# Anything that reading a damaged zip member or .npy header raises (numpy tokenizes the header's Python dict).
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, TypeError,
               SyntaxError, tokenize.TokenError, RecursionError, NotImplementedError, OverflowError, MemoryError)


class Member(NamedTuple):
    """One array of an .npz archive as its header describes it."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int  # bytes of magic and header before the data


class NpzMembers:
    """An .npz archive opened for checked reading: `members` (name -> Member) now, each array on `read(name)`.

    Use as a context manager. Every problem is a DataError starting with the file's path.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise DataError(f"{self.path}: file not found") from None
        except IsADirectoryError:
            raise DataError(f"{self.path}: is a directory, not an .npz file") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
            raise DataError(f"{self.path}: not an .npz archive ({_reason(err)})") from None
        try:
            self.members = self._read_headers()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NpzMembers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def _read_headers(self) -> dict[str, Member]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DataError(f"{self.path}: {len(infos)} members, more than the {MAX_MEMBERS} a netlang file has")
        members: dict[str, Member] = {}
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise DataError(f"{self.path}: member '{shown(info.filename)}' is not an array (.npy)")
            name = info.filename[: -len(".npy")]
            if name in members:
                raise DataError(f"{self.path}: member '{shown(name)}' appears twice")
            members[name] = self._header(name, info)
            self._infos[name] = info
        return members

    def _header(self, name: str, info: zipfile.ZipInfo) -> Member:
        try:
            with self._zip.open(info) as file:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(file, MAX_HEADER_BYTES)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(file, MAX_HEADER_BYTES)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                offset = file.tell()
        except READ_ERRORS as err:
            raise DataError(f"{self.path}: member '{shown(name)}' is damaged ({_reason(err)})") from None
        if dtype.hasobject:
            raise DataError(
                f"{self.path}: member '{shown(name)}' holds Python objects, which netlang never unpickles"
            )
        shape = tuple(int(size) for size in shape)
        claimed = math.prod(shape) * dtype.itemsize
        if claimed + offset != info.file_size:
            raise DataError(
                f"{self.path}: member '{shown(name)}' is damaged (its header claims {claimed} bytes of data, "
                f"the member holds {max(info.file_size - offset, 0)})"
            )
        return Member(dtype, shape, bool(fortran), offset)

    def read(self, name: str) -> np.ndarray:
        """The array `name`, its data read and CRC-checked now; DataError for a damaged member."""
        member = self.members[name]
        size = math.prod(member.shape) * member.dtype.itemsize
        try:
            with self._zip.open(self._infos[name]) as file:
                _read_exactly(file, member.data_offset)
                data = _read_exactly(file, size)
                if file.read(1):  # also reaches the member's end, where zipfile checks the CRC
                    raise ValueError("data after the array")
        except READ_ERRORS as err:
            raise DataError(f"{self.path}: member '{shown(name)}' is damaged ({_reason(err)})") from None
        array = np.frombuffer(data, dtype=member.dtype)
        order = "F" if member.fortran_order else "C"
        return array.reshape(member.shape, order=order).copy()  # a writable array of its own


def _read_exactly(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise EOFError(f"expected {size} bytes, found {len(data)}")
    return data


def _reason(err: BaseException) -> str:
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


def shown(name: str) -> str:
    """A member name safe to print: control characters (terminal escapes) escaped, length bounded."""
    text = name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."


def check_tensor(path: str, name: str, member: Member, expected_shape: tuple[int, ...] | None = None) -> None:
    """DataError unless the member is a real floating-point array (of `expected_shape`, if given)."""
    if member.dtype.kind != "f":
        raise DataError(
            f"{path}: tensor '{shown(name)}' has dtype {member.dtype}, expected floating point (float32)"
        )
    if expected_shape is not None and tuple(member.shape) != tuple(expected_shape):
        raise DataError(
            f"{path}: tensor '{shown(name)}' has shape {list(member.shape)}, expected {list(expected_shape)}"
        )


def check_finite(path: str, name: str, array: np.ndarray) -> None:
    """DataError if a tensor holds NaN or infinity (a network with them only outputs NaN)."""
    if not np.isfinite(array).all():
        raise DataError(f"{path}: tensor '{shown(name)}' holds NaN or infinite values")


def read_text_member(archive: NpzMembers, name: str) -> str:
    """A 0-d unicode member (JSON and names are stored so); DataError naming it if it is anything else."""
    member = archive.members.get(name)
    if member is None:
        raise DataError(f"{archive.path}: member '{name}' is missing")
    if member.dtype.kind != "U" or member.shape != ():
        raise DataError(
            f"{archive.path}: member '{name}' should be text (a 0-d unicode array), "
            f"found dtype {member.dtype} and shape {list(member.shape)}"
        )
    if member.dtype.itemsize > MAX_TEXT_BYTES:
        raise DataError(f"{archive.path}: member '{name}' claims {member.dtype.itemsize} bytes of text, "
                        f"more than the {MAX_TEXT_BYTES} netlang reads")
    try:
        return str(archive.read(name)[()])
    except UnicodeError as err:
        raise DataError(f"{archive.path}: member '{name}' is damaged ({_reason(err)})") from None


def read_json_member(archive: NpzMembers, name: str) -> Any:
    """A JSON document stored as a 0-d unicode member; DataError naming it if it does not parse."""
    text = read_text_member(archive, name)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise DataError(f"{archive.path}: member '{name}' is not valid JSON ({_reason(err)})") from None


def write_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray], ir: dict[str, Any]) -> None:
    """Write tensors and the IR (as JSON text in a 0-d unicode array) to `path`, atomically."""
    write_npz(path, {**tensors, IR_KEY: np.array(json.dumps(ir))})


def read_checkpoint(
    path: str | os.PathLike, expected: dict[str, tuple[int, ...]] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """Read (tensors, IR or None) from a weights file; DataError for a missing, non-npz or damaged file.

    With `expected` (tensor name -> shape, e.g. from a built model), names and shapes are compared with it
    from the headers, before any data is read. Tensors must be finite floating-point arrays.
    """
    where = str(path)
    with NpzMembers(path) as archive:
        names = [name for name in archive.members if name != IR_KEY]
        if expected is not None:
            missing = [name for name in expected if name not in archive.members]
            unexpected = [name for name in names if name not in expected]
            if missing:
                raise DataError(f"{where}: tensor '{missing[0]}' is missing (expected {len(expected)} tensors)")
            if unexpected:
                raise DataError(
                    f"{where}: unexpected tensor '{shown(unexpected[0])}' (no such parameter or buffer)"
                )
        for name in names:
            check_tensor(where, name, archive.members[name], None if expected is None else expected[name])
        tensors = {}
        for name in names:
            tensors[name] = archive.read(name)
            check_finite(where, name, tensors[name])
        ir = read_json_member(archive, IR_KEY) if IR_KEY in archive.members else None
    if ir is not None and not isinstance(ir, dict):
        raise DataError(f"{where}: the stored IR ({IR_KEY}) is not a JSON object")
    return tensors, ir
