"""Probes of the network itself on one fixed training batch: dead ReLU units, the gradient norm.

Loss curves say late that a network died or blew up; its activations and gradients say it early.
Mature tools look there too: Keras' TensorBoard callback draws activation and weight histograms
at epoch ends (`histogram_freq`), Lightning logs the total gradient norm (`grad_norm`,
`grad_2.0_norm_total`). cnnzoo measures two numbers cheaply, once when fitting starts and at each
epoch end, on the same `PROBE_IMAGES` training images (decoded and rescaled as inference sees
them), in training mode (batch statistics and dropout, as the optimizer sees the network):
- per ReLU layer, the fraction of its units (channels) that are zero for every image and every
  position: a dead unit passes no gradient and never comes back;
- the global L2 norm of the loss gradient over the trainable weights (Lightning's total norm).
The call changes nothing: batch-norm moving statistics and dropout's random-generator state are
restored, and the optimizer never sees these gradients. `health.py` judges the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

PROBE_IMAGES = 64  # one fixed batch: a forward and backward pass of 64 images per epoch


@dataclass(frozen=True)
class Probe:
    """What one probe saw: the gradient norm and each ReLU layer's dead fraction, in order."""

    gradient_norm: float
    dead: dict[str, float] = field(default_factory=dict)  # layer name -> share of dead units
    units: dict[str, int] = field(default_factory=dict)  # layer name -> its units
    images: int = PROBE_IMAGES

    def to_dict(self) -> dict[str, Any]:
        """For run.json: a non-finite norm as text ("nan", "inf"), as JSON has no such numbers."""
        norm = self.gradient_norm if math.isfinite(self.gradient_norm) else str(self.gradient_norm)
        return {"images": self.images, "gradient_norm": norm, "dead_fraction": dict(self.dead)}


def _is_relu(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return not layer.max_value and not layer.negative_slope and not layer.threshold
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.relu or (
        isinstance(activation, str) and activation == "relu"
    )


def relu_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` (not inside nested models) whose output is a plain ReLU's."""
    return [layer for layer in model.layers if _is_relu(layer)]


class NetworkProbe:
    """Measures a model on the first `PROBE_IMAGES` of `sample`, a batched dataset of (image,
    one-hot label) pairs, read once at the first call. One traced function per model (and per
    set of trainable weights): half the CPU time of running it eagerly (docs/benchmarks.md)."""

    def __init__(self, sample: Any, images: int = PROBE_IMAGES) -> None:
        self.sample, self.images = sample, images
        self._batch: tuple[Any, Any] | None = None
        self._model: keras.Model | None = None
        self._watched: list[int] = []

    def _build(self, model: keras.Model) -> None:
        import tensorflow as tf

        layers = relu_layers(model)
        self.names = [layer.name for layer in layers]
        self.units = {layer.name: int(layer.output.shape[-1]) for layer in layers}
        outputs = [model.outputs[0], *(layer.output for layer in layers)]
        probed = keras.Model(model.inputs, outputs)
        self._state = list(model.non_trainable_variables)  # batch-norm statistics, seeds
        variables = list(model.trainable_variables)
        self._watched = [id(v) for v in variables]
        self._model = model

        def measure(images, labels):
            with tf.GradientTape() as tape:
                outputs = probed(images, training=True)
                predictions, *activations = outputs if isinstance(outputs, list) else [outputs]
                loss = tf.cast(model.loss(labels, predictions), tf.float32)
            gradients = tape.gradient(loss, variables)
            squares = [
                tf.reduce_sum(tf.square(tf.cast(g, tf.float64))) for g in gradients if g is not None
            ]
            # A unit (last axis: a channel or a dense unit) is dead when it is zero for every
            # image and every position.
            dead = [
                tf.reduce_mean(
                    tf.cast(tf.reduce_max(tf.reshape(a, (-1, a.shape[-1])), 0) <= 0, tf.float32)
                )
                for a in activations
            ]
            return tf.add_n(squares) if squares else tf.constant(0.0, tf.float64), dead

        self._measure = tf.function(measure, autograph=False)  # no control flow on tensors

    def __call__(self, model: keras.Model) -> Probe:
        import tensorflow as tf

        if self._batch is None:
            batch = next(iter(self.sample.unbatch().batch(self.images).take(1)))
            self._batch = (tf.constant(batch[0]), tf.constant(batch[1]))
        if model is not self._model or [id(v) for v in model.trainable_variables] != self._watched:
            self._build(model)  # a new model, or fine-tuning changed what trains
        images, labels = self._batch
        saved = [np.array(v.numpy()) for v in self._state]
        try:
            squares, dead = self._measure(images, labels)
        finally:
            for variable, value in zip(self._state, saved, strict=True):
                variable.assign(value)
        fractions = {name: float(d) for name, d in zip(self.names, dead, strict=True)}
        return Probe(math.sqrt(float(squares)), fractions, dict(self.units), int(images.shape[0]))
