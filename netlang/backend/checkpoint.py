"""Checkpoints: named tensors plus the IR as JSON in one .npz, written atomically, read without pickle.

Reading never trusts the file: netlang.npz's NpzArchive reads each member's .npy header first (dtype and
shape, no data), so a caller can compare them with what the network implies before a byte of data is read;
object arrays are refused (nothing is ever unpickled), a header may not claim more or fewer bytes than its
member holds, and a bad CRC, a truncated member or a duplicated name is a DataError naming the file and the
member. What this module adds is what a checkpoint's members must be: finite floating-point tensors, and
text (JSON) of bounded size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from netlang.atomic import write_npz
from netlang.errors import DataError
from netlang.limits import MAX_CHECKPOINT_TEXT
from netlang.npz import ArrayHeader, NpzArchive, reason_of, shown

IR_KEY = "__ir__"


def check_tensor(path: str, name: str, member: ArrayHeader, expected_shape: tuple[int, ...] | None = None) -> None:
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


def read_text_member(archive: NpzArchive, name: str) -> str:
    """A 0-d unicode member (JSON and names are stored so); DataError naming it if it is anything else."""
    member = archive.members.get(name)
    if member is None:
        raise DataError(f"{archive.path}: member '{name}' is missing")
    if member.dtype.kind != "U" or member.shape != ():
        raise DataError(
            f"{archive.path}: member '{name}' should be text (a 0-d unicode array), "
            f"found dtype {member.dtype} and shape {list(member.shape)}"
        )
    if member.dtype.itemsize > MAX_CHECKPOINT_TEXT:
        raise DataError(f"{archive.path}: member '{name}' claims {member.dtype.itemsize} bytes of text, "
                        f"more than the {MAX_CHECKPOINT_TEXT} netlang reads")
    try:
        return str(archive.read(name)[()])
    except UnicodeError as err:
        raise DataError(f"{archive.path}: member '{name}' is damaged ({reason_of(err)})") from None


def read_json_member(archive: NpzArchive, name: str) -> Any:
    """A JSON document stored as a 0-d unicode member; DataError naming it if it does not parse."""
    text = read_text_member(archive, name)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise DataError(f"{archive.path}: member '{name}' is not valid JSON ({reason_of(err)})") from None


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
    if not Path(path).exists():  # as load_checkpoint does, the message says what file was expected
        raise DataError(f"{where}: file not found; expected weights (.npz) written by netlang")
    with NpzArchive(path) as archive:
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
