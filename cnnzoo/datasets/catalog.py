"""The dataset registry: the interface every dataset plugin implements, and the plugins.

A dataset is one module in `cnnzoo/data/` with one class implementing `Dataset`: its `data:` schema,
how it is fetched into the cache, how its splits are listed, its class names. Adding a dataset is
that module plus one line in `_PLUGINS` below. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cnnzoo.datasets.archive import Archive
from cnnzoo.datasets.directory import Directory
from cnnzoo.datasets.fetch import Fetched, data_home
from cnnzoo.datasets.folders import Split
from cnnzoo.datasets.mnist import Mnist
from cnnzoo.datasets.mnist_sample import MnistSample
from cnnzoo.datasets.monkeys import Monkeys
from cnnzoo.datasets.schema import DataConfig
from cnnzoo.utils.registry import Registry

__all__ = ["DATASETS", "DataConfig", "Dataset", "Fetched", "data_home"]


class Dataset(Protocol):
    """What cnnzoo needs to know about a dataset; one implementation per module."""

    name: str
    summary: str
    schema: type[DataConfig]  # its `data:` keys and their defaults (cnnzoo/datasets/schema.py)
    image_size: tuple[int, int]  # the schema's defaults, overridden by data.image_size etc.
    channels: int
    validation_split: float
    evaluation_split: str  # what `cnnzoo evaluate` reads by default: "test" or "validation"
    downloadable: bool  # `cnnzoo download NAME` and data.download apply
    takes_url: bool  # data.url / data.sha256 (--url, --sha256) apply

    def unchecked(self, **values: object) -> DataConfig:
        """Its `data:` with `values`, required keys left None (for `cnnzoo download`)."""
        ...

    def fetch(self, data: DataConfig, *, force: bool = False, progress: bool = True) -> Fetched:
        """Download into the cache (`data.data_dir`) unless already there (or `force`)."""
        ...

    def split(self, data: DataConfig, seed: int, split: str) -> tuple[Split | None, list[str]]:
        """One split's images (None if the dataset has no such split) and the class names,
        fetching first if the config says `data.download: true`."""
        ...

    def with_data_path(self, data: DataConfig, path: Path) -> DataConfig:
        """`data` reading from `path` instead (`cnnzoo evaluate --data PATH`)."""
        ...


DATASETS: Registry[Dataset] = Registry("dataset")
_PLUGINS: tuple[Dataset, ...] = (
    Mnist(),
    MnistSample(),
    Monkeys(),
    Directory(),
    Archive(),
)
for _plugin in _PLUGINS:
    DATASETS.register(_plugin.name)(_plugin)
