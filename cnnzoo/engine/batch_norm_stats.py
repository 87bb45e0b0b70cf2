"""Batch-norm statistics re-estimated with the current weights at each epoch end ("precise BN").

Keras keeps a batch-norm layer's inference statistics as a moving average with momentum 0.99:
about 460 steps to forget 99% of the start, while a small dataset gives 20-60 steps an epoch, so
validation, `evaluate`, `predict` and `export` would use statistics that lag the weights by
several epochs. Like MMPretrain's PreciseBNHook and Detectron2's PreciseBN, this module replaces
the moving mean and variance of every trainable batch-norm layer by their averages over training
batches run through the current weights in training mode (batch statistics, exactly what training
normalises with). Only those statistics change: weights, optimizer, data order and random streams
are untouched (the random-generator state that dropout advances is restored), so the training
trajectory is the same as with `train.batch_norm_stats: running`.

The batches are a fixed, seeded sample of `train.batch_norm_images` training images (512 by
default; docs/benchmarks.md has the measurement) as inference sees them (decoded, resized,
rescaled, not augmented), in a seeded random order, taken from the training split's images when
they are decoded in memory and else decoded once (only those files) into a cache of their own, so
the training stream's shuffling is not advanced and a resumed run re-estimates from the same
images. The per-batch moments are computed by one traced function for every batch size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Trainable, non-renorm batch-norm layers of `model`, nested models included, in order."""
    found: list[keras.layers.BatchNormalization] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable and not layer.renorm:
                found.append(layer)
        elif isinstance(layer, keras.Model):
            found += batch_norm_layers(layer)
    return found


def training_sample(
    config: Any, images: int | None = None, labels: bool = False, decoded: Any = None
) -> Any:
    """Up to `images` (default `train.batch_norm_images`) training images, a seeded sample fixed
    across epochs, in training batches. With `labels`, (image, one-hot label) pairs.

    The images come from `decoded` (the training split's `pipeline.InMemory`) when given, else
    only the sampled files are decoded (once, kept in memory): the same images either way. Their
    order is a seeded shuffle, so each batch mixes the classes as training batches do.
    """
    from cnnzoo.data.pipeline import decoded as decode
    from cnnzoo.data.pipeline import stream
    from cnnzoo.datasets.sources import Split, split_source

    images = images or config.train.batch_norm_images
    split, class_names = split_source(config.data, config.seed, "train")
    chosen = np.random.default_rng(config.seed).permutation(len(split))[:images]
    if decoded is not None:
        sample_images, sample_labels = decoded.take(chosen)
        sample = Split(split.name, sample_labels, images=sample_images)
    else:
        sample = Split(
            split.name,
            split.labels[chosen],
            paths=[split.paths[i] for i in chosen] if split.paths is not None else None,
            images=split.images[chosen] if split.images is not None else None,
        )
    # In memory whatever data.cache says: a few hundred images, decoded once.
    in_memory = config.model_copy(
        update={"data": config.data.model_copy(update={"cache": "memory"})}
    )
    dataset, count, _, _ = decode(sample, in_memory, allow_disk=False)  # bad: already reported
    batches = stream(dataset, in_memory, len(class_names), count, training=False)
    return batches if labels else batches.map(lambda image, label: image)


class _Estimator:
    """Runs batches through a model in training mode and averages each layer's batch moments."""

    def __init__(self, model: keras.Model) -> None:
        import tensorflow as tf

        self.model = model
        self.layers = batch_norm_layers(model)
        moving = {
            id(v) for layer in self.layers for v in (layer.moving_mean, layer.moving_variance)
        }
        # Seed-generator states (dropout) and any other state a training-mode call changes.
        self.other_state = [v for v in model.non_trainable_variables if id(v) not in moving]

        def moments(images):
            # With momentum 0 each layer's "moving" statistics become this batch's moments;
            # reads after the call are ordered after its writes (automatic control dependencies).
            model(images, training=True)
            return [(layer.moving_mean.value, layer.moving_variance.value) for layer in self.layers]

        # One trace for every batch size (the last batch is usually smaller).
        shape = (None, *model.inputs[0].shape[1:])
        signature = [tf.TensorSpec(shape, model.inputs[0].dtype)]
        self.moments = tf.function(moments, input_signature=signature, autograph=False)

    def __call__(self, batches: Iterable[Any]) -> int:
        if not self.layers:
            return 0
        momenta = [layer.momentum for layer in self.layers]
        saved = [np.array(v.numpy()) for v in self.other_state]
        sums = [[0.0, 0.0] for _ in self.layers]
        count = 0
        try:
            for layer in self.layers:
                layer.momentum = 0.0
            for images in batches:
                size = int(images.shape[0])
                for total, (mean, variance) in zip(sums, self.moments(images), strict=True):
                    total[0] = total[0] + size * np.asarray(mean, np.float64)
                    total[1] = total[1] + size * np.asarray(variance, np.float64)
                count += size
        finally:
            for layer, momentum in zip(self.layers, momenta, strict=True):
                layer.momentum = momentum
            for variable, value in zip(self.other_state, saved, strict=True):
                variable.assign(value)
        if count:
            for layer, (mean, variance) in zip(self.layers, sums, strict=True):
                layer.moving_mean.assign((mean / count).astype(np.float32))
                layer.moving_variance.assign((variance / count).astype(np.float32))
        return count


def reestimate(model: keras.Model, batches: Iterable[Any]) -> int:
    """Set every trainable batch-norm layer's statistics from `batches`; the images used."""
    return _Estimator(model)(batches)


class BatchNormReestimation(keras.callbacks.Callback):
    """Re-estimate batch-norm statistics at each epoch end, before validation and checkpoints.

    Keras' fit validates before the epoch-end callbacks run, but passes its callbacks to that
    evaluation: the statistics are re-estimated on its `on_test_begin` (or at the epoch end when
    there is no validation). Put this callback before the checkpointing ones.
    """

    def __init__(self, batches: Iterable[Any]) -> None:
        super().__init__()
        self.batches = batches
        self.images = 0
        self._estimator: _Estimator | None = None
        self._fitting = False
        self._done = True
        self._epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._fitting = True
        self._estimator = None  # which layers are trainable may differ (a fine-tuning phase)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._fitting = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._done = False
        self._epoch = epoch + 1

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._fitting:
            self._reestimate()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._reestimate()

    def _reestimate(self) -> None:
        if self._done or self.model.stop_training:
            return
        from cnnzoo.engine import timings

        with timings.phase(f"epoch {self._epoch} batch-norm statistics"):
            if self._estimator is None:
                self._estimator = _Estimator(self.model)
            self.images = self._estimator(self.batches)
        self._done = True


def callbacks(config: Any, sample: Any = None) -> list[keras.callbacks.Callback]:
    """The callbacks `cnnzoo train` adds for `train.batch_norm_stats` (before checkpointing).

    `sample` is `training_sample(config, labels=True)` when the caller has it already.
    """
    if config.train.batch_norm_stats != "reestimate":
        return []
    images = sample.map(lambda image, label: image) if sample is not None else None
    return [BatchNormReestimation(images if images is not None else training_sample(config))]
