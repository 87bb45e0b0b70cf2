"""Any folder of class folders on disk (`data.path`), with `data.val_path` or a seeded holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cnnzoo.datasets.fetch import Fetched
from cnnzoo.datasets.folders import FolderLayout, Split, folder_split
from cnnzoo.datasets.schema import DataConfig, DatasetDefaults, Fraction, UserPath
from cnnzoo.utils.errors import ConfigError


class DirectoryData(DataConfig):
    """`data:` for a folder of class folders: `path` (required), `val_path` or a holdout."""

    dataset: Literal["directory"] = "directory"
    path: UserPath = Field(description="the folder with one sub-folder of images per class")
    val_path: UserPath | None = None
    validation_split: Fraction = 0.2


class Directory(DatasetDefaults):
    """A folder with one sub-folder of images per class; the test split is the validation one."""

    name = "directory"
    summary = "Any folder with one sub-folder of images per class"
    schema = DirectoryData
    evaluation_split = "validation"

    def fetch(self, data: DirectoryData, *, force: bool = False, progress: bool = True) -> Fetched:
        """Nothing to fetch: the folder is the user's."""
        raise ConfigError(
            f'Dataset "{self.name}" has nothing to download: it reads the folder data.path names.'
        )

    def split(self, data: DirectoryData, seed: int, split: str) -> tuple[Split | None, list[str]]:
        """`data.path`'s files, split by `data.val_path` if given, else by a seeded holdout."""
        layout = FolderLayout(Path(data.path).expanduser(), "data.path")
        if data.val_path:
            val_root = Path(data.val_path).expanduser()
            layout = FolderLayout(layout.train, "data.path", val_root, "data.val_path")
        return folder_split(
            layout,
            split,
            data.validation_split,
            seed,
            "The directory dataset has no validation images to test on: set data.val_path "
            "or data.validation_split > 0.",
        )

    def with_data_path(self, data: DirectoryData, path: Path) -> DirectoryData:
        """Every image under `path` is held out: it becomes the validation (and test) folder."""
        return data.model_copy(update={"path": str(path), "val_path": str(path)})
