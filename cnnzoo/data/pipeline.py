"""Input pipelines: datasets as batched, prefetched tf.data streams of (image, one-hot label).

Image files are decoded once, in parallel, as uint8 at the target size (`decode.py`). That pass
also finds the files that cannot be used; `bad_files.py` says why (unreadable: an error; not an
image: skipped or refused as `data.bad_files` says), every split at once, each file once. It fills
the cache (`data.cache`: `memory` keeps the uint8 images in RAM, `disk` writes a tf.data file cache
under `<output_dir>/cache/` (`disk_cache.py`), `auto` picks memory below `MEMORY_BUDGET`, `none`
decodes again every epoch, where a file failing later is warned about and stands replaced so the
epoch keeps its length). Every stream declares its length, so Keras knows an epoch's end from the
first epoch on. Shuffling (seeded), batching, augmentation (training split only, one fused affine
warp per image, see `augment.py`), rescaling and one-hot labels run after the cache, then
prefetch. MNIST arrays are already in memory and skip the decode. No stream runs tf.data's
autotuning thread (`NO_AUTOTUNE_THREAD`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from cnnzoo.config.schema import Config
from cnnzoo.data import augment, bad_files, disk_cache
from cnnzoo.data.bad_files import UNREADABLE, BadFilesWarning
from cnnzoo.data.decode import decode_image, load_images
from cnnzoo.datasets.sources import Split, load_mnist_arrays, split_source
from cnnzoo.utils.errors import CnnzooError

__all__ = [
    "UNREADABLE",
    "BadFilesWarning",
    "DataBundle",
    "InMemory",
    "decode_image",
    "build_datasets",
    "load_split",
    "load_images",
    "load_mnist_arrays",
]

AUTOTUNE = tf.data.AUTOTUNE
# tf.data's autotuning model runs in a thread of each iterator that sleeps between optimisation
# rounds for a period that grows; deleting the iterator waits out that sleep (seen: 0-10 s at
# the end of fit and at each epoch start, where Keras replaces the training iterator). Without it
# every AUTOTUNE parallelism is min(16, CPU cores), as tf.data starts it anyway, and prefetch
# keeps its own buffer tuning (docs/benchmarks.md, "Start-up").
NO_AUTOTUNE_THREAD = tf.data.Options()
NO_AUTOTUNE_THREAD.autotune.enabled = False
# The map functions are TensorFlow ops with no Python control flow on tensors: traced as written,
# not rewritten by AutoGraph first (which took 1.6 s of every run for the augmentation alone).
as_written = tf.autograph.experimental.do_not_convert
MEMORY_BUDGET = 2 * 1024**3  # bytes of decoded uint8 images that `cache: auto` keeps in RAM
SHUFFLE_BUDGET = 1024**3  # bytes of uint8 images the shuffle buffer may hold


@dataclass
class InMemory:
    """A split decoded into memory: the decodable files' positions in the split, in order, with
    their uint8 images and labels."""

    positions: np.ndarray
    images: np.ndarray
    labels: np.ndarray

    def take(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of the files at `chosen` positions, in that order; files that did
        not decode are left out, as a decode of those files would leave them out."""
        rows = np.searchsorted(self.positions, chosen[np.isin(chosen, self.positions)])
        return self.images[rows], self.labels[rows]


@dataclass
class DataBundle:
    """The splits a run trains and validates on, and what they contain."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    class_names: list[str]
    num_train: int
    num_validation: int
    bad_files: list[Path] = field(default_factory=list)
    # The training split's decoded images when in memory: a second copy beside the stream's, for
    # the batch-norm sample; whoever takes the sample lets go of it (training.py).
    train_images: InMemory | None = None


def _decoder(config: Config):
    height, width, channels = config.image_shape

    @as_written
    def decode(index, path, label):
        return index, decode_image(tf.io.read_file(path), height, width, channels), label

    return decode


def _scan(split: Split, config: Config) -> tf.data.Dataset:
    """(index, uint8 image, label) for every decodable file, in file order."""
    table = (np.arange(len(split)), [str(p) for p in split.paths], split.labels)
    dataset = tf.data.Dataset.from_tensor_slices(table)
    decoded = dataset.map(_decoder(config), num_parallel_calls=AUTOTUNE, deterministic=True)
    # In order, which _every_pass relies on to find gaps.
    return decoded.ignore_errors().with_options(NO_AUTOTUNE_THREAD)


def _collect(dataset: tf.data.Dataset, keep_images: bool):
    """Indices, images (if kept) and labels of a scan; and its first (image, label)."""
    indices, images, labels, first = [], [], [], None
    for index, image, label in dataset.batch(256).as_numpy_iterator():
        indices.append(index)
        labels.append(label)
        if keep_images:
            images.append(image)
        if first is None:
            first = (image[0], label[0])
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    return indices, (np.concatenate(images) if images else None), labels, first


def _bad(split: Split, good: np.ndarray) -> list[bad_files.BadFile]:
    missing = sorted(set(range(len(split))) - set(good.tolist()))
    return [bad_files.diagnose(split.paths[i]) for i in missing]


def _with_count(dataset: tf.data.Dataset, count: int) -> tf.data.Dataset:
    """Declare the element count, so Keras knows an epoch's length from the first epoch on."""
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


def _every_pass(split: Split, config: Config, spare: tuple) -> tf.data.Dataset:
    """(image, label) decoded on every pass; a file failing now is warned about, and `spare`
    (a decoded image of the split) stands in for it so every epoch keeps its length.

    The decode is the first pass's (parallel, in order, failures dropped); a running scan over
    the indices finds the gaps, names their files, and the spares are added at the pass's end.
    """
    count = len(split)
    spare_images = tf.constant(spare[0])[None]
    spare_labels = tf.constant(spare[1])[None]

    def note(first, missing):
        for path in split.paths[int(first) : int(first) + int(missing)]:
            bad_files.failed_later(path, split.name)
        return missing

    def find_gaps(state, element):
        index, image, label = element
        expected, missing = state
        gap = index - expected
        gap = tf.cond(
            gap > 0,
            lambda: tf.reshape(tf.py_function(note, [expected, gap], tf.int64), []),
            lambda: gap,
        )
        return (index + 1, missing + gap), (index, image, label, missing + gap)

    def as_batch(index, image, label, missing):
        if_end = index == count  # the end marker: as many spares as files went missing
        return tf.cond(
            if_end,
            lambda: (
                tf.repeat(spare_images, missing, axis=0),
                tf.repeat(spare_labels, missing, axis=0),
            ),
            lambda: (image[None], label[None]),
        )

    end = tf.data.Dataset.from_tensors(
        (tf.constant(count, tf.int64), spare_images[0], spare_labels[0])
    )
    dataset = _scan(split, config).concatenate(end)
    start = (tf.constant(0, tf.int64), tf.constant(0, tf.int64))
    dataset = dataset.scan(start, find_gaps).map(as_batch).unbatch()
    return _with_count(dataset, count)


def _cache_mode(split: Split, config: Config, allow_disk: bool) -> str:
    mode = config.data.cache
    if mode == "auto":
        height, width, channels = config.image_shape
        fits = len(split) * height * width * channels <= MEMORY_BUDGET
        mode = "memory" if fits or not allow_disk else "disk"
    return mode


def decoded(split: Split, config: Config, allow_disk: bool = True):
    """(dataset of (uint8 image, label), count, bad files, InMemory or None) for one split,
    cached as set; the InMemory when the decoded files are kept in memory.

    The bad files are not reported here (the caller reports every split's at once), except
    when none of the split's files decode.
    """
    if split.images is not None:
        images = split.images if split.images.ndim == 4 else split.images[..., None]
        dataset = tf.data.Dataset.from_tensor_slices((images, split.labels))
        return dataset, len(split), [], None
    mode = _cache_mode(split, config, allow_disk)
    if mode == "disk":
        good = disk_cache.write(split, config, _scan)
        bad = _bad(split, good)
        if not len(good):
            bad_files.report({split.name: (len(split), bad)}, config.data.bad_files)
        cached = _scan(split, config).cache(str(disk_cache.prefix(split, config)))
        cached = cached.map(lambda index, image, label: (image, label))
        return _with_count(cached, len(good)), len(good), bad, None
    indices, images, labels, first = _collect(_scan(split, config), keep_images=mode == "memory")
    bad = _bad(split, indices)
    if not len(indices):
        bad_files.report({split.name: (len(split), bad)}, config.data.bad_files)
    if mode == "memory":
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        return dataset, len(labels), bad, InMemory(indices, images, labels)
    good = Split(split.name, split.labels[indices], paths=[split.paths[i] for i in indices])
    return _every_pass(good, config, first), len(good), bad, None


def to_target(images: tf.Tensor, config: Config) -> tf.Tensor:
    """Resize and convert channels of a uint8 batch when its shape is not the configured one."""
    height, width, channels = config.image_shape
    if images.shape[-1] != channels:
        convert = tf.image.grayscale_to_rgb if channels == 3 else tf.image.rgb_to_grayscale
        images = convert(images)
    if tuple(images.shape[1:3]) != (height, width):
        resized = tf.image.resize(images, (height, width), antialias=True)
        images = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return images


def stream(
    dataset: tf.data.Dataset, config: Config, classes: int, count: int, training: bool
) -> tf.data.Dataset:
    """Shuffle (training), batch, augment (training), rescale, one-hot and prefetch."""
    scale = config.augment.rescale
    if training:
        image_bytes = int(np.prod(config.image_shape))
        buffer = max(1, min(count, max(config.train.batch_size * 8, SHUFFLE_BUDGET // image_bytes)))
        dataset = dataset.shuffle(buffer, seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.train.batch_size)

    if training and config.augment.enabled:
        augmenter = augment.make_augmenter(config.augment, scale)

        @as_written
        def finish(batch, seed):
            images, labels = batch
            return augmenter(to_target(images, config), seed), tf.one_hot(labels, classes)

        # One [2] seed per batch from a seeded stream that differs every epoch.
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, seeds.batch(2)).map(finish, AUTOTUNE)
    else:

        @as_written
        def finish(images, labels):
            images = tf.cast(to_target(images, config), tf.float32) * scale
            return images, tf.one_hot(labels, classes)

        dataset = dataset.map(finish, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE).with_options(NO_AUTOTUNE_THREAD)


def _test_files_checked(config: Config, validation: Split | None) -> dict:
    """{"test": (count, bad files)} when the test split is other files than validation's."""
    try:
        test, _ = split_source(config.data, config.seed, "test")
    except CnnzooError:  # no test split with this config
        return {}
    if test is None or test.paths is None:
        return {}
    if validation is not None and validation.paths == test.paths:
        return {}
    indices, _, _, _ = _collect(_scan(test, config), keep_images=False)
    return {"test": (len(test), _bad(test, indices))}


def build_datasets(config: Config) -> DataBundle:
    """Build the shuffled, augmented training stream and the validation stream for `config`.

    Every split's bad files are reported together before training: in one error with
    `data.bad_files: error` (the test split checked too), else in one warning.
    """
    train_split, class_names = split_source(config.data, config.seed, "train")
    val_split, _ = split_source(config.data, config.seed, "validation")
    train, num_train, bad, train_images = decoded(train_split, config)
    found = {"train": (len(train_split), bad)}
    validation, num_validation = None, 0
    if val_split is not None:
        val_data, num_validation, val_bad, _ = decoded(val_split, config)
        found["validation"] = (len(val_split), val_bad)
    if config.data.bad_files == "error":
        found.update(_test_files_checked(config, val_split))
    bad_files.report(found, config.data.bad_files)
    train = stream(train, config, len(class_names), num_train, training=True)
    if val_split is not None:
        validation = stream(val_data, config, len(class_names), num_validation, training=False)
        bad = bad + val_bad
    paths = [file.path for file in bad]
    return DataBundle(
        train, validation, class_names, num_train, num_validation, paths, train_images
    )


def load_split(config: Config, split: str) -> tuple[tf.data.Dataset, list[str]]:
    """One split, unshuffled and unaugmented, preprocessed like validation; and the class names.

    `split` is "train", "validation" or "test". MNIST has a real test set; the monkeys' "test" is
    the Kaggle validation folder (there is no test split); a `directory` dataset tests on its
    validation images.
    """
    if split not in ("train", "validation", "test"):
        raise CnnzooError(f'Unknown split "{split}": expected train, validation or test.')
    source, class_names = split_source(config.data, config.seed, split)
    if source is None:
        holdout = config.data.model_dump(include={"validation_split", "val_path"})
        settings = ", ".join(f"data.{key}={value}" for key, value in holdout.items())
        raise CnnzooError(
            f"The {config.data.dataset} dataset has no {split} split with this config ({settings})."
        )
    dataset, count, bad, _ = decoded(source, config, allow_disk=False)
    bad_files.report({split: (len(source), bad)}, config.data.bad_files)
    return stream(dataset, config, len(class_names), count, training=False), class_names
