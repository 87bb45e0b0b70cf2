"""Any folder of class folders on disk (`data.path`), with `data.val_path` or a seeded holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cnnzoo.datasets.folders import FolderLayout, Split, folder_split
from cnnzoo.datasets.schema import DataConfig, DatasetDefaults, Fraction, UserPath


class DirectoryData(DataConfig):
    """`data:` for a folder of class folders: `path` (required), `val_path` or a holdout."""

    dataset: Literal["directory"] = "directory"
    path: UserPath = Field(description="the folder with one sub-folder of images per class")
    val_path: UserPath | None = None
    validation_split: Fraction = 0.2


class Directory(DatasetDefaults):
    """A folder with one sub-folder of images per class; the test split is the validation one."""

    summary = "Any folder with one sub-folder of images per class"
    schema = DirectoryData

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
