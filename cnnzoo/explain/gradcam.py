"""Grad-CAM: which part of an image a trained run's model used for its decision.

Selvaraju et al. 2017, "Grad-CAM: Visual explanations from deep networks via gradient-based
localization", as keras.io's Grad-CAM example computes it: the gradient of the class score
(the logit before the softmax) with respect to a convolutional layer's activations A [h, w, k],
averaged over the positions, weights each channel; the map is ReLU(sum_k weight_k * A_k).

The layer is found from the model graph, not from the model's name: by default the last layer
whose output has the spatial size of the last convolution's output (the end of the last
convolutional stage, after its batch norm and activation). Mixed-precision models are rebuilt
in float32 for the gradients, so the maps do not carry bfloat16 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnzoo.models.precision import as_float32
from cnnzoo.utils.errors import ConfigError


def spatial_layers(model: keras.Model) -> list[keras.Layer]:
    """The layers whose output is a feature map [batch, height, width, channels], in graph order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        output = getattr(layer, "output", None)
        if output is not None and not isinstance(output, list | tuple) and len(output.shape) == 4:
            found.append(layer)
    return found


def _is_conv(layer: keras.Layer) -> bool:
    # Nested models (a pretrained backbone) count: their output is a convolution stage's.
    return isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D | keras.Model)


def convolution_stages(model: keras.Model) -> list[str]:
    """The last layer of each run of layers at one spatial size that holds a convolution.

    Walking the graph in order, the feature maps keep their size through a stage (convolution,
    batch norm, activation, residual add, Inception concat) and change it at pooling or a strided
    convolution. Padding layers are skipped: their output is a few pixels larger for one step.
    """
    stages: list[str] = []
    size, last, convolved = None, None, False
    for layer in spatial_layers(model):
        if isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        here = tuple(layer.output.shape[1:3])
        if here != size:
            if convolved:
                stages.append(last)
            size, convolved = here, False
        convolved = convolved or _is_conv(layer)
        last = layer.name
    if convolved:
        stages.append(last)
    return stages


def default_layer(model: keras.Model) -> str:
    """The end of the last convolutional stage: where Grad-CAM looks by default."""
    stages = convolution_stages(model)
    if not stages:
        raise ConfigError(f"Model {model.name!r} has no convolution layer to explain.")
    return stages[-1]


def check_layers(model: keras.Model, names: list[str]) -> list[str]:
    """`names` if each is a layer with a feature map; else a ConfigError naming those that are."""
    usable = [layer.name for layer in spatial_layers(model)]
    for name in names:
        if name in usable:
            continue
        known = {layer.name for layer in model.layers}
        what = "has no feature map (its output is not [height, width, channels])"
        reason = what if name in known else f"is not a layer of {model.name!r}"
        raise ConfigError(
            f"--layer: {name!r} {reason}. Layers with feature maps: {', '.join(usable)}. "
            f"Received: --layer {name}"
        )
    return names


def _logits(model: keras.Model) -> tuple[keras.KerasTensor, Any]:
    """(the head's input, a function of it giving the class scores before any softmax)."""
    head = model.layers[-1]
    activation = getattr(head, "activation", None)
    if isinstance(head, keras.layers.Dense) and getattr(activation, "__name__", "") == "softmax":

        def scores(x):
            z = keras.ops.matmul(x, head.kernel)
            return z + head.bias if head.use_bias else z

        return head.input, scores
    if isinstance(head, keras.layers.Activation) and getattr(activation, "__name__", "") in (
        "softmax",
    ):
        return head.input, lambda x: x
    # No softmax to undo: explain the output itself.
    return model.output, lambda x: x


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM maps at the layer's resolution, with the model's probabilities."""

    layer: str
    maps: np.ndarray  # [n, h, w] float32, ReLU'd, in the class score's units
    probabilities: np.ndarray  # [n, classes]
    class_indices: np.ndarray  # [n] the class each map explains


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    layer: str | None = None,
    class_indices: np.ndarray | None = None,
    batch_size: int = 16,
) -> GradCam:
    """Grad-CAM of `images` (preprocessed as for the model) for the predicted or given classes."""
    model = as_float32(model)
    layer = layer or default_layer(model)
    check_layers(model, [layer])
    head_input, scores = _logits(model)
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, head_input, model.output])
    maps, probabilities, chosen = [], [], []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
        with tf.GradientTape() as tape:
            features, head, output = probe(batch, training=False)
            logits = tf.cast(scores(head), tf.float32)
            if class_indices is None:
                index = tf.argmax(output, axis=1, output_type=tf.int32)
            else:
                index = tf.constant(class_indices[start : start + batch_size], tf.int32)
            # Images are independent in inference mode, so one gradient serves the whole batch.
            target = tf.reduce_sum(tf.gather(logits, index, axis=1, batch_dims=1))
        gradients = tape.gradient(target, features)
        weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2))  # [n, k]
        cam = tf.einsum("bhwk,bk->bhw", tf.cast(features, tf.float32), weights)
        maps.append(tf.nn.relu(cam).numpy())
        probabilities.append(np.asarray(output, np.float32))
        chosen.append(np.asarray(index))
    return GradCam(
        layer, np.concatenate(maps), np.concatenate(probabilities), np.concatenate(chosen)
    )


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[n, h, w] maps resized (bilinear) to [n, height, width], the input image's resolution."""
    resized = tf.image.resize(maps[..., None], size, method="bilinear")
    return np.maximum(resized.numpy()[..., 0], 0.0).astype(np.float32)


def activations(model: keras.Model, images: np.ndarray, layers: list[str]) -> list[np.ndarray]:
    """Each named layer's output for `images`, in float32."""
    check_layers(model, layers)
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    outputs = probe(tf.convert_to_tensor(images, tf.float32), training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [np.asarray(tf.cast(output, tf.float32)) for output in outputs]


def first_conv_kernel(model: keras.Model) -> tuple[str, np.ndarray]:
    """(name, kernel [kh, kw, in, out]) of the first Conv2D in the graph."""
    for layer in spatial_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer.name, np.asarray(layer.kernel.numpy(), np.float32)
    raise ConfigError(f"Model {model.name!r} has no Conv2D layer whose filters could be drawn.")


def output_name(folder: Path, stem: str, suffix: str, taken: set[str]) -> Path:
    """`folder/stem.suffix`, with -2, -3... when two images share a stem."""
    name, k = f"{stem}{suffix}", 2
    while name in taken:
        name, k = f"{stem}-{k}{suffix}", k + 1
    taken.add(name)
    return folder / name
