"""The 10 Monkey Species dataset on disk: its Kaggle layout, its labels file, unpacking its zip."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from cnnzoo.errors import CnnzooError

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
    if target.exists():  # --force: the old copy goes into temp and is deleted with it
        target.rename(temp / "previous")
    root.rename(target)
