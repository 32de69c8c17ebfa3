"""Every limit netlang enforces, as named constants, each checked before the work it bounds.

A tiny hostile file must not make netlang allocate or compute without bound, so sizes that a file merely
*declares* (an image's width and height, an array header's shape, a compressed member's length) are checked
against these limits before anything is allocated, inflated or decoded.

Data (files read by `train`, `eval`, `predict` and friends):

| constant             | value       | bounds                                                 | raise with             |
|----------------------|-------------|--------------------------------------------------------|------------------------|
| MAX_DATA_BYTES       | 2 GiB       | decoded bytes of one data file: the arrays read from   | NETLANG_MAX_DATA_BYTES |
|                      |             | an .npz or .npy, an IDX file after gunzip,             | (environment variable) |
|                      |             | one downloaded file, one ONNX file                     |                        |
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

Specs and IR files (read by every command that takes a SPEC):

| constant            | value        | bounds                                                   | raise with          |
|---------------------|--------------|----------------------------------------------------------|---------------------|
| MAX_LAYERS          | 10,000       | layers of one network after groups, repeats and blocks   | NETLANG_MAX_LAYERS  |
|                     |              | are expanded (counted before expanding)                  |                     |
| MAX_PARAMS          | 500,000,000  | parameters of one network (trainable and not): 2 GB of   | NETLANG_MAX_PARAMS  |
|                     |              | float32 weights, 8 GB with Adam's state and gradients    |                     |
| MAX_LAYER_VALUES    | 2**28        | values in one layer's output, or the input, per sample   | (fixed)             |
|                     |              | (1 GiB of float32)                                       |                     |
| MAX_NESTING         | 100          | parentheses and braces open at once in a spec, block     | (fixed)             |
|                     |              | uses inside block uses, and JSON arrays and objects open |                     |
|                     |              | at once in an IR file                                    |                     |
| MAX_SPEC_BYTES      | 256 MiB      | one spec or IR file (as MAX_CHECKPOINT_TEXT)             | (fixed)             |
| MAX_NUMBER_DIGITS   | 30           | digits of one whole number in a spec or IR file          | (fixed)             |
| MAX_SHOWN_LINE      | 160          | characters of a source line shown under an error; a      | (fixed)             |
|                     |              | longer line is cut around the caret                      |                     |
| MAX_LIVE_SPEC_BYTES | 128 KiB      | a document `netlang lsp` checks as it is typed; a larger | (fixed)             |
|                     |              | one gets one diagnostic saying to run `netlang check`    |                     |
| MAX_DIAGNOSTICS     | 100          | errors reported for one document by `netlang lsp`        | (fixed)             |

Memory (`train`, `eval`, `predict`): a training step whose forecast memory (netlang/memory/, `netlang summary
--batch N`) exceeds the machine's available memory (MemAvailable in /proc/meminfo) is refused before the data set
or the model is allocated, and so is an evaluation batch before it runs; NETLANG_MAX_MEMORY (bytes) sets another
limit, higher or lower.

Which limits a user can raise: MAX_LAYERS and MAX_PARAMS, because a real network can outgrow them
(NETLANG_MAX_PARAMS=2000000000 checks a 2-billion-parameter network; `train` then needs the memory), and
MAX_DATA_BYTES, because a real data set can outgrow it (CIFAR-10 stored
as float64 is 1.5 GB): NETLANG_MAX_DATA_BYTES=8000000000 lets netlang read up to 8 GB from one file. The
others bound what no real input needs:
- MAX_IMAGE_PIXELS: `predict` checks a PNG against the network input's exact size before decoding it, and then
  allows an image as large as that input; the fixed limit only bounds decoding with no network to fit, where
  PNG's filters, undone in Python, cost seconds per megapixel.
- MAX_PNG_FILE_BYTES: a 2048 x 2048 16-bit RGBA image stored without compression takes half of it.
- MAX_NPY_HEADER_BYTES and MAX_ARRAY_DIMS: NumPy writes headers far below 10,000 bytes, and allows 64
  dimensions where no data set needs 32.
- MAX_CLASSES: a data set with more classes could not be trained by a NumPy backend anyway.
- MAX_LAYER_VALUES: a 3x4096x4096 image is 50 M values; one layer output of 268 M values per sample is past
  what a NumPy backend can train.
- MAX_NESTING: the specs in specs/ nest groups 1 deep, and netlang's IR files nest 5 levels; Python's
  own recursion limit (1000) is the danger this bounds, checked by a scan of the text before any recursive
  parsing.
- MAX_ONNX_BYTES: protobuf's own limit on one serialized message, which an ONNX file is; netlang writes no
  external-data files, so a network whose weights and spec text pass it cannot be exported (above about 530
  million parameters).
- MAX_LIVE_SPEC_BYTES: the editor's checker runs on every change, and the parser reads some 20-60 KB of spec a
  second on a shared CPU: a spec of 128 KiB (some 5,000 lines; real specs have tens, and repeat groups rather
  than write 10,000 layers out) is checked in a few seconds; a larger one would keep the server busy while
  the user types.
- MAX_DIAGNOSTICS: a hundred errors are more than anyone reads; the cap bounds the work of a file full of them.
- MAX_NUMBER_DIGITS: a larger whole number cannot be a size, count or seed any network could use, and Python
  refuses to read numbers of more than 4,300 digits anyway.
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
MAX_LAYERS = 10_000
MAX_LAYERS_VARIABLE = "NETLANG_MAX_LAYERS"
MAX_PARAMS = 500_000_000
MAX_PARAMS_VARIABLE = "NETLANG_MAX_PARAMS"
MAX_LAYER_VALUES = 2**28
MAX_NESTING = 100
MAX_SPEC_BYTES = 256 * 2**20
MAX_NUMBER_DIGITS = 30
MAX_SHOWN_LINE = 160
MAX_LIVE_SPEC_BYTES = 128 * 2**10
MAX_DIAGNOSTICS = 100
MAX_ONNX_BYTES = 2**31 - 1
MAX_MEMORY_VARIABLE = "NETLANG_MAX_MEMORY"  # bytes a training step may take; unset: the machine's available memory


def max_data_bytes(environ: Mapping[str, str] | None = None) -> int:
    """MAX_DATA_BYTES, or the whole number in $NETLANG_MAX_DATA_BYTES; raises UsageError for a bad value."""
    return _setting(MAX_DATA_BYTES_VARIABLE, MAX_DATA_BYTES, "bytes such as 8000000000", environ)


def max_layers(environ: Mapping[str, str] | None = None) -> int:
    """MAX_LAYERS, or the whole number in $NETLANG_MAX_LAYERS; raises UsageError for a bad value."""
    return _setting(MAX_LAYERS_VARIABLE, MAX_LAYERS, "layers such as 50000", environ)


def max_params(environ: Mapping[str, str] | None = None) -> int:
    """MAX_PARAMS, or the whole number in $NETLANG_MAX_PARAMS; raises UsageError for a bad value."""
    return _setting(MAX_PARAMS_VARIABLE, MAX_PARAMS, "parameters such as 2000000000", environ)


def max_memory(environ: Mapping[str, str] | None = None) -> int | None:
    """The whole number of bytes in $NETLANG_MAX_MEMORY, or None (then the machine's available memory is the
    limit of a training step's forecast memory); raises UsageError for a bad value."""
    environ = os.environ if environ is None else environ
    if not environ.get(MAX_MEMORY_VARIABLE, "").strip():
        return None
    return _setting(MAX_MEMORY_VARIABLE, 0, "bytes such as 8000000000", environ)


def raise_hint(variable: str) -> str:
    """The words a refusal ends with, telling which setting raises the limit."""
    return f"set {variable} to a larger number to allow it"


def _setting(variable: str, default: int, example: str, environ: Mapping[str, str] | None) -> int:
    environ = os.environ if environ is None else environ
    text = environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"{variable} must be a whole number of {example}; received {text!r}")
    return value


def data_limit_hint() -> str:
    """The sentence a refusal ends with, telling how to raise the data limit."""
    return f"set {MAX_DATA_BYTES_VARIABLE} to a larger number of bytes to allow it"
