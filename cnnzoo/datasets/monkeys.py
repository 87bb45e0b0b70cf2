"""Kaggle's 10 Monkey Species: its layout and labels file, the download through the official
kaggle client, unpacking its zip atomically, and its training/validation splits."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Literal

from cnnzoo.datasets.fetch import Fetched, data_home, download_command, replace_into, staging
from cnnzoo.datasets.folders import Split, list_class_folders, split_from_folders
from cnnzoo.datasets.schema import DatasetDefaults, DownloadableData
from cnnzoo.utils.errors import CnnzooError

MONKEYS_KAGGLE_REF = "slothkong/10-monkey-species"
MONKEYS_FOLDER = "monkeys"

MONKEY_LABELS_FILE = "monkey_labels.txt"
MONKEY_SPLITS = ("training/training", "validation/validation")
MONKEY_CLASSES = tuple(f"n{index}" for index in range(10))
MONKEYS_LAYOUT = (
    "training/training/n0..n9 and validation/validation/n0..n9 with images, and monkey_labels.txt"
)


def read_monkey_labels(root: Path) -> dict[str, str]:
    """Map class folder names (n0..n9) to common names from `monkey_labels.txt`."""
    path = Path(root) / MONKEY_LABELS_FILE
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise CnnzooError(f"Cannot read {path}: {error.strerror}.") from None
    labels: dict[str, str] = {}
    # Lines look like "n0   , alouatta_palliata\t, mantled_howler , 131 , 26" after a header.
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) >= 3 and cells[0] in MONKEY_CLASSES and cells[2]:
            labels[cells[0]] = cells[2]
    missing = [name for name in MONKEY_CLASSES if name not in labels]
    if missing:
        raise CnnzooError(
            f"{path}: no common name for {', '.join(missing)}. Expected a header line, then one "
            'line per class like "n0, alouatta_palliata, mantled_howler, 131, 26".'
        )
    return {name: labels[name] for name in MONKEY_CLASSES}


def layout_problems(root: Path) -> list[str]:
    """What `root` lacks of the Kaggle layout (empty when complete)."""
    problems = []
    for split in MONKEY_SPLITS:
        if not (root / split).is_dir():
            problems.append(f"{split}/")
            continue
        for name in MONKEY_CLASSES:
            folder = root / split / name
            if not folder.is_dir():
                problems.append(f"{split}/{name}/")
            elif not any(path.is_file() for path in folder.iterdir()):
                problems.append(f"images in {split}/{name}/")
    if not (root / MONKEY_LABELS_FILE).is_file():
        problems.append(MONKEY_LABELS_FILE)
    else:
        try:
            read_monkey_labels(root)
        except CnnzooError as error:
            problems.append(f"a readable {MONKEY_LABELS_FILE} ({error})")
    return problems


def check_monkeys_layout(root: Path) -> None:
    """Raise one clear error naming what `root` lacks of the 10 Monkey Species layout."""
    problems = layout_problems(root)
    if problems:
        raise CnnzooError(
            f"{root} is not a complete 10 Monkey Species folder: missing {', '.join(problems)}. "
            f"Expected {MONKEYS_LAYOUT}."
        )


def install_zip(archive: Path, description: str, temp: Path, target: Path) -> None:
    """Extract `archive` inside `temp`, check the layout, then rename it to `target` (atomic)."""
    extracted = temp / "extracted"
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(extracted)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise CnnzooError(
            f"{description} is not a complete zip file ({error}); nothing was installed. "
            "Download it again."
        ) from None
    root = extracted
    entries = list(extracted.iterdir())
    # A zip made by hand often wraps everything in one top-level folder.
    if len(entries) == 1 and entries[0].is_dir() and not (root / MONKEY_SPLITS[0]).exists():
        root = entries[0]
    problems = layout_problems(root)
    if problems:
        raise CnnzooError(
            f"{description} does not hold the 10 Monkey Species layout: missing "
            f"{', '.join(problems)}. Expected {MONKEYS_LAYOUT}; nothing was installed."
        )
    replace_into(root, target, temp)  # --force: the old copy goes into temp, deleted with it


def _existing_monkeys(target: Path, command: str) -> Path:
    problems = layout_problems(target)
    if problems:
        raise CnnzooError(
            f"{target} is not a complete 10 Monkey Species folder: missing {', '.join(problems)}. "
            f"Run `{command} --force` to replace it."
        )
    return target


def download_monkeys(
    data_dir: str | os.PathLike[str] | None = None, force: bool = False, progress: bool = True
) -> Fetched:
    """Download Kaggle's 10 Monkey Species with the official client and unpack it atomically."""
    from cnnzoo.datasets import kaggle

    target = data_home(data_dir) / MONKEYS_FOLDER
    command = download_command("monkeys", data_dir)
    if target.exists() and not force:
        return Fetched(_existing_monkeys(target, command), False)
    kaggle.find_credentials()  # before creating anything or touching the network
    with staging(target.parent, MONKEYS_FOLDER) as temp:
        archive = kaggle.download_dataset_zip(MONKEYS_KAGGLE_REF, temp, progress=progress)
        install_zip(archive, f"The Kaggle download of {MONKEYS_KAGGLE_REF}", temp, target)
    return Fetched(target, True)


def extract_monkeys_zip(
    archive: Path, data_dir: str | os.PathLike[str] | None = None, force: bool = False
) -> Fetched:
    """Unpack a downloaded 10-monkey-species.zip into the cache folder atomically."""
    target = data_home(data_dir) / MONKEYS_FOLDER
    if target.exists() and not force:
        command = download_command("monkeys", data_dir)
        return Fetched(_existing_monkeys(target, command), False)
    with staging(target.parent, MONKEYS_FOLDER) as temp:
        install_zip(Path(archive), str(archive), temp, target)
    return Fetched(target, True)


class MonkeysData(DownloadableData):
    """`data:` for the monkeys: a local copy (`path`: folder or zip) or the cache; Kaggle's own
    training and validation folders, so no holdout keys."""

    dataset: Literal["monkeys"] = "monkeys"


def monkeys_root(data: DownloadableData) -> Path:
    """The extracted 10 Monkey Species folder (`training/training`, `validation/validation`,
    `monkey_labels.txt`): `data.path` (a folder or the Kaggle zip), else the cached download."""
    command = download_command("monkeys", data.data_dir)
    if data.path:
        path = Path(data.path).expanduser()
        if path.is_dir():
            check_monkeys_layout(path)
            return path
        if path.is_file():
            return extract_monkeys_zip(path, data.data_dir).path
        raise CnnzooError(
            f"data.path: nothing at {path}. Point it at the extracted 10 Monkey Species folder or "
            f"at the Kaggle zip, or remove data.path and run `{command}`."
        )
    target = data_home(data.data_dir) / MONKEYS_FOLDER
    if target.exists():
        return _existing_monkeys(target, command)
    if data.download:
        return download_monkeys(data.data_dir).path
    raise CnnzooError(
        f"The monkeys dataset is not downloaded (looked for {target}). Run `{command}` (needs a "
        "Kaggle token), or set data.download: true, or set data.path to the Kaggle zip or its "
        "extracted folder."
    )


class Monkeys(DatasetDefaults):
    """10 Monkey Species: Kaggle's training and validation folders; the test split is validation."""

    summary = f"10 Monkey Species (Kaggle {MONKEYS_KAGGLE_REF}), training/validation folders"
    schema = MonkeysData

    def fetch(self, data: MonkeysData, *, force: bool = False, progress: bool = True) -> Fetched:
        """Download through the official kaggle client (needs a Kaggle token)."""
        return download_monkeys(data.data_dir, force, progress)

    def split(self, data: MonkeysData, seed: int, split: str) -> tuple[Split, list[str]]:
        """A split's files; classes are the common names from monkey_labels.txt, in n0..n9 order."""
        root = monkeys_root(data)
        common_names = read_monkey_labels(root)
        folder = root / (MONKEY_SPLITS[0] if split == "train" else MONKEY_SPLITS[1])
        folders, files = list_class_folders(folder, "monkeys")
        missing = [name for name in folders if name not in common_names]
        if missing:
            raise CnnzooError(
                f"monkey_labels.txt in {root} has no common name for class folders {missing}; "
                "the Kaggle layout has n0..n9. Re-download with `cnnzoo download monkeys`."
            )
        return split_from_folders(split, files), [common_names[name] for name in folders]
