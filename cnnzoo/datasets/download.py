"""`cnnzoo download`: fetch any downloadable dataset into the cache through its plugin.

How each dataset is fetched lives in its own module (mnist.py, monkeys.py, archive.py); the
atomic staging they share lives in fetch.py.
"""

from __future__ import annotations

import os

from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.fetch import Fetched
from cnnzoo.datasets.schema import DataConfig
from cnnzoo.utils.errors import ConfigError

__all__ = ["Fetched", "download_dataset"]


def download_dataset(
    name: str,
    data: DataConfig | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Fetched:
    """Download dataset `name`; arguments override `data.data_dir`, `data.url`, `data.sha256`."""
    dataset = DATASETS.get(name)  # unknown names: ConfigError listing the known ones
    if not dataset.downloadable:
        downloadable = ", ".join(n for n in DATASETS.names() if DATASETS.get(n).downloadable)
        raise ConfigError(
            f'Dataset "{name}" has nothing to download. {dataset.summary}. '
            f"Downloadable: {downloadable}."
        )
    if (url or sha256) and not dataset.takes_url:
        with_url = " and ".join(n for n in DATASETS.names() if DATASETS.get(n).takes_url)
        raise ConfigError(
            f"--url and --sha256 apply to {with_url} only; {name} has its own source. "
            f"Received: url={url!r}, sha256={sha256!r}"
        )
    if data is None or data.dataset != name:
        # A config of another dataset lends only its download cache.
        data = dataset.unchecked(**(data.model_dump(include={"data_dir"}) if data else {}))
    updates = {"data_dir": data_dir and str(data_dir), "url": url, "sha256": sha256}
    data = data.model_copy(update={key: value for key, value in updates.items() if value})
    return dataset.fetch(data, force=force, progress=progress)
