"""Splits before decoding, and the class-folder layout several datasets share (no TensorFlow).

A `Split` is image files or in-memory uint8 arrays with integer labels; `pipeline.py` decodes it.
Class folders are listed and split deterministically here: one sub-folder of images per class,
a separate validation folder or a seeded, stratified holdout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnzoo.utils.errors import CnnzooError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """One split before decoding: image files or in-memory uint8 arrays, and integer labels."""

    name: str
    labels: np.ndarray
    paths: list[Path] | None = None
    images: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


# Names next to data that are never data: macOS zips carry a `__MACOSX/` folder of resource forks.
_NOT_DATA = frozenset({"__MACOSX"})
# Files a dataset's top folder may hold beside its class folders that are not images.
_NOTES = frozenset({".txt", ".md", ".rst", ".csv", ".json", ".yaml", ".yml", ".html", ".pdf"})


class LooseFilesWarning(UserWarning):
    """Files at the top of a class-folder dataset, outside every class folder: not used."""


def is_data(name: str) -> bool:
    """Whether a file or folder name can hold data: not hidden (`.DS_Store`,
    `.ipynb_checkpoints/`) and not an archiver's side folder (`__MACOSX/`)."""
    return not name.startswith(".") and name not in _NOT_DATA


def candidate_images(folder: Path) -> list[Path]:
    """Every file under `folder` that cnnzoo tries as an image, sorted: training and predict
    agree on this. Hidden files and folders and `__MACOSX/` are not data; any other file counts
    whatever its extension, and its content decides whether it decodes."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and all(is_data(part) for part in path.relative_to(folder).parts)
    )


def _warn_loose_files(root: Path, what: str) -> None:
    """Name the files at the top of `root` that no class folder holds (notes such as a
    README or a labels .csv are expected there and not named)."""
    loose = sorted(
        p.name
        for p in root.iterdir()
        if p.is_file()
        and is_data(p.name)
        and p.suffix.lower() not in _NOTES
        and not p.name.upper().startswith(("README", "LICENSE", "LICENCE"))
    )
    if loose:
        shown = ", ".join(loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
        warnings.warn(
            f"{what}: {len(loose)} file(s) at the top of {root} are in no class folder and are "
            f"not used: {shown}. Move each into its class's sub-folder to train on it.",
            LooseFilesWarning,
            stacklevel=3,
        )


def list_class_folders(root: Path, what: str) -> tuple[list[str], list[list[Path]]]:
    """Sorted class folder names under `root` and, for each, every (non-hidden) file in it.

    Files are kept whatever their extension: the pipeline decides by content what is an image.
    """
    if not root.is_dir():
        raise CnnzooError(
            f"{what}: no folder at {root}. Expected a folder with one sub-folder of images per "
            "class; check data.path."
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and is_data(p.name))
    if len(folders) < 2:
        raise CnnzooError(
            f"{what}: {root} needs at least 2 class sub-folders to classify, found "
            f"{len(folders)}. Put each class's images in its own sub-folder."
        )
    files = [candidate_images(folder) for folder in folders]
    empty = [folder.name for folder, found in zip(folders, files, strict=True) if not found]
    if empty:
        raise CnnzooError(
            f"{what}: class folders without any files in {root}: {', '.join(empty)}. "
            "Add images or remove the empty folders."
        )
    _warn_loose_files(root, what)
    return [folder.name for folder in folders], files


def split_from_folders(name: str, files: list[list[Path]]) -> Split:
    """A split of files, labelled by the index of the class folder each came from."""
    paths = [path for group in files for path in group]
    labels = np.concatenate(
        [np.full(len(group), i, dtype=np.int64) for i, group in enumerate(files)]
    )
    return Split(name, labels, paths=paths)


def check_same_classes(train: list[str], other: list[str], where: Path) -> None:
    """Refuse a validation or test folder whose class sub-folders differ from training's."""
    if train != other:
        raise CnnzooError(
            f"The validation folder {where} has classes {other}, but training has {train}. "
            "Both need the same class sub-folders."
        )


def holdout(files: list[list[Path]], fraction: float, seed: int) -> tuple[list, list]:
    """Split each class's files by `fraction` with a seeded permutation (stratified)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for group in files:
        order = rng.permutation(len(group))
        count = int(round(len(group) * fraction))
        held.append([group[i] for i in sorted(order[:count])])
        train.append([group[i] for i in sorted(order[count:])])
    return train, held


@dataclass(frozen=True)
class FolderLayout:
    """Where a class-folder dataset's splits are: a training root, and optionally separate
    validation and test roots (the test split falls back to validation, then to the holdout)."""

    train: Path
    train_what: str
    validation: Path | None = None
    validation_what: str = "validation"
    test: Path | None = None
    test_what: str = "test"


def folder_split(
    layout: FolderLayout, split: str, fraction: float, seed: int, no_test_hint: str
) -> tuple[Split | None, list[str]]:
    """One split of a class-folder dataset, and its class names (the training folder's)."""
    classes, files = list_class_folders(layout.train, layout.train_what)
    if split == "test" and layout.test is not None:
        roots = (layout.test, layout.test_what)
    elif split != "train" and layout.validation is not None:
        roots = (layout.validation, layout.validation_what)
    else:
        roots = None
    if roots is not None:
        other_classes, other_files = list_class_folders(*roots)
        check_same_classes(classes, other_classes, roots[0])
        return split_from_folders(split, other_files), classes
    if layout.validation is not None:  # the train split of a separate-folders layout
        return split_from_folders(split, files), classes
    train, held = holdout(files, fraction, seed)
    if split == "train":
        return split_from_folders(split, train), classes
    if not any(held):
        if split == "test":
            raise CnnzooError(no_test_hint)
        return None, classes
    return split_from_folders(split, held), classes
