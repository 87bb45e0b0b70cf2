"""Where each split's images come from, whatever the dataset: the plugin's files or arrays.

No TensorFlow here: the dataset plugin lists files, checks layouts and splits them
deterministically; `pipeline.py` decodes what it returns.
"""

from __future__ import annotations

from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.folders import SPLITS, Split, list_class_folders
from cnnzoo.datasets.mnist import load_mnist_arrays
from cnnzoo.datasets.schema import DataConfig

__all__ = ["SPLITS", "Split", "list_class_folders", "load_mnist_arrays", "split_source"]


def split_source(data: DataConfig, seed: int, split: str) -> tuple[Split | None, list[str]]:
    """The images of one split (None if the dataset has no such split) and the class names:
    `data` is a config's `data:` section, `seed` its seed (for seeded holdouts)."""
    assert split in SPLITS, f"unknown split {split!r}"
    return DATASETS.get(data.dataset).split(data, seed, split)
