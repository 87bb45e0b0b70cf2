"""Input pipelines: datasets as batched, prefetched tf.data streams of (image, one-hot label)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from cnnzoo.config import Config
from cnnzoo.data.download import mnist_file
from cnnzoo.errors import CnnzooError

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class DataBundle:
    """The splits a run trains and validates on, and what they contain."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    class_names: list[str]
    num_train: int
    num_validation: int


def load_mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an mnist.npz-format file, checking its keys and shapes."""
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
    return arrays


def _prepare(images: np.ndarray, config: Config) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., None]
    height, width, channels = config.image_shape
    if images.shape[-1] != channels:
        images = np.repeat(images, channels, axis=-1) if channels == 3 else images[..., :1]
    if images.shape[1:3] != (height, width):
        images = tf.image.resize(images, (height, width)).numpy()
    return images


def _stream(
    images: np.ndarray, labels: np.ndarray, config: Config, num_classes: int, training: bool
) -> tf.data.Dataset:
    scale = config.augment.rescale
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        dataset = dataset.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.train.batch_size)
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32) * scale, tf.one_hot(y, num_classes)),
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.prefetch(AUTOTUNE)


def build_datasets(config: Config) -> DataBundle:
    """Build the training and validation streams for `config`."""
    if config.data.dataset != "mnist":
        raise CnnzooError(f'dataset "{config.data.dataset}" is not supported yet')
    arrays = load_mnist_arrays(mnist_file(config.data))
    images = _prepare(arrays["x_train"], config)
    labels = arrays["y_train"].astype("int64")
    class_names = [str(i) for i in range(10)]
    split = config.data.validation_split or 0.0
    num_validation = int(round(len(images) * split))
    order = np.random.default_rng(config.seed).permutation(len(images))
    val_index, train_index = order[:num_validation], order[num_validation:]
    train = _stream(images[train_index], labels[train_index], config, 10, training=True)
    validation = (
        _stream(images[val_index], labels[val_index], config, 10, training=False)
        if num_validation
        else None
    )
    return DataBundle(train, validation, class_names, len(train_index), num_validation)
