"""A small PNG decoder (zlib and the five PNG filters, nothing else) that returns grayscale images.

Supported: non-interlaced grayscale, RGB, palette, grayscale+alpha and RGBA images, 8- or 16-bit, and
1-, 2- or 4-bit grayscale and palette images. Colour becomes gray by the ITU-R BT.601 luma weights
(as Pillow's "L" mode does); transparency is composited onto black, so a transparent background reads
as 0 like MNIST's. Anything else is a DataError that says what the file is and what is supported.

Sizes are checked before work: the file's bytes against MAX_PNG_FILE_BYTES while reading it, the chunk
count against MAX_PNG_CHUNKS, and the declared width x height against MAX_IMAGE_PIXELS before anything is
inflated (and inflation stops at the bytes the header implies). `png_size` reads only the header, so a
caller can refuse an image of the wrong size without decoding it.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from netlang import limits
from netlang.errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

# Colour type -> (name, samples per pixel, allowed bit depths).
COLOR_TYPES = {
    0: ("grayscale", 1, (1, 2, 4, 8, 16)),
    2: ("RGB", 3, (8, 16)),
    3: ("palette", 1, (1, 2, 4, 8)),
    4: ("grayscale+alpha", 2, (8, 16)),
    6: ("RGBA", 4, (8, 16)),
}
CRITICAL_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def read_png(path: str | Path) -> np.ndarray:
    """The PNG at `path` as an (H, W) float32 grayscale image in [0, 1]; raises DataError."""
    return decode_png(read_png_bytes(path), file=str(path))


def read_png_bytes(path: str | Path) -> bytes:
    """The bytes of the file at `path`, refused if larger than the PNG or data limit; raises DataError."""
    most = min(limits.MAX_PNG_FILE_BYTES, limits.max_data_bytes())
    try:
        with open(path, "rb") as stream:
            data = stream.read(most + 1)  # bounded even for a device or pipe, whose size is not known
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror or error})", file=str(path)) from None
    if len(data) > most:
        raise DataError(
            f"is larger than {most:,} bytes, netlang's limit for a PNG file",
            file=str(path),
        )
    return data


def png_size(data: bytes, *, file: str = "<png>") -> tuple[int, int]:
    """(width, height) from the PNG bytes' header alone, without decoding; raises DataError."""
    if not data.startswith(PNG_SIGNATURE):
        raise DataError("is not a PNG file (its first 8 bytes are not the PNG signature)", file=file)
    first = _read_chunks(data, file, stop_after_first=True)
    if not first or first[0][0] != b"IHDR":
        raise DataError("is a damaged PNG: it does not start with an IHDR chunk", file=file)
    width, height, _, _ = _parse_header(first[0][1], file)
    return width, height


def decode_png(data: bytes, *, file: str = "<png>", max_pixels: int = limits.MAX_IMAGE_PIXELS) -> np.ndarray:
    """The PNG bytes `data` as an (H, W) float32 grayscale image in [0, 1]; `file` names it in errors.

    An image of more than `max_pixels` pixels is refused before its data is inflated.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise DataError("is not a PNG file (its first 8 bytes are not the PNG signature)", file=file)
    chunks = _read_chunks(data, file)
    if not chunks or chunks[0][0] != b"IHDR":
        raise DataError("is a damaged PNG: it does not start with an IHDR chunk", file=file)
    width, height, depth, color_type = _parse_header(chunks[0][1], file)
    if width * height > max_pixels:
        raise DataError(
            f"is a {width}x{height} PNG image ({width * height:,} pixels); expected at most {max_pixels:,} pixels",
            file=file,
        )
    name, channels, _ = COLOR_TYPES[color_type]
    compressed = b"".join(body for kind, body in chunks if kind == b"IDAT")
    row_bytes = (width * channels * depth + 7) // 8
    raw = _inflate(compressed, height * (row_bytes + 1), file)
    bytes_per_pixel = max(1, channels * depth // 8)
    rows = _unfilter(raw, height, row_bytes, bytes_per_pixel, file)
    samples = _samples(rows, width, channels, depth)
    if color_type == 3:
        return _palette_to_gray(samples[..., 0], chunks, file)
    scaled = samples.astype(np.float64) / (2**depth - 1)
    if name == "grayscale":
        gray = scaled[..., 0]
    elif name == "grayscale+alpha":
        gray = scaled[..., 0] * scaled[..., 1]
    elif name == "RGB":
        gray = scaled @ LUMA_WEIGHTS
    else:  # RGBA
        gray = (scaled[..., :3] @ LUMA_WEIGHTS) * scaled[..., 3]
    return gray.astype(np.float32)


def _read_chunks(data: bytes, file: str, *, stop_after_first: bool = False) -> list[tuple[bytes, bytes]]:
    """(type, body) of each chunk up to IEND (or of the first only), with lengths and CRCs checked."""
    chunks = []
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        if len(chunks) >= limits.MAX_PNG_CHUNKS:
            raise DataError(f"has more than {limits.MAX_PNG_CHUNKS:,} PNG chunks; expected fewer", file=file)
        if offset + 12 > len(data):
            raise DataError(f"is a truncated PNG: a chunk header at byte {offset} is cut off", file=file)
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 8 + length
        if end + 4 > len(data):
            raise DataError(f"is a truncated PNG: chunk {kind!r} at byte {offset} is cut off", file=file)
        body = data[offset + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(kind + body) != crc:
            raise DataError(
                f"is a damaged PNG: chunk {kind.decode('latin-1')} fails its CRC check", file=file
            )
        if kind[:1].isupper() and kind not in CRITICAL_CHUNKS:
            raise DataError(f"has an unknown critical PNG chunk {kind.decode('latin-1')}", file=file)
        chunks.append((kind, body))
        if kind == b"IEND" or stop_after_first:
            return chunks
        offset = end + 4
    raise DataError("is a truncated PNG: no IEND chunk", file=file)


def _parse_header(body: bytes, file: str) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from IHDR, refusing what this decoder cannot read."""
    if len(body) != 13:
        raise DataError(f"is a damaged PNG: IHDR has {len(body)} bytes, expected 13", file=file)
    width, height, depth, color_type, compression, filter_method, interlace = struct.unpack(">IIBBBBB", body)
    if width == 0 or height == 0:
        raise DataError(f"is an empty PNG ({width}x{height} pixels)", file=file)
    if color_type not in COLOR_TYPES:
        raise DataError(f"has unknown PNG colour type {color_type}; expected 0, 2, 3, 4 or 6", file=file)
    name, _, depths = COLOR_TYPES[color_type]
    if depth not in depths:
        allowed = ", ".join(str(d) for d in depths)
        raise DataError(
            f"is a {name} PNG with bit depth {depth}; {name} PNGs have bit depth {allowed}", file=file
        )
    if compression != 0 or filter_method != 0:
        raise DataError("uses an unknown PNG compression or filter method", file=file)
    if interlace != 0:
        raise DataError(
            "is an interlaced (Adam7) PNG, which netlang does not read; save it without interlacing",
            file=file,
        )
    return width, height, depth, color_type


def _inflate(compressed: bytes, expected: int, file: str) -> bytes:
    """The decompressed image data, which must be exactly `expected` bytes (bounded against zip bombs)."""
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error as error:
        raise DataError(
            f"is a damaged PNG: its image data does not decompress ({error})", file=file
        ) from None
    if len(raw) != expected:
        raise DataError(
            f"is a damaged PNG: its image data has {len(raw)}{'+' if len(raw) > expected else ''} bytes, "
            f"expected {expected}",
            file=file,
        )
    return raw


def _unfilter(raw: bytes, height: int, row_bytes: int, bpp: int, file: str) -> np.ndarray:
    """Undo the per-row PNG filters: the (height, row_bytes) uint8 scanlines."""
    rows = np.empty((height, row_bytes), dtype=np.uint8)
    previous = np.zeros(row_bytes, dtype=np.uint8)
    stride = row_bytes + 1
    for y in range(height):
        kind = raw[y * stride]
        line = np.frombuffer(raw, dtype=np.uint8, count=row_bytes, offset=y * stride + 1)
        if kind == 0:
            row = line
        elif kind == 1:
            row = _undo_sub(line, bpp)
        elif kind == 2:
            row = line + previous  # uint8 arithmetic wraps modulo 256, as the filter needs
        elif kind == 3:
            row = _undo_average(line, previous, bpp)
        elif kind == 4:
            row = _undo_paeth(line, previous, bpp)
        else:
            raise DataError(f"is a damaged PNG: row {y} has unknown filter type {kind}", file=file)
        rows[y] = row
        previous = rows[y]
    return rows


def _undo_sub(line: np.ndarray, bpp: int) -> np.ndarray:
    # Each byte adds the reconstructed byte bpp to its left: a running sum per byte position in the pixel.
    return np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)


def _undo_average(line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    row = bytearray(line.tobytes())
    up = previous.tobytes()
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        row[i] = (row[i] + ((left + up[i]) >> 1)) & 0xFF
    return np.frombuffer(bytes(row), dtype=np.uint8)


def _undo_paeth(line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    row = bytearray(line.tobytes())
    up = previous.tobytes()
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        upper_left = up[i - bpp] if i >= bpp else 0
        row[i] = (row[i] + _paeth_predictor(left, up[i], upper_left)) & 0xFF
    return np.frombuffer(bytes(row), dtype=np.uint8)


def _paeth_predictor(left: int, up: int, upper_left: int) -> int:
    estimate = left + up - upper_left
    to_left, to_up, to_upper_left = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
    if to_left <= to_up and to_left <= to_upper_left:
        return left
    return up if to_up <= to_upper_left else upper_left


def _samples(rows: np.ndarray, width: int, channels: int, depth: int) -> np.ndarray:
    """The scanlines as an (H, W, channels) integer array of samples 0 .. 2**depth - 1."""
    height = len(rows)
    if depth == 16:
        return rows.view(">u2").reshape(height, width, channels).astype(np.uint16)
    if depth == 8:
        return rows.reshape(height, width, channels)
    # 1, 2 or 4 bits per sample (one channel), packed most significant bits first.
    bits = np.unpackbits(rows, axis=1).reshape(height, -1, depth)
    place_values = 1 << np.arange(depth - 1, -1, -1)
    values = (bits * place_values).sum(axis=2)[:, :width]
    return values.astype(np.uint8)[..., np.newaxis]


def _palette_to_gray(indices: np.ndarray, chunks: list[tuple[bytes, bytes]], file: str) -> np.ndarray:
    palette_body = next((body for kind, body in chunks if kind == b"PLTE"), None)
    if palette_body is None or len(palette_body) % 3 or not palette_body:
        raise DataError("is a palette PNG without a valid PLTE chunk", file=file)
    colors = np.frombuffer(palette_body, dtype=np.uint8).reshape(-1, 3) / 255.0
    if indices.max() >= len(colors):
        raise DataError(
            f"is a damaged PNG: pixel uses palette entry {indices.max()} of {len(colors)}", file=file
        )
    alpha = np.ones(len(colors))
    transparency = next((body for kind, body in chunks if kind == b"tRNS"), b"")
    given = np.frombuffer(transparency[: len(colors)], dtype=np.uint8) / 255.0
    alpha[: len(given)] = given
    gray = (colors @ LUMA_WEIGHTS) * alpha
    return gray[indices].astype(np.float32)
