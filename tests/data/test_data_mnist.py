"""MNIST-style data sets: the search order, the download path (file:// mirrors and fake openers, never the
network), checksum failures, the one combined not-found error, and the real Debian Fashion-MNIST if present.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from netlang.data import fetch, load_dataset
from netlang.data.fetch import RemoteDataset, RemoteFile, cache_dir, search_dirs
from netlang.data.mnist import FASHION_MNIST, MNIST, load_idx_dataset
from netlang.errors import DataError

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Isolated search directories: NETLANG_DATA, XDG cache and system root all under tmp_path."""
    monkeypatch.setattr(fetch, "SYSTEM_DATA_ROOT", tmp_path / "system")
    environ = {"NETLANG_DATA": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    monkeypatch.setenv("NETLANG_DATA", environ["NETLANG_DATA"])
    monkeypatch.setenv("XDG_CACHE_HOME", environ["XDG_CACHE_HOME"])
    return {
        "environ": environ,
        "data": tmp_path / "data",
        "cache": tmp_path / "cache" / "netlang",
        "system": tmp_path / "system",
    }


def test_search_order(dirs, tmp_path):
    assert search_dirs("mnist", dirs["environ"]) == [
        dirs["data"] / "mnist",
        dirs["cache"] / "mnist",
        dirs["system"] / "mnist",
    ]
    assert search_dirs("mnist", {}) == [Path.home() / ".cache/netlang/mnist", dirs["system"] / "mnist"]
    assert cache_dir("x", {"XDG_CACHE_HOME": "/c"}) == Path("/c/netlang/x")


@pytest.mark.parametrize("gzipped", [True, False])
def test_loads_from_netlang_data(dirs, make_idx_set, gzipped):
    x_train, y_train, x_test, y_test = make_idx_set(dirs["data"] / "mnist", gzipped=gzipped)
    ds = load_dataset("mnist", download=False)
    assert ds.name == "mnist" and ds.classes[3] == "3"
    assert ds.x_train.shape == (6, 1, 28, 28) and ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.x_test.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, x_train, atol=1e-4)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_test, y_test)


def test_netlang_data_comes_before_cache_before_system(dirs, make_idx_set):
    make_idx_set(dirs["system"] / "fashion-mnist", n_train=3)
    assert len(load_dataset("fashion-mnist", download=False).x_train) == 3
    make_idx_set(dirs["cache"] / "fashion-mnist", n_train=4)
    assert len(load_dataset("fashion-mnist", download=False).x_train) == 4
    make_idx_set(dirs["data"] / "fashion-mnist", n_train=5)
    ds = load_dataset("fashion-mnist", download=False)
    assert len(ds.x_train) == 5
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_an_incomplete_directory_is_skipped(dirs, make_idx_set):
    make_idx_set(dirs["data"] / "mnist", n_train=5)
    (dirs["data"] / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    make_idx_set(dirs["system"] / "mnist", n_train=2)
    assert len(load_dataset("mnist", download=False).x_train) == 2


def test_original_dotted_names_are_accepted(dirs, make_idx_set):
    folder = dirs["data"] / "mnist"
    make_idx_set(folder, gzipped=False)
    for path in folder.iterdir():
        path.rename(folder / path.name.replace("-idx", ".idx"))
    assert len(load_dataset("mnist", download=False).x_test) == 4


def test_not_found_offline_lists_every_directory_and_fix(dirs):
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", download=False)
    message = str(caught.value)
    assert "data set 'fashion-mnist' not found; download disabled.\n" in message
    for folder in (dirs["data"], dirs["cache"], dirs["system"]):
        assert str(folder / "fashion-mnist") in message
    assert "train-images-idx3-ubyte.gz" in message
    assert "set NETLANG_DATA" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "go online" in message


def serve(files: dict[str, bytes], requested: list[str]):
    """A fake URL opener serving `files` by URL basename, recording each request."""

    def opener(url: str):
        requested.append(url)
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise urllib.error.URLError("Name or service not known")
        return io.BytesIO(files[name])

    return opener


def source_for(folder: Path, mirrors: tuple[str, ...], sha256: dict[str, str] | None = None) -> RemoteDataset:
    """An MNIST-like RemoteDataset whose checksums are those of the files in `folder`."""
    files = []
    for name in IDX_NAMES:
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        files.append(RemoteFile(name, (sha256 or {}).get(name, digest)))
    return RemoteDataset(name="tiny", files=tuple(files), mirrors=mirrors)


def test_download_from_a_file_url_into_the_cache(dirs, tmp_path, make_idx_set):
    server = tmp_path / "server"
    _, y_train, _, _ = make_idx_set(server)
    source = source_for(server, (server.as_uri() + "/",))
    ds = load_idx_dataset(source, download=True, environ=dirs["environ"])
    np.testing.assert_array_equal(ds.y_train, y_train)
    cached = sorted(path.name for path in (dirs["cache"] / "tiny").iterdir())
    assert cached == sorted(IDX_NAMES)  # no temporary files left behind
    # A second load finds the cache and never opens a URL.
    requested: list[str] = []
    load_idx_dataset(source, download=True, environ=dirs["environ"], opener=serve({}, requested))
    assert requested == []


def test_download_falls_back_to_the_next_mirror(dirs, tmp_path, make_idx_set):
    server = tmp_path / "server"
    make_idx_set(server)
    files = {name: (server / name).read_bytes() for name in IDX_NAMES}
    requested: list[str] = []
    source = source_for(server, ("https://down.example/", "https://up.example/"))
    ds = load_idx_dataset(source, environ=dirs["environ"], opener=serve_only("up", files, requested))
    assert len(ds.x_train) == 6
    assert requested[:2] == [f"https://down.example/{IDX_NAMES[0]}", f"https://up.example/{IDX_NAMES[0]}"]


def serve_only(host: str, files: dict[str, bytes], requested: list[str]):
    inner = serve(files, requested)

    def opener(url: str):
        if host not in url:
            requested.append(url)
            raise urllib.error.URLError("timed out")
        return inner(url)

    return opener


def test_checksum_mismatch_is_refused_and_nothing_is_kept(dirs, tmp_path, make_idx_set):
    server = tmp_path / "server"
    make_idx_set(server)
    wrong = "0" * 64
    source = source_for(server, (server.as_uri() + "/",), sha256={IDX_NAMES[2]: wrong})
    with pytest.raises(DataError) as caught:
        load_idx_dataset(source, environ=dirs["environ"])
    message = str(caught.value)
    actual = hashlib.sha256((server / IDX_NAMES[2]).read_bytes()).hexdigest()
    assert f"t10k-images-idx3-ubyte.gz has SHA-256 {actual}, expected {wrong}" in message
    assert "the download was discarded" in message
    assert str(dirs["data"] / "tiny") in message  # still one error listing where it looked
    kept = {path.name for path in (dirs["cache"] / "tiny").iterdir()}
    assert kept == {IDX_NAMES[0], IDX_NAMES[1]}  # verified files stay; the bad one and temporaries do not


def test_offline_download_failure_is_one_error(dirs, capsys):
    requested: list[str] = []
    with pytest.raises(DataError) as caught:
        load_idx_dataset(MNIST, environ=dirs["environ"], opener=serve({}, requested))
    message = str(caught.value)
    assert requested == ["https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"]
    assert (
        "downloading https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz failed"
        in message
    )
    assert "Name or service not known" in message
    assert "netlang: downloading https://ossci-datasets" in capsys.readouterr().err
    assert str(dirs["cache"] / "mnist") in message and "set NETLANG_DATA" in message


def test_malformed_contents_name_the_file(dirs, make_idx, make_idx_set):
    folder = dirs["data"] / "mnist"
    make_idx_set(folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(make_idx(np.array([1, 2, 3], dtype=np.uint8))))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: has 3 labels but .* has 6 images"):
        load_dataset("mnist", download=False)
    labels.write_bytes(gzip.compress(make_idx(np.array([1, 2, 3, 4, 5, 12], dtype=np.uint8))))
    with pytest.raises(DataError, match="holds label 12; expected labels 0..9"):
        load_dataset("mnist", download=False)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(make_idx(np.zeros((6, 8, 8), dtype=np.uint8)))
    with pytest.raises(DataError, match=r"images-idx3-ubyte.gz: holds a uint8 array of shape \(6, 8, 8\)"):
        load_dataset("mnist", download=False)


def test_checksums_are_sha256_hex():
    for source in (MNIST, FASHION_MNIST):
        for remote in source.files:
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (DEBIAN_FASHION / IDX_NAMES[0]).exists(), reason="dataset-fashion-mnist not installed"
)
def test_debian_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv("NETLANG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.y_train[:3].tolist() == [9, 0, 0]  # ankle boot, T-shirt/top, T-shirt/top
    assert 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
