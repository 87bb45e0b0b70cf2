"""Small generated datasets in the real on-disk layouts, for tests, demos and benchmarks.

Each class gets a distinct, learnable pattern (a coloured bar at a class-specific position over
noise), so a model trained for a few steps does better than chance.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# The real `monkey_labels.txt` of Kaggle's slothkong/10-monkey-species, whitespace included.
MONKEY_LABELS = """\
Label,  Latin Name           , Common Name                   , Train Images , Validation Images
n0   , alouatta_palliata\t, mantled_howler                , 131          , 26
n1   , erythrocebus_patas\t, patas_monkey                  , 139          , 28
n2   , cacajao_calvus\t, bald_uakari                   , 137          , 27
n3   , macaca_fuscata\t, japanese_macaque              , 152          , 30
n4   , cebuella_pygmea\t, pygmy_marmoset                , 131          , 26
n5   , cebus_capucinus\t, white_headed_capuchin         , 141          , 28
n6   , mico_argentatus\t, silvery_marmoset              , 132          , 26
n7   , saimiri_sciureus\t, common_squirrel_monkey        , 142          , 28
n8   , aotus_nigriceps\t, black_headed_night_monkey     , 133          , 27
n9   , trachypithecus_johnii, nilgiri_langur                , 132          , 26
"""
MONKEY_CLASSES = [f"n{i}" for i in range(10)]


def class_image(label: int, num_classes: int, size: tuple[int, int], rng: np.random.Generator):
    """An RGB uint8 image whose bright bar's row and colour encode `label`."""
    height, width = size
    image = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
    band = max(1, height // (num_classes + 1))
    top = label * height // (num_classes + 1)
    colour = np.array([(label * 97) % 256, 255 - (label * 53) % 256, (label * 151) % 256])
    image[top : top + band, width // 8 : width - width // 8] = colour
    return image


def make_class_folder(
    root: Path,
    class_names: list[str],
    images_per_class: int,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    offset: int = 0,
) -> Path:
    """Write `root/<class>/<class><k>.jpg` JPEGs; return `root`."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(class_names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(images_per_class):
            pixels = class_image(label, len(class_names), size, rng)
            Image.fromarray(pixels).save(folder / f"{name}{offset + k:02d}.jpg", quality=90)
    return root


def make_monkeys_folder(
    root: Path,
    train_per_class: int = 6,
    val_per_class: int = 2,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
) -> Path:
    """Write a folder in the Kaggle 10 Monkey Species layout; return `root`.

    Like the real set, one training image has an upper-case extension and one has none.
    """
    make_class_folder(root / "training" / "training", MONKEY_CLASSES, train_per_class, size, seed)
    make_class_folder(
        root / "validation" / "validation",
        MONKEY_CLASSES,
        val_per_class,
        size,
        seed + 1,
        offset=train_per_class,
    )
    (root / "monkey_labels.txt").write_text(MONKEY_LABELS, encoding="utf-8")
    odd = root / "training" / "training" / "n3"
    (odd / "n300.jpg").rename(odd / "n300.JPG")
    if train_per_class > 1:
        (odd / "n301.jpg").rename(odd / "n301")
    return root


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip the contents of `folder` (paths relative to it), as Kaggle serves a dataset."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return archive


def make_mnist_npz(path: Path, num_train: int = 600, num_test: int = 100, seed: int = 0) -> Path:
    """Write an `mnist.npz`-format file (uint8 28x28 digits-like images, uint8 labels)."""
    rng = np.random.default_rng(seed)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            images[index, 2 + 2 * label : 5 + 2 * label, 4:24] = 255
        return images, labels

    x_train, y_train = split(num_train)
    x_test, y_test = split(num_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
