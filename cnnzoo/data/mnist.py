"""MNIST as Keras ships it (`mnist.npz`): its download, its file, its three splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnzoo.data.fetch import (
    DownloadError,
    Fetched,
    data_home,
    download_file,
    expected_sha256,
    option,
    staging,
)
from cnnzoo.data.folders import Split
from cnnzoo.errors import CnnzooError

if TYPE_CHECKING:
    from cnnzoo.config import Config, DataConfig

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_FILE = "mnist.npz"
CLASS_NAMES = tuple(str(digit) for digit in range(10))


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Fetched:
    """Download `mnist.npz` into the cache with pooch, checking its SHA-256."""
    expected = expected_sha256(sha256 or MNIST_SHA256)
    target = data_home(data_dir) / MNIST_FILE
    if target.is_file() and not force:
        return Fetched(target, False)
    url = url or MNIST_URL
    with staging(target.parent, MNIST_FILE) as temp:
        try:
            fetched = download_file(url, expected, temp, MNIST_FILE, progress)
        except DownloadError as error:
            raise CnnzooError(
                f"Cannot download MNIST from {url}: {error}. Download mnist.npz on a machine "
                f"with access (e.g. `curl -O {MNIST_URL}`) and set data.path to it, or copy it "
                f"to {target}."
            ) from None
        os.replace(fetched, target)
    return Fetched(target, True)


def mnist_file(data: DataConfig) -> Path:
    """The `mnist.npz` to read: `data.path`, else the cache (downloaded if `data.download`)."""
    if data.path:
        path = Path(data.path).expanduser()
        if not path.is_file():
            raise CnnzooError(
                f"data.path: no MNIST file at {path}. Point it at an mnist.npz-format file "
                "(keys x_train, y_train, x_test, y_test)."
            )
        return path
    path = data_home(data.data_dir) / MNIST_FILE
    if path.is_file():
        return path
    if data.download:
        return download_mnist(data.data_dir, data.url, data.sha256).path
    command = (
        "cnnzoo download mnist"
        + option("--data-dir", data.data_dir)
        + option("--url", data.url)
        + option("--sha256", data.sha256)
    )
    raise CnnzooError(
        f"MNIST is not downloaded (looked for {path}). Run `{command}`, or set "
        "data.download: true, or set data.path to a local mnist.npz-format file."
    )


def load_mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an mnist.npz-format file, checking its keys, dtypes and shapes."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise CnnzooError(f"{path} is not a readable .npz file: {error}") from None
    missing = {"x_train", "y_train", "x_test", "y_test"} - arrays.keys()
    if missing:
        raise CnnzooError(
            f"{path} lacks the MNIST keys {sorted(missing)}; expected x_train, y_train, "
            "x_test, y_test."
        )
    for key in ("x_train", "x_test"):
        shape = arrays[key].shape
        if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] in (1, 3))):
            raise CnnzooError(
                f"{path}: {key} should hold images shaped (count, height, width) or "
                f"(count, height, width, 1|3). Received: shape {shape}"
            )
        arrays[key] = arrays[key].astype(np.uint8, copy=False)
    return arrays


class Mnist:
    """MNIST: 60,000 training and 10,000 test digits; validation is a seeded holdout."""

    name = "mnist"
    summary = "MNIST handwritten digits: 60,000 train, 10,000 test, 28x28 grey (Keras mnist.npz)"
    image_size = (28, 28)
    channels = 1
    validation_split = 0.1
    evaluation_split = "test"
    downloadable = True
    takes_url = True

    def fetch(self, data: DataConfig, *, force: bool = False, progress: bool = True) -> Fetched:
        """Download mnist.npz from data.url (default: Keras mirror), checked by data.sha256."""
        return download_mnist(data.data_dir, data.url, data.sha256, force, progress)

    def split(self, config: Config, split: str) -> tuple[Split | None, list[str]]:
        """The test arrays, or the training arrays minus (train) or only (validation) a holdout."""
        arrays = load_mnist_arrays(mnist_file(config.data))
        classes = list(CLASS_NAMES)
        if split == "test":
            labels = arrays["y_test"].astype(np.int64)
            return Split(split, labels, images=arrays["x_test"]), classes
        images, labels = arrays["x_train"], arrays["y_train"].astype(np.int64)
        num_validation = int(round(len(images) * (config.data.validation_split or 0.0)))
        order = np.random.default_rng(config.seed).permutation(len(images))
        index = np.sort(order[num_validation:] if split == "train" else order[:num_validation])
        if not len(index):
            return None, classes
        return Split(split, labels[index], images=images[index]), classes

    def with_data_path(self, data: DataConfig, path: Path) -> DataConfig:
        """Read another mnist.npz-format file."""
        return data.model_copy(update={"path": str(path)})
