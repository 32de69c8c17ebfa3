"""Checkpoints: named tensors plus the IR as JSON in one .npz, written atomically, read without pickle."""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from netlang.atomic import write_npz
from netlang.errors import DataError

IR_KEY = "__ir__"


def write_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray], ir: dict[str, Any]) -> None:
    """Write tensors and the IR (as JSON text in a 0-d unicode array) to `path`, atomically."""
    write_npz(path, {**tensors, IR_KEY: np.array(json.dumps(ir))})


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """Read (tensors, IR or None) from a checkpoint; DataError for a missing, non-npz or corrupt file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path}: not a checkpoint (.npz) file")
            tensors = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"{path}: checkpoint file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{path}: not a readable checkpoint (.npz) file ({err})") from None
    ir_text = tensors.pop(IR_KEY, None)
    ir = None
    if ir_text is not None:
        try:
            ir = json.loads(str(ir_text))
        except ValueError:
            raise DataError(f"{path}: the stored IR ({IR_KEY}) is not valid JSON") from None
    return tensors, ir
