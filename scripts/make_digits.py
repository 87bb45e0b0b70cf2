"""Write scikit-learn's 1,797 real handwritten digits as a dataset cnnzoo reads.

The digits (UCI optical recognition set, 8x8, 17 grey levels) are scaled to 0-255, resized to a
`--digit` square (bilinear) and centred on a black `--size` canvas, as MNIST centres its 20x20
digits in 28x28. A stratified, seeded split gives 1,347 training and 450 test images (25%).

    python scripts/make_digits.py npz data/digits.npz           # mnist.npz format (28x28)
    python scripts/make_digits.py folders data/digits_monkeys --layout monkeys --size 64
    python scripts/make_digits.py folders data/digits_dirs --layout classes --size 32

`npz` writes x_train, y_train, x_test, y_test (uint8) for `data.dataset: mnist` with
`data.path`. `folders` writes JPEG class folders: `--layout monkeys` is the 10 Monkey Species
layout (training/training/n0..n9, validation/validation/n0..n9, monkey_labels.txt) for
`data.dataset: monkeys`; `--layout classes` is train/<digit>/ and test/<digit>/ for
`data.dataset: directory`. `--limit` keeps the first N training images (in the digits' own order).
An existing output is never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

TEST_FRACTION = 0.25


def digit_images(size: int, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, size, size] images, int labels) of all 1,797 digits, centred on black."""
    from sklearn.datasets import load_digits

    if not 0 < digit <= size:
        raise SystemExit(f"error: --digit must be in 1..--size ({size}). Received: {digit}")
    digits = load_digits()
    offset = (size - digit) // 2
    images = np.zeros((len(digits.images), size, size), np.uint8)
    for index, image in enumerate(digits.images):
        grey = Image.fromarray(np.uint8(np.round(image * 255.0 / 16.0)))
        scaled = grey.resize((digit, digit), Image.Resampling.BILINEAR)
        images[index, offset : offset + digit, offset : offset + digit] = np.asarray(scaled)
    return images, digits.target.astype(np.uint8)


def split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded indices of the training and test images."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    train, test = train_test_split(
        indices, test_size=TEST_FRACTION, stratify=labels, random_state=seed
    )
    return np.sort(train), np.sort(test)


def write_npz(path: Path, images, labels, train, test) -> None:
    """An mnist.npz-format file (written under a temporary name, then renamed)."""
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(
        partial,
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
    )
    partial.rename(path)


MONKEY_LABELS = "Label,  Latin Name           , Common Name                   , Train Images , Validation Images\n"  # noqa: E501


def write_folders(root: Path, layout: str, images, labels, train, test) -> None:
    """JPEG class folders in the monkeys or the plain train/test layout."""
    partial = root.with_name(root.name + ".partial")
    splits = (
        {"training/training": train, "validation/validation": test}
        if layout == "monkeys"
        else {"train": train, "test": test}
    )
    for folder, indices in splits.items():
        for index in indices:
            name = f"n{labels[index]}" if layout == "monkeys" else str(labels[index])
            target = partial / folder / name
            target.mkdir(parents=True, exist_ok=True)
            rgb = Image.fromarray(images[index]).convert("RGB")
            rgb.save(target / f"digit_{index:04d}.jpg", quality=95)
    if layout == "monkeys":
        lines = [MONKEY_LABELS]
        for digit in range(10):
            count_train = int(np.sum(labels[train] == digit))
            count_test = int(np.sum(labels[test] == digit))
            lines.append(f"n{digit}, digit_{digit}, digit_{digit}, {count_train}, {count_test}\n")
        (partial / "monkey_labels.txt").write_text("".join(lines), encoding="utf-8")
    partial.rename(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", choices=["npz", "folders"])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", type=int, default=28, help="image side in pixels (28)")
    parser.add_argument("--digit", type=int, help="digit side inside the image (20/28 of size)")
    parser.add_argument("--layout", choices=["monkeys", "classes"], default="monkeys")
    parser.add_argument("--limit", type=int, help="keep only the first N training images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split (0)")
    args = parser.parse_args(argv)

    if args.output.exists():
        print(f"error: {args.output} exists; choose a new path (nothing was written).")
        return 2
    if args.size < 8:
        print(f"error: --size must be at least 8. Received: {args.size}")
        return 2
    digit = args.digit or max(8, round(args.size * 20 / 28))
    images, labels = digit_images(args.size, digit)
    train, test = split(labels, args.seed)
    if args.limit:
        train = train[: args.limit]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "npz":
        write_npz(args.output, images, labels, train, test)
    else:
        write_folders(args.output, args.layout, images, labels, train, test)
    print(
        f"Wrote {len(train)} training and {len(test)} test digits "
        f"({args.size}x{args.size}) to {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
