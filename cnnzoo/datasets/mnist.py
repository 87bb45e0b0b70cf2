"""MNIST as Keras ships it (`mnist.npz`): its download, its file, its three splits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from cnnzoo.datasets.fetch import (
    Fetched,
    data_home,
    download_command,
    download_file,
    expected_sha256,
    staging,
)
from cnnzoo.datasets.folders import Split
from cnnzoo.datasets.schema import DatasetDefaults, DownloadableData, Fraction, ImageSize
from cnnzoo.utils.errors import CnnzooError

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_FILE = "mnist.npz"
CLASS_NAMES = tuple(str(digit) for digit in range(10))


class ImageScaleWarning(UserWarning):
    """An mnist.npz-format file whose pixels were rescaled or rounded to 0..255 on reading."""


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
        fix = (
            f"Download mnist.npz on a machine with access (e.g. `curl -O {MNIST_URL}`) and set "
            f"data.path to it, or copy it to {target}."
        )
        fetched = download_file(url, expected, temp, MNIST_FILE, progress, what="MNIST", fix=fix)
        os.replace(fetched, target)
    return Fetched(target, True)


class MnistData(DownloadableData):
    """`data:` for MNIST: a local mnist.npz (`path`) or the cache, and a seeded holdout."""

    dataset: Literal["mnist"] = "mnist"
    image_size: ImageSize = [28, 28]
    channels: Literal[1, 3] = 1
    url: str | None = None  # a mirror of mnist.npz (default: Keras')
    sha256: str | None = None
    validation_split: Fraction = 0.1


def local_mnist_file(path: str) -> Path:
    """`data.path` as an existing file, or a CnnzooError saying what it should be."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise CnnzooError(
            f"data.path: no MNIST file at {file}. Point it at an mnist.npz-format file "
            "(keys x_train, y_train, x_test, y_test)."
        )
    return file


def mnist_file(data: MnistData) -> Path:
    """The `mnist.npz` to read: `data.path`, else the cache (downloaded if `data.download`)."""
    if data.path:
        return local_mnist_file(data.path)
    path = data_home(data.data_dir) / MNIST_FILE
    if path.is_file():
        return path
    if data.download:
        return download_mnist(data.data_dir, data.url, data.sha256).path
    command = download_command("mnist", data.data_dir, data.url, data.sha256)
    raise CnnzooError(
        f"MNIST is not downloaded (looked for {path}). Run `{command}`, or set "
        "data.download: true, or set data.path to a local mnist.npz-format file."
    )


def mnist_split(
    path: Path, split: str, validation_split: float, seed: int
) -> tuple[Split | None, list[str]]:
    """One split of an mnist.npz-format file: its test arrays, or its training arrays minus
    (train) or only (validation) a seeded holdout of `validation_split`."""
    arrays = load_mnist_arrays(path)
    classes = list(CLASS_NAMES)
    if split == "test":
        return Split(split, arrays["y_test"], images=arrays["x_test"]), classes
    images, labels = arrays["x_train"], arrays["y_train"]
    num_validation = int(round(len(images) * validation_split))
    order = np.random.default_rng(seed).permutation(len(images))
    index = np.sort(order[num_validation:] if split == "train" else order[:num_validation])
    if not len(index):
        return None, classes
    return Split(split, labels[index], images=images[index]), classes


def load_mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an mnist.npz-format file, checking its keys, shapes, pixel values and labels."""
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
    for split in ("train", "test"):
        images, labels = f"x_{split}", f"y_{split}"
        arrays[images] = _pixels(path, images, arrays[images])
        arrays[labels] = _labels(path, labels, arrays[labels])
        if len(arrays[images]) != len(arrays[labels]):
            raise CnnzooError(
                f"{path}: {images} holds {len(arrays[images])} images but {labels} "
                f"{len(arrays[labels])} labels; each image needs exactly one label."
            )
    return arrays


def _pixels(path: Path, key: str, images: np.ndarray) -> np.ndarray:
    """`images` as uint8 0..255: floats in [0, 1] scaled (with a warning), in [0, 255] rounded."""
    shape = images.shape
    if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] in (1, 3))):
        raise CnnzooError(
            f"{path}: {key} should hold images shaped (count, height, width) or "
            f"(count, height, width, 1|3). Received: shape {shape}"
        )
    if images.dtype == np.uint8:
        return images
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise CnnzooError(
            f"{path}: {key} should hold numbers (uint8 0..255, or floats in [0, 1] or "
            f"[0, 255]). Received: dtype {images.dtype}"
        )
    low, high = (images.min(), images.max()) if images.size else (0, 0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise CnnzooError(
            f"{path}: {key} holds pixel values from {low} to {high}; expected uint8 0..255 or "
            "floats in [0, 1] or [0, 255]. Rescale the images to one of these ranges."
        )
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.uint8)
    if high <= 1.0:
        warnings.warn(
            f"{path}: {key} holds floats in [0, 1]; read as pixel values 0..255 (x 255).",
            ImageScaleWarning,
            stacklevel=3,
        )
        images = images * 255.0
    rounded = np.rint(images)
    if not np.array_equal(rounded, images) and high > 1.0:
        warnings.warn(
            f"{path}: {key} holds fractional pixel values in [0, 255]; rounded to whole ones.",
            ImageScaleWarning,
            stacklevel=3,
        )
    return rounded.astype(np.uint8)


def _labels(path: Path, key: str, labels: np.ndarray) -> np.ndarray:
    """`labels` as int64 class indices in [0, 10), or a CnnzooError naming the bad values."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise CnnzooError(
            f"{path}: {key} should hold one class index per image, shaped (count,). "
            f"Received: shape {labels.shape}"
            + (" (one-hot? use argmax)" if labels.ndim == 2 else "")
        )
    numeric = np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    if not numeric or (labels.size and not np.array_equal(np.rint(labels), labels)):
        odd = labels if not numeric else labels[np.rint(labels) != labels]
        raise CnnzooError(
            f"{path}: {key} should hold whole class indices 0..{len(CLASS_NAMES) - 1}. "
            f"Received: {_some(odd)} (dtype {labels.dtype})"
        )
    labels = labels.astype(np.int64)
    outside = np.unique(labels[(labels < 0) | (labels >= len(CLASS_NAMES))])
    if outside.size:
        raise CnnzooError(
            f"{path}: {key} holds labels outside 0..{len(CLASS_NAMES) - 1} (MNIST has "
            f"{len(CLASS_NAMES)} classes): {_some(outside)}. Renumber the classes from 0."
        )
    return labels


def _some(values: np.ndarray, shown: int = 5) -> str:
    """The first distinct values, e.g. "10, 11, 12, 13, 14 and 3 more"."""
    distinct = list(dict.fromkeys(values.ravel().tolist()))
    text = ", ".join(str(value) for value in distinct[:shown])
    return text + (f" and {len(distinct) - shown} more" if len(distinct) > shown else "")


class Mnist(DatasetDefaults):
    """MNIST: 60,000 training and 10,000 test digits; validation is a seeded holdout."""

    summary = "MNIST handwritten digits: 60,000 train, 10,000 test, 28x28 grey (Keras mnist.npz)"
    schema = MnistData
    evaluation_split = "test"

    def fetch(self, data: MnistData, *, force: bool = False, progress: bool = True) -> Fetched:
        """Download mnist.npz from data.url (default: Keras mirror), checked by data.sha256."""
        return download_mnist(data.data_dir, data.url, data.sha256, force, progress)

    def split(self, data: MnistData, seed: int, split: str) -> tuple[Split | None, list[str]]:
        """The test arrays, or the training arrays minus (train) or only (validation) a holdout."""
        return mnist_split(mnist_file(data), split, data.validation_split, seed)
