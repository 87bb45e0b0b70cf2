"""Any folder of class folders on disk (`data.path`), with `data.val_path` or a seeded holdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnzoo.data.fetch import Fetched
from cnnzoo.data.folders import FolderLayout, Split, folder_split
from cnnzoo.errors import ConfigError

if TYPE_CHECKING:
    from cnnzoo.config import Config, DataConfig


class Directory:
    """A folder with one sub-folder of images per class; the test split is the validation one."""

    name = "directory"
    summary = "Any folder with one sub-folder of images per class"
    image_size = (128, 128)
    channels = 3
    validation_split = 0.2
    evaluation_split = "validation"
    downloadable = False
    takes_url = False

    def fetch(self, data: DataConfig, *, force: bool = False, progress: bool = True) -> Fetched:
        """Nothing to fetch: the folder is the user's."""
        raise ConfigError(
            f'Dataset "{self.name}" has nothing to download: it reads the folder data.path names.'
        )

    def split(self, config: Config, split: str) -> tuple[Split | None, list[str]]:
        """`data.path`'s files, split by `data.val_path` if given, else by a seeded holdout."""
        data = config.data
        if not data.path:
            raise ConfigError(
                "data.path: the directory dataset needs a folder with one sub-folder per class. "
                "Received: data.path=None"
            )
        layout = FolderLayout(Path(data.path).expanduser(), "data.path")
        if data.val_path:
            val_root = Path(data.val_path).expanduser()
            layout = FolderLayout(layout.train, "data.path", val_root, "data.val_path")
        return folder_split(
            layout,
            split,
            data.validation_split or 0.0,
            config.seed,
            "The directory dataset has no validation images to test on: set data.val_path "
            "or data.validation_split > 0.",
        )

    def with_data_path(self, data: DataConfig, path: Path) -> DataConfig:
        """Every image under `path` is held out: it becomes the validation (and test) folder."""
        return data.model_copy(update={"path": str(path), "val_path": str(path)})
