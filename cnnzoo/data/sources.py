"""Where each split's images come from, whatever the dataset: the plugin's files or arrays.

No TensorFlow here: the dataset plugin lists files, checks layouts and splits them
deterministically; `pipeline.py` decodes what it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnzoo.data.catalog import DATASETS
from cnnzoo.data.folders import SPLITS, Split, list_class_folders
from cnnzoo.data.mnist import load_mnist_arrays

if TYPE_CHECKING:
    from cnnzoo.config import Config

__all__ = ["SPLITS", "Split", "list_class_folders", "load_mnist_arrays", "split_source"]


def split_source(config: Config, split: str) -> tuple[Split | None, list[str]]:
    """The images of one split (None if the dataset has no such split) and the class names."""
    assert split in SPLITS, f"unknown split {split!r}"
    return DATASETS.get(config.data.dataset).split(config, split)
