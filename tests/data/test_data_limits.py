"""Limits on the data ways in (netlang/limits.py): sizes a file declares are refused before the work they imply.

Each test makes a small file that *claims* a huge size (an image, an array header, an IDX dimension, a gzip or
deflate member) and checks the refusal names the file and comes before allocating or inflating.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from netlang import limits
from netlang.data import decode_png, load_dataset, read_inputs
from netlang.data import png as png_module
from netlang.data.idx import read_idx
from netlang.errors import DataError, UsageError


def npy_bytes(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An .npy file (format 1.0) with the given header fields and data, written by hand."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + data


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height gray pixels, with almost no image data."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 9)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_inflating(monkeypatch):
    """Make any attempt to inflate PNG image data fail the test: refusals must come first."""

    def refuse_to_inflate(*args, **kwargs):
        raise AssertionError("the PNG was inflated before its size was checked")

    monkeypatch.setattr(png_module, "_inflate", refuse_to_inflate)


def test_a_png_declaring_20000x20000_is_refused_before_inflating(tmp_path, no_inflating):
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png(20000, 20000))
    with pytest.raises(DataError) as caught:
        read_inputs([path], input_shape=(1, 28, 28))
    assert str(caught.value) == (
        f"{path}: is a 20000x20000 PNG image (width x height); the network's input expects (1, 28, 28), "
        "a 28x28 grayscale image"
    )
    with pytest.raises(DataError, match=r"is a 20000x20000 PNG image \(400,000,000 pixels\); expected at most 1,048"):
        decode_png(path.read_bytes(), file=str(path))  # no network input to fit: the fixed limit
    with pytest.raises(DataError, match="expects \\(784,\\), an image of 784 pixels"):
        read_inputs([path], input_shape=(784,))


def test_png_chunk_count_and_file_size_are_bounded(tmp_path, monkeypatch, make_png):
    image = make_png(np.zeros((2, 2, 1)), color_type=0, extra_chunks=((b"tEXt", b"a\0b"),) * 5)
    monkeypatch.setattr(limits, "MAX_PNG_CHUNKS", 4)
    with pytest.raises(DataError, match="has more than 4 PNG chunks"):
        decode_png(image, file="many.png")
    path = tmp_path / "big.png"
    path.write_bytes(image)
    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", "50")
    with pytest.raises(DataError, match="big.png: is larger than 50 bytes, netlang's limit for a PNG file"):
        read_inputs([path])


def test_an_npy_header_claiming_terabytes_is_refused_unallocated(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_bytes("<f8", (10**11,)))
    with pytest.raises(DataError) as caught:
        read_inputs([path])
    assert str(caught.value).startswith(
        f"{path}: declares shape (100000000000,) of float64 (800,000,000,000 bytes), over netlang's limit of "
        f"{limits.MAX_DATA_BYTES:,} bytes per data file; set NETLANG_MAX_DATA_BYTES"
    )
    path.write_bytes(npy_bytes("<f8", (1000, 1000), data=bytes(80)))  # 8 MB declared, within the limit
    with pytest.raises(
        DataError, match=r"is truncated: shape \(1000, 1000\) of float64 takes 8,000,000 bytes, 80 follow"
    ):
        read_inputs([path])


def test_npz_members_are_checked_against_their_declared_size(tmp_path):
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as archive:  # a header promising more than the member holds
        archive.writestr("x.npy", npy_bytes("<f4", (10**6, 4), data=bytes(16)))
    with pytest.raises(DataError, match=r"lying.npz: member 'x' is truncated: shape \(1000000, 4\) of float32"):
        read_inputs([path])


def test_an_npz_deflate_bomb_is_refused_by_its_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(
        path,
        x_train=np.zeros((1024, 1024, 4), np.uint8),
        y_train=np.zeros(1024, np.uint8),
        x_test=np.zeros((1, 1024, 4), np.uint8),
        y_test=np.zeros(1, np.uint8),
    )
    assert path.stat().st_size < 20_000
    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", str(1 << 20))
    with pytest.raises(DataError, match=r"bomb.npz: member 'x_train' declares shape \(1024, 1024, 4\) of uint8"):
        load_dataset(f"npz:{path}")
    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", str(8 << 20))  # raised: the same file loads
    assert load_dataset(f"npz:{path}").x_train.shape == (1024, 1024, 4)


def test_the_data_limit_counts_every_array_of_one_file(tmp_path, monkeypatch):
    path = tmp_path / "four.npz"
    x = np.zeros((100, 10), np.uint8)
    np.savez(path, x_train=x, y_train=np.zeros(100, np.uint8), x_test=x, y_test=np.zeros(100, np.uint8))
    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", "1500")  # each x fits, not both
    with pytest.raises(DataError, match="member 'x_test' declares shape"):
        load_dataset(f"npz:{path}")


def idx_header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def test_idx_sizes_that_overflow_int64_are_refused(tmp_path):
    path = tmp_path / "wrap-idx4-ubyte"
    path.write_bytes(idx_header(0x08, (1 << 16,) * 4))  # 2**64 values: 0 in int64 arithmetic
    with pytest.raises(
        DataError,
        match=r"declares an IDX array of shape \(65536, 65536, 65536, 65536\) .*"
        r"18,446,744,073,709,551,616 bytes\), over netlang's limit",
    ):
        read_idx(path)


def test_an_idx_gzip_bomb_is_inflated_only_as_far_as_its_header_says(tmp_path, monkeypatch):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (4,)) + bytes(4) + bytes(50_000_000), compresslevel=1))
    assert path.stat().st_size < 300_000
    read_sizes = []
    real_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        read_sizes.append(size)
        return real_read(self, size)

    monkeypatch.setattr(gzip.GzipFile, "read", counting_read)
    with pytest.raises(DataError, match="has trailing bytes: an IDX array of shape \\(4,\\)"):
        read_idx(path)
    assert -1 not in read_sizes and sum(read_sizes) <= 4 + 4 + 4 + 1


def test_idx_headers_are_checked_before_the_values_are_read(tmp_path, monkeypatch, make_idx_set):
    from netlang.data.mnist import MNIST, load_idx_dataset

    directory = tmp_path / "mnist"
    make_idx_set(directory)
    images = directory / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_header(0x08, (10**6, 28, 28))))  # 784 MB declared, no values
    with pytest.raises(DataError, match="is truncated: an IDX array of shape \\(1000000, 28, 28\\)"):
        load_idx_dataset(MNIST, download=False, environ={"NETLANG_DATA": str(tmp_path)})
    images.write_bytes(gzip.compress(idx_header(0x08, (0, 28, 28))))
    with pytest.raises(
        DataError, match=f"{images}: holds no images \\(shape \\(0, 28, 28\\)\\); expected at least one"
    ):
        load_idx_dataset(MNIST, download=False, environ={"NETLANG_DATA": str(tmp_path)})
    images.write_bytes(gzip.compress(idx_header(0x0E, (10**6, 32, 32))))
    with pytest.raises(DataError, match="holds a float64 array of shape \\(1000000, 32, 32\\); expected uint8"):
        load_idx_dataset(MNIST, download=False, environ={"NETLANG_DATA": str(tmp_path)})


def test_the_data_limit_setting(monkeypatch):
    assert limits.max_data_bytes({}) == limits.MAX_DATA_BYTES
    assert limits.max_data_bytes({"NETLANG_MAX_DATA_BYTES": " 8000000000 "}) == 8_000_000_000
    for bad in ("lots", "-1", "1.5"):
        with pytest.raises(UsageError, match=f"NETLANG_MAX_DATA_BYTES must be a whole number of bytes.*{bad!r}"):
            limits.max_data_bytes({"NETLANG_MAX_DATA_BYTES": bad})


def test_class_labels_are_bounded_before_anything_is_sized_by_them(tmp_path):
    path = tmp_path / "labels.npz"
    x = np.zeros((2, 4), np.float32)
    np.savez(path, x_train=x, y_train=np.array([0, 10**12]), x_test=x, y_test=np.array([0.0, 1e300]))
    with pytest.raises(
        DataError, match=r"labels.npz: y_train holds class label 1000000000000; expected labels 0 to 99,999"
    ):
        load_dataset(f"npz:{path}")


def test_array_dimensions_are_bounded(tmp_path):
    path = tmp_path / "deep.npy"
    path.write_bytes(npy_bytes("|u1", (1,) * 40, data=b"\0"))
    with pytest.raises(DataError, match="deep.npy: has 40 dimensions; expected at most 32"):
        read_inputs([path])


def test_class_names_are_bounded(tmp_path):
    path = tmp_path / "names.npz"
    x = np.zeros((2, 4), np.float32)
    names = np.full(limits.MAX_CLASSES + 1, "n")
    np.savez(path, x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([0, 1]), classes=names)
    with pytest.raises(DataError, match=r"names.npz: classes holds 100,001 names; expected at most 100,000"):
        load_dataset(f"npz:{path}")


def test_a_png_as_large_as_the_network_input_is_decoded_past_the_general_limit(tmp_path, monkeypatch, make_png):
    image = make_png(np.full((4, 4, 1), 255), color_type=0)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 4)
    with pytest.raises(DataError, match=r"is a 4x4 PNG image \(16 pixels\); expected at most 4 pixels"):
        decode_png(image, file="four.png", max_pixels=limits.MAX_IMAGE_PIXELS)
    (tmp_path / "four.png").write_bytes(image)
    np.testing.assert_array_equal(read_inputs([tmp_path / "four.png"], input_shape=(1, 4, 4)), np.ones((1, 1, 4, 4)))
    with pytest.raises(DataError, match="expected at most 4 pixels"):
        read_inputs([tmp_path / "four.png"])  # no network input: the general limit


def test_a_download_without_end_is_cut_off_and_discarded(tmp_path, monkeypatch):
    from netlang.data.fetch import RemoteFile, download_file

    class Endless:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size=-1):
            return bytes(min(size, 1 << 16) if size > 0 else 1 << 16)

    monkeypatch.setenv("NETLANG_MAX_DATA_BYTES", str(1 << 20))
    with pytest.raises(DataError, match=r"https://mirror.example/x.gz sent more than 1,048,576 bytes"):
        download_file(
            RemoteFile("x.gz", "0" * 64), ("https://mirror.example/",), tmp_path, opener=lambda url: Endless()
        )
    assert list(tmp_path.iterdir()) == []


def test_an_empty_array_cannot_hide_huge_dimensions(tmp_path):
    # NumPy refuses (0, 2**31 - 1, 2**31 - 1) of int32 itself ("array is too big"): so must the limit.
    (tmp_path / "hidden-idx3-ubyte").write_bytes(idx_header(0x0C, (0, 2**31 - 1, 2**31 - 1)))
    with pytest.raises(DataError, match=r"declares an IDX array of shape \(0, 2147483647, 2147483647\)"):
        read_idx(tmp_path / "hidden-idx3-ubyte")
    (tmp_path / "hidden.npy").write_bytes(npy_bytes("<i4", (0, 2**62, 2**62)))
    with pytest.raises(DataError, match=r"hidden.npy: declares shape \(0, 4611686018427387904, 4611686018427387904\)"):
        read_inputs([tmp_path / "hidden.npy"])


def test_npz_members_are_crc_checked_and_hold_nothing_more(tmp_path):
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_bytes("|u1", (1, 4, 4), data=bytes(16) + b"more"))
    with pytest.raises(DataError, match=r"extra.npz: member 'x' has bytes after its data \(shape \(1, 4, 4\)"):
        read_inputs([path])
    stream = io.BytesIO()
    np.savez(stream, x=np.zeros((1, 4, 4), np.uint8))
    damaged = bytearray(stream.getvalue())
    damaged[damaged.index(bytes(16))] = 9  # a pixel changed, the stored CRC not
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=r"extra.npz: is not a readable NumPy .npz archive \(Bad CRC-32"):
        read_inputs([path])
