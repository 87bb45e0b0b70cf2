"""The dataset registry: what each dataset is, where it lives and its defaults (no TensorFlow)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.registry import Registry

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MONKEYS_KAGGLE_REF = "slothkong/10-monkey-species"


@dataclass(frozen=True)
class DatasetSpec:
    """Defaults and provenance for one dataset."""

    name: str
    summary: str
    image_size: tuple[int, int]
    channels: int
    validation_split: float
    download_command: str | None = None


DATASETS: Registry[DatasetSpec] = Registry("dataset")
DATASETS.add(
    "mnist",
    DatasetSpec(
        name="mnist",
        summary="MNIST handwritten digits: 60,000 train, 10,000 test, 28x28 grey (Keras mnist.npz)",
        image_size=(28, 28),
        channels=1,
        validation_split=0.1,
        download_command="cnnzoo download mnist",
    ),
)
DATASETS.add(
    "monkeys",
    DatasetSpec(
        name="monkeys",
        summary=f"10 Monkey Species (Kaggle {MONKEYS_KAGGLE_REF}), training/validation folders",
        image_size=(128, 128),
        channels=3,
        validation_split=0.0,
        download_command="cnnzoo download monkeys",
    ),
)
DATASETS.add(
    "directory",
    DatasetSpec(
        name="directory",
        summary="Any folder with one sub-folder of images per class",
        image_size=(128, 128),
        channels=3,
        validation_split=0.2,
    ),
)


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder for downloads: `override`, else $CNNZOO_DATA_DIR, else ~/.cache/cnnzoo."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("CNNZOO_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnzoo"
