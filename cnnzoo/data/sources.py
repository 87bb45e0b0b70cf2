"""Where each split's images come from: class folders on disk or MNIST arrays, with class names.

No TensorFlow here: this module lists files, checks layouts and splits them deterministically;
`pipeline.py` decodes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnzoo.config import Config
from cnnzoo.data import download
from cnnzoo.errors import CnnzooError, ConfigError

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


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def list_class_folders(root: Path, what: str) -> tuple[list[str], list[list[Path]]]:
    """Sorted class folder names under `root` and, for each, every (non-hidden) file in it.

    Files are kept whatever their extension: the pipeline decides by content what is an image.
    """
    if not root.is_dir():
        raise CnnzooError(
            f"{what}: no folder at {root}. Expected a folder with one sub-folder of images per "
            "class; check data.path."
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if len(folders) < 2:
        raise CnnzooError(
            f"{what}: {root} needs at least 2 class sub-folders to classify, found "
            f"{len(folders)}. Put each class's images in its own sub-folder."
        )
    files = [
        sorted(f for f in folder.rglob("*") if f.is_file() and _visible(f)) for folder in folders
    ]
    empty = [folder.name for folder, found in zip(folders, files, strict=True) if not found]
    if empty:
        raise CnnzooError(
            f"{what}: class folders without any files in {root}: {', '.join(empty)}. "
            "Add images or remove the empty folders."
        )
    return [folder.name for folder in folders], files


def _split_from_folders(name: str, files: list[list[Path]]) -> Split:
    paths = [path for group in files for path in group]
    labels = np.concatenate(
        [np.full(len(group), i, dtype=np.int64) for i, group in enumerate(files)]
    )
    return Split(name, labels, paths=paths)


def _check_same_classes(train: list[str], other: list[str], where: Path) -> None:
    if train != other:
        raise CnnzooError(
            f"The validation folder {where} has classes {other}, but training has {train}. "
            "Both need the same class sub-folders."
        )


def _holdout(files: list[list[Path]], fraction: float, seed: int) -> tuple[list, list]:
    """Split each class's files by `fraction` with a seeded permutation (stratified)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for group in files:
        order = rng.permutation(len(group))
        count = int(round(len(group) * fraction))
        held.append([group[i] for i in sorted(order[:count])])
        train.append([group[i] for i in sorted(order[count:])])
    return train, held


def _directory(config: Config, split: str) -> tuple[Split | None, list[str]]:
    data = config.data
    if not data.path:
        raise ConfigError(
            "data.path: the directory dataset needs a folder with one sub-folder per class. "
            "Received: data.path=None"
        )
    classes, files = list_class_folders(Path(data.path).expanduser(), "data.path")
    if data.val_path:
        if split == "train":
            return _split_from_folders(split, files), classes
        val_root = Path(data.val_path).expanduser()
        val_classes, val_files = list_class_folders(val_root, "data.val_path")
        _check_same_classes(classes, val_classes, val_root)
        return _split_from_folders(split, val_files), classes
    fraction = data.validation_split or 0.0
    train, held = _holdout(files, fraction, config.seed)
    if split == "train":
        return _split_from_folders(split, train), classes
    if not any(held):
        if split == "test":
            raise CnnzooError(
                "The directory dataset has no validation images to test on: set data.val_path "
                "or data.validation_split > 0."
            )
        return None, classes
    return _split_from_folders(split, held), classes


def _monkeys(config: Config, split: str) -> tuple[Split, list[str]]:
    root = download.monkeys_root(config.data)
    common_names = download.read_monkey_labels(root)
    folder = (
        root / "training" / "training" if split == "train" else root / "validation" / "validation"
    )
    folders, files = list_class_folders(folder, "monkeys")
    missing = [name for name in folders if name not in common_names]
    if missing:
        raise CnnzooError(
            f"monkey_labels.txt in {root} has no common name for class folders {missing}; "
            "the Kaggle layout has n0..n9. Re-download with `cnnzoo download monkeys`."
        )
    return _split_from_folders(split, files), [common_names[name] for name in folders]


def _mnist(config: Config, split: str) -> tuple[Split | None, list[str]]:
    arrays = load_mnist_arrays(download.mnist_file(config.data))
    classes = [str(digit) for digit in range(10)]
    if split == "test":
        return Split(split, arrays["y_test"].astype(np.int64), images=arrays["x_test"]), classes
    images, labels = arrays["x_train"], arrays["y_train"].astype(np.int64)
    num_validation = int(round(len(images) * (config.data.validation_split or 0.0)))
    order = np.random.default_rng(config.seed).permutation(len(images))
    index = np.sort(order[num_validation:] if split == "train" else order[:num_validation])
    if not len(index):
        return None, classes
    return Split(split, labels[index], images=images[index]), classes


def load_mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an mnist.npz-format file, checking its keys, dtypes and shapes."""
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
    for key in ("x_train", "x_test"):
        shape = arrays[key].shape
        if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] in (1, 3))):
            raise CnnzooError(
                f"{path}: {key} should hold images shaped (count, height, width) or "
                f"(count, height, width, 1|3). Received: shape {shape}"
            )
        arrays[key] = arrays[key].astype(np.uint8, copy=False)
    return arrays


def split_source(config: Config, split: str) -> tuple[Split | None, list[str]]:
    """The images of one split (None if the dataset has no such split) and the class names."""
    assert split in SPLITS, f"unknown split {split!r}"
    dataset = config.data.dataset
    if dataset == "mnist":
        return _mnist(config, split)
    if dataset == "monkeys":
        return _monkeys(config, split)
    assert dataset == "directory", f"no source for dataset {dataset!r}"
    return _directory(config, split)
