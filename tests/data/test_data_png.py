"""The PNG decoder against PNGs written by the test encoder (every colour type, depth and filter) and,
when Pillow is installed, by Pillow; and every refusal's message.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from netlang.data import decode_png, read_png
from netlang.errors import DataError

LUMA = np.array([0.299, 0.587, 0.114])
ALL_FILTERS = (0, 1, 2, 3, 4)


def random_samples(shape, depth, seed=0):
    return np.random.default_rng(seed).integers(0, 2**depth, size=shape)


@pytest.mark.parametrize("depth", [1, 2, 4, 8, 16])
def test_grayscale_every_depth_and_filter(make_png, depth):
    samples = random_samples((7, 13, 1), depth)
    data = make_png(samples, color_type=0, depth=depth, filters=ALL_FILTERS, idat_parts=3)
    image = decode_png(data)
    assert image.dtype == np.float32 and image.shape == (7, 13)
    np.testing.assert_allclose(image, samples[..., 0] / (2**depth - 1), atol=1e-6)


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("filter_kind", ALL_FILTERS)
def test_rgb_is_converted_by_luma(make_png, depth, filter_kind):
    samples = random_samples((5, 6, 3), depth, seed=filter_kind)
    image = decode_png(make_png(samples, color_type=2, depth=depth, filters=(filter_kind,)))
    np.testing.assert_allclose(image, (samples / (2**depth - 1)) @ LUMA, atol=1e-6)


def test_rgba_and_gray_alpha_are_composited_onto_black(make_png):
    rgba = random_samples((4, 5, 4), 8)
    image = decode_png(make_png(rgba, color_type=6, filters=ALL_FILTERS))
    np.testing.assert_allclose(image, (rgba[..., :3] / 255) @ LUMA * rgba[..., 3] / 255, atol=1e-6)
    gray_alpha = random_samples((4, 5, 2), 16, seed=1)
    image = decode_png(make_png(gray_alpha, color_type=4, depth=16, filters=ALL_FILTERS))
    np.testing.assert_allclose(image, gray_alpha[..., 0] / 65535 * gray_alpha[..., 1] / 65535, atol=1e-6)


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_palette_with_transparency(make_png, depth):
    n_colors = 2**depth
    colors = random_samples((n_colors, 3), 8, seed=depth)
    alpha = np.full(n_colors, 255)
    alpha[0] = 0  # entry 0 fully transparent, as in a drawing on a transparent background
    indices = random_samples((6, 9, 1), depth, seed=depth + 1)
    data = make_png(
        indices,
        color_type=3,
        depth=depth,
        filters=ALL_FILTERS,
        palette=colors.astype(np.uint8).tobytes(),
        transparency=alpha[:1].astype(np.uint8).tobytes(),  # a short tRNS leaves the rest opaque
    )
    expected = ((colors / 255) @ LUMA * alpha / 255)[indices[..., 0]]
    np.testing.assert_allclose(decode_png(data), expected, atol=1e-6)


def test_known_pixels_of_a_tiny_grayscale_image(make_png):
    samples = np.array([[[0], [255]], [[128], [64]]])
    image = decode_png(make_png(samples, color_type=0, filters=(4, 3)))
    np.testing.assert_allclose(image, [[0.0, 1.0], [128 / 255, 64 / 255]], atol=1e-6)


def test_read_png_reads_a_file(tmp_path, make_png):
    path = tmp_path / "digit.png"
    path.write_bytes(make_png(np.full((3, 2, 1), 51), color_type=0))
    np.testing.assert_allclose(read_png(path), np.full((3, 2), 0.2), atol=1e-6)


@pytest.fixture
def pillow():
    return pytest.importorskip("PIL.Image")


def pillow_png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_pillow_gray_and_rgb_photos(pillow):
    rng = np.random.default_rng(3)
    # Smooth gradients plus noise make Pillow's encoder pick a mix of filters.
    ramp = np.add.outer(np.arange(40), np.arange(30)) * 3 % 256
    gray = (ramp + rng.integers(0, 8, size=ramp.shape)).clip(0, 255).astype(np.uint8)
    np.testing.assert_allclose(decode_png(pillow_png(pillow.fromarray(gray))), gray / 255, atol=1e-6)
    rgb = pillow.fromarray(np.stack([gray, gray[::-1], 255 - gray], axis=2))
    expected = np.asarray(rgb.convert("L"), dtype=np.float64) / 255
    # Pillow rounds its gray to whole levels, so allow one level of difference.
    np.testing.assert_allclose(decode_png(pillow_png(rgb)), expected, atol=1 / 255 + 1e-6)


def test_pillow_palette_and_one_bit(pillow):
    gray = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    paletted = pillow.fromarray(gray).convert("P")
    expected = np.asarray(paletted.convert("L"), dtype=np.float64) / 255
    np.testing.assert_allclose(decode_png(pillow_png(paletted)), expected, atol=1 / 255 + 1e-6)
    bits = pillow.fromarray(gray > 100)
    np.testing.assert_array_equal(decode_png(pillow_png(bits)), (gray > 100).astype(np.float32))


def with_crc(data: bytes, offset: int, kind: bytes, body: bytes) -> bytes:
    """`data` with the chunk at `offset` replaced by (kind, body) and a correct CRC."""
    (length,) = struct.unpack(">I", data[offset : offset + 4])
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:offset] + chunk + data[offset + 12 + length :]


IHDR_OFFSET = 8


@pytest.fixture
def gray_png(make_png):
    return make_png(np.zeros((2, 2, 1)), color_type=0)


def assert_refused(data: bytes, *fragments: str):
    with pytest.raises(DataError) as caught:
        decode_png(data, file="pic.png")
    message = str(caught.value)
    assert message.startswith("pic.png: ")
    for fragment in fragments:
        assert fragment in message


def test_refuses_a_file_that_is_not_png():
    assert_refused(b"GIF89a....", "is not a PNG file")


def test_refuses_a_bad_crc(gray_png):
    damaged = bytearray(gray_png)
    damaged[IHDR_OFFSET + 8] ^= 0xFF  # first byte of the IHDR body
    assert_refused(bytes(damaged), "IHDR fails its CRC check")


def test_refuses_truncation(gray_png):
    assert_refused(gray_png[:-12], "no IEND chunk")
    assert_refused(gray_png[:40], "truncated PNG")


def test_refuses_interlaced(make_png):
    assert_refused(make_png(np.zeros((2, 2, 1)), color_type=0, interlace=1), "interlaced (Adam7)")


def test_refuses_impossible_depths_and_colour_types(gray_png):
    header = struct.pack(">IIBBBBB", 2, 2, 16, 3, 0, 0, 0)
    assert_refused(with_crc(gray_png, IHDR_OFFSET, b"IHDR", header), "palette PNG with bit depth 16")
    header = struct.pack(">IIBBBBB", 2, 2, 8, 5, 0, 0, 0)
    assert_refused(with_crc(gray_png, IHDR_OFFSET, b"IHDR", header), "unknown PNG colour type 5")


def test_refuses_a_palette_image_without_palette(make_png):
    assert_refused(make_png(np.zeros((2, 2, 1)), color_type=3), "without a valid PLTE")


def test_refuses_a_palette_index_past_the_palette(make_png):
    data = make_png(np.full((2, 2, 1), 5), color_type=3, palette=bytes(6))
    assert_refused(data, "palette entry 5 of 2")


def test_refuses_an_unknown_filter_type(make_png):
    image = make_png(np.zeros((2, 2, 1)), color_type=0)
    bad_rows = zlib.compress(bytes([7, 0, 0, 0, 0, 0]))
    start = image.index(b"IDAT") - 4
    assert_refused(with_crc(image, start, b"IDAT", bad_rows), "row 0 has unknown filter type 7")


def test_refuses_image_data_of_the_wrong_size_or_not_zlib(make_png):
    image = make_png(np.zeros((2, 2, 1)), color_type=0)
    start = image.index(b"IDAT") - 4
    assert_refused(with_crc(image, start, b"IDAT", zlib.compress(bytes(5))), "has 5 bytes, expected 6")
    assert_refused(with_crc(image, start, b"IDAT", b"not zlib"), "does not decompress")


def test_refuses_an_unknown_critical_chunk_but_skips_ancillary_ones(make_png):
    samples = np.full((2, 2, 1), 255)
    assert decode_png(make_png(samples, color_type=0, extra_chunks=((b"tEXt", b"k\x00v"),))).min() == 1.0
    assert_refused(make_png(samples, color_type=0, extra_chunks=((b"ZZZZ", b""),)), "critical PNG chunk ZZZZ")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read the file"):
        read_png(tmp_path / "absent.png")
