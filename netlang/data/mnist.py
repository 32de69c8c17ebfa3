"""The `mnist` and `fashion-mnist` data sets: four IDX files each, found on disk or downloaded.

The SHA-256 sums are those of the gzipped files as served by the mirrors below; they are checked on
download only. Files found locally are trusted but fully validated as IDX (Debian's
dataset-fashion-mnist package, for one, re-compresses the files, so their checksums differ).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from netlang.data.dataset import Dataset
from netlang.data.fetch import Opener, RemoteDataset, RemoteFile, locate
from netlang.data.idx import HeaderCheck, read_idx
from netlang.errors import DataError

IMAGE_SIDE = 28
N_CLASSES = 10

# The IDX files of an MNIST-style data set, by role. The unzipped names are accepted too, including
# the original distribution's "train-images.idx3-ubyte" spelling.
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


def _idx_files(sha256: Mapping[str, str]) -> tuple[RemoteFile, ...]:
    files = []
    for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
        unzipped = name.removesuffix(".gz")
        files.append(RemoteFile(name, sha256[name], aliases=(unzipped, unzipped.replace("-idx", ".idx"))))
    return tuple(files)


MNIST = RemoteDataset(
    name="mnist",
    files=_idx_files(
        {
            TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        }
    ),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
)

FASHION_MNIST = RemoteDataset(
    name="fashion-mnist",
    files=_idx_files(
        {
            TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        }
    ),
    # The TLS endpoint of Zalando Research's bucket first; its plain-HTTP website endpoint is the
    # fallback, safe because every download is checked against the SHA-256 above.
    mirrors=(
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    install_hint="on Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist",
)

CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip


def load_idx_dataset(
    dataset: RemoteDataset,
    *,
    download: bool = True,
    environ: Mapping[str, str] | None = None,
    opener: Opener | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """An MNIST-style data set: x (N, 1, 28, 28) float32 in [0, 1], y int64; raises DataError."""
    paths = locate(dataset, download=download, environ=environ, opener=opener)
    x_train, y_train = _images_and_labels(paths[TRAIN_IMAGES], paths[TRAIN_LABELS])
    x_test, y_test = _images_and_labels(paths[TEST_IMAGES], paths[TEST_LABELS])
    return Dataset(
        name=dataset.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        classes=classes or CLASS_NAMES.get(dataset.name, [str(label) for label in range(N_CLASSES)]),
    )


def _images_and_labels(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, check_header=_expect_images(images_path))
    labels = read_idx(labels_path, check_header=_expect_labels(labels_path))
    if len(labels) != len(images):
        raise DataError(
            f"has {len(labels)} labels but {images_path} has {len(images)} images; "
            "expected one label per image",
            file=str(labels_path),
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(
            f"holds label {labels.max()}; expected labels 0..{N_CLASSES - 1}", file=str(labels_path)
        )
    x = images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE).astype(np.float32) / np.float32(255)
    return x, labels.astype(np.int64)


def _expect_images(path) -> HeaderCheck:
    """The check, made before any pixel is read, that an IDX file declares at least one 28x28 uint8 image."""

    def check(dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if dtype != np.uint8 or len(shape) != 3 or shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(
                f"holds a {dtype.name} array of shape {shape}; expected uint8 images "
                f"of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE})",
                file=str(path),
            )
        if shape[0] == 0:
            raise DataError(f"holds no images (shape {shape}); expected at least one", file=str(path))

    return check


def _expect_labels(path) -> HeaderCheck:
    """The check, made before any label is read, that an IDX file declares uint8 labels (N,)."""

    def check(dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if dtype != np.uint8 or len(shape) != 1:
            raise DataError(
                f"holds a {dtype.name} array of shape {shape}; expected uint8 labels of shape (N,)",
                file=str(path),
            )

    return check
