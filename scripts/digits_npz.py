"""Write scikit-learn's handwritten digits as an mnist.npz-format file (real data, offline).

The 1,797 8x8 digits (grey levels 0-16) are scaled to 0-255, enlarged to 20x20 and centred in a
28x28 frame as MNIST's digits are, then split into a stratified, seeded train and test part:

    python scripts/digits_npz.py digits.npz            # 1,437 train, 360 test
    cnnzoo train -c mnist_lenet --set data.path=digits.npz

Needs scikit-learn (in the dev extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def digits_arrays(test_fraction: float = 0.2, seed: int = 0) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test as uint8 arrays (images 28x28)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    images = np.zeros((len(small), 28, 28), dtype=np.uint8)
    for index, image in enumerate(small):
        enlarged = Image.fromarray(image).resize((20, 20), Image.Resampling.BILINEAR)
        images[index, 4:24, 4:24] = np.asarray(enlarged)
    labels = digits.target.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="The .npz file to write.")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    arrays = digits_arrays(args.test_fraction, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **arrays)
    print(
        f"Wrote {args.output}: {len(arrays['x_train'])} train and {len(arrays['x_test'])} test "
        "images, 28x28 uint8."
    )


if __name__ == "__main__":
    main()
