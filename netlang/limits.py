"""Every limit netlang enforces, as named constants, each checked before the work it bounds.

A tiny hostile file must not make netlang allocate or compute without bound, so sizes that a file merely
*declares* (an image's width and height, an array header's shape, a compressed member's length) are checked
against these limits before anything is allocated, inflated or decoded.

Data (files read by `train`, `eval`, `predict` and friends):

| constant             | value       | bounds                                                 | raise with             |
|----------------------|-------------|--------------------------------------------------------|------------------------|
| MAX_DATA_BYTES       | 2 GiB       | decoded bytes of one data file: the arrays read from   | NETLANG_MAX_DATA_BYTES |
|                      |             | an .npz or .npy, an IDX file after gunzip,             | (environment variable) |
|                      |             | one downloaded file                                    |                        |
| MAX_IMAGE_PIXELS     | 1024 x 1024 | pixels of a PNG decoded with no network input to fit;  | (fixed)                |
|                      |             | `predict` requires the input's size before decoding    |                        |
| MAX_PNG_FILE_BYTES   | 64 MiB      | bytes of one PNG file (also at most MAX_DATA_BYTES)    | (fixed)                |
| MAX_PNG_CHUNKS       | 65,536      | chunks in one PNG file                                 | (fixed)                |
| MAX_NPY_HEADER_BYTES | 10,000      | the text header of one .npy array (NumPy's default)    | (fixed)                |
| MAX_ARRAY_DIMS       | 32          | dimensions of one array in an .npy, .npz or IDX file   | (fixed)                |
| MAX_CLASSES          | 100,000     | class labels 0 .. MAX_CLASSES - 1, and class names     | (fixed)                |

Checkpoints and weights (read by `eval`, `predict --weights`, `train --resume`):

| constant                 | value       | bounds                                                   |
|--------------------------|-------------|----------------------------------------------------------|
| MAX_CHECKPOINT_MEMBERS   | 100,000     | members of one .npz of weights or checkpoint             |
| MAX_CHECKPOINT_TEXT      | 256 MiB     | one JSON member (the IR, the config, the state)          |
| MAX_COUNT                | 2**53       | epochs, steps and sample counts a checkpoint records     |

Which limits a user can raise: only MAX_DATA_BYTES, because a real data set can outgrow it (CIFAR-10 stored
as float64 is 1.5 GB): NETLANG_MAX_DATA_BYTES=8000000000 lets netlang read up to 8 GB from one file. The
others bound what no real input needs:
- MAX_IMAGE_PIXELS: `predict` checks a PNG against the network input's exact size before decoding it, and then
  allows an image as large as that input; the fixed limit only bounds decoding with no network to fit, where
  PNG's filters, undone in Python, cost seconds per megapixel.
- MAX_PNG_FILE_BYTES: a 2048 x 2048 16-bit RGBA image stored without compression takes half of it.
- MAX_NPY_HEADER_BYTES and MAX_ARRAY_DIMS: NumPy writes headers far below 10,000 bytes, and allows 64
  dimensions where no data set needs 32.
- MAX_CLASSES: a data set with more classes could not be trained by a NumPy backend anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from netlang.errors import UsageError

MAX_DATA_BYTES = 2 * 1024**3
MAX_DATA_BYTES_VARIABLE = "NETLANG_MAX_DATA_BYTES"
MAX_IMAGE_PIXELS = 1024 * 1024
MAX_PNG_FILE_BYTES = 64 * 1024**2
MAX_PNG_CHUNKS = 65_536
MAX_NPY_HEADER_BYTES = 10_000
MAX_ARRAY_DIMS = 32
MAX_CLASSES = 100_000
MAX_CHECKPOINT_MEMBERS = 100_000  # far more than any network's tensors; bounds the work of reading a hostile archive
MAX_CHECKPOINT_TEXT = 256 * 2**20  # the IR of a very large network is ~50 MB
MAX_COUNT = 2**53  # epochs, steps and sample counts: any larger value is damage, not training


def max_data_bytes(environ: Mapping[str, str] | None = None) -> int:
    """MAX_DATA_BYTES, or the whole number in $NETLANG_MAX_DATA_BYTES; raises UsageError for a bad value."""
    environ = os.environ if environ is None else environ
    text = environ.get(MAX_DATA_BYTES_VARIABLE, "").strip()
    if not text:
        return MAX_DATA_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(
            f"{MAX_DATA_BYTES_VARIABLE} must be a whole number of bytes such as 8000000000; received {text!r}"
        )
    return value


def data_limit_hint() -> str:
    """The sentence a refusal ends with, telling how to raise the data limit."""
    return f"set {MAX_DATA_BYTES_VARIABLE} to a larger number of bytes to allow it"
