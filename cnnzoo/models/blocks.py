"""Reusable `x -> x` building blocks: input resizing, classifier heads, Inception, residual."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from cnnzoo.utils import keras_compat


def resnet_kernel_initializer() -> keras.initializers.Initializer:
    """He-normal over fan-out: torchvision's kaiming_normal_(mode="fan_out") for ResNet convs."""
    return keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="untruncated_normal"
    )


def apply_resize(x: keras.KerasTensor, resize_to: int | None) -> keras.KerasTensor:
    """Resize images to `resize_to` x `resize_to` inside the model (bilinear), or pass through."""
    if resize_to is None:
        return x
    return layers.Resizing(resize_to, resize_to, interpolation="bilinear", name="resize")(x)


def image_input(
    input_shape: tuple[int, int, int], resize_to: int | None = None
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """(the model's input "image", the images its first layer sees: resized if `resize_to`)."""
    inputs = keras.Input(shape=input_shape, name="image")
    return inputs, apply_resize(inputs, resize_to)


def classifier(
    inputs: keras.KerasTensor, features: keras.KerasTensor, num_classes: int, name: str
) -> keras.Model:
    """The model `name` from `inputs` to a softmax over `num_classes` on `features`.

    The softmax computes in float32, which keeps probabilities exact under a mixed-precision
    policy.
    """
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(
        features
    )
    return keras.Model(inputs, outputs, name=name)


def apply_head(x: keras.KerasTensor, head: str) -> keras.KerasTensor:
    """The last feature map [batch, h, w, c] as the classifier's input: flattened [batch, h*w*c]
    ("flatten"), or each channel averaged over the positions [batch, c] ("global_average_pool",
    Lin et al. 2014, Network In Network)."""
    if head == "flatten":
        return layers.Flatten(name="flatten")(x)
    if head == "global_average_pool":
        return layers.GlobalAveragePooling2D(name="global_average_pool")(x)
    raise ValueError(f"unknown head {head!r}; expected 'flatten' or 'global_average_pool'")


def apply_inception_block(
    x: keras.KerasTensor,
    c1: int,
    c2: tuple[int, int],
    c3: tuple[int, int],
    c4: int,
    *,
    name: str,
) -> keras.KerasTensor:
    """GoogLeNet's Inception block: four "same"-padded paths concatenated on channels.

    Paths (Szegedy et al. 2015, Figure 2b, Table 1 columns): a 1x1 conv with `c1` filters; a 1x1
    reduction to `c2[0]` then a 3x3 conv with `c2[1]`; a 1x1 reduction to `c3[0]` then a 5x5 conv
    with `c3[1]`; a 3x3 stride-1 max pooling then a 1x1 projection with `c4`. Every conv uses
    ReLU. Output: same height and width, `c1 + c2[1] + c3[1] + c4` channels.
    """

    def conv(y: keras.KerasTensor, filters: int, size: int, part: str) -> keras.KerasTensor:
        return layers.Conv2D(
            filters, size, padding="same", activation="relu", name=f"{name}_{part}"
        )(y)

    path1 = conv(x, c1, 1, "1x1")
    path2 = conv(conv(x, c2[0], 1, "3x3_reduce"), c2[1], 3, "3x3")
    path3 = conv(conv(x, c3[0], 1, "5x5_reduce"), c3[1], 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    path4 = conv(pooled, c4, 1, "pool_proj")
    return layers.Concatenate(axis=-1, name=f"{name}_output")([path1, path2, path3, path4])


def fused_batch_norm(name: str, **options: Any) -> layers.BatchNormalization:
    """Keras' BatchNormalization that trains with TensorFlow's fused kernel; saved as Keras' own.

    Keras 3 normalises in training with separate moments, subtract, multiply and add ops on the
    TensorFlow backend: a third of the tutorial CNN's training step on a CPU, where the fused
    kernel (oneDNN or cuDNN) takes a fraction of that (docs/benchmarks.md). Only this instance's
    `call` is replaced, so the layer stays a `keras.layers.BatchNormalization` with the same
    weights, config and inference path, and a saved model loads with plain Keras. Training
    statistics match Keras' (float32, biased batch variance in the moving average); masks, renorm,
    synchronized and other layouts run Keras' own code.
    """
    layer = layers.BatchNormalization(name=name, **options)
    keras_call = layer.call

    def call(inputs, training=None, mask=None):
        fusable = len(inputs.shape) == 4 and layer.axis in (-1, 3) and layer.scale and layer.center
        plain = layer.renorm or layer.synchronized or mask is not None
        if not (training and layer.trainable and fusable) or plain:
            return keras_call(inputs, training=training, mask=mask)
        return _fused_training_call(layer, inputs)

    keras_compat.replace_call(layer, call)
    return layer


def _fused_training_call(layer: layers.BatchNormalization, inputs):
    import tensorflow as tf

    # float16/bfloat16 input stays as it is: the kernel computes its statistics in float32.
    outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=inputs,
        scale=tf.cast(layer.gamma, tf.float32),
        offset=tf.cast(layer.beta, tf.float32),
        mean=tf.constant([], tf.float32),
        variance=tf.constant([], tf.float32),
        epsilon=layer.epsilon,
        exponential_avg_factor=1.0,
        data_format="NHWC",
        is_training=True,
    )
    # The kernel returns the unbiased (n - 1) variance; Keras averages the biased one.
    count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], tf.float32)
    variance = variance * (count - 1.0) / count
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
    return tf.cast(outputs, layer.compute_dtype)


def torch_batch_norm(name: str) -> layers.BatchNormalization:
    """Batch normalisation with PyTorch's BatchNorm2d defaults, for layers mirroring torchvision."""
    # eps 1e-5; PyTorch's running-average momentum 0.1 is Keras' momentum 0.9.
    return fused_batch_norm(name, epsilon=1e-5, momentum=0.9)


def _conv3x3(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    if stride == 1:
        return layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer=resnet_kernel_initializer(),
            name=name,
        )(x)
    # Pad 1 on every side as PyTorch does; Keras "same" would pad only bottom/right here.
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters,
        3,
        strides=stride,
        use_bias=False,
        kernel_initializer=resnet_kernel_initializer(),
        name=name,
    )(x)


def apply_basic_block(
    x: keras.KerasTensor, filters: int, *, stride: int = 1, name: str
) -> keras.KerasTensor:
    """ResNet's basic block (He et al. 2016, torchvision `BasicBlock`).

    Two 3x3 conv + batch-norm layers (the first with `stride`, ReLU between them), added to the
    input, then ReLU. When the stride or channel count changes, the shortcut is a 1x1 conv with
    the same stride plus batch norm (torchvision's `downsample`); otherwise it is the identity.
    Layer names follow torchvision's (`layer2_0_conv1`, `layer2_0_downsample_0`, ...).
    """
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters,
            1,
            strides=stride,
            use_bias=False,
            kernel_initializer=resnet_kernel_initializer(),
            name=f"{name}_downsample_0",
        )(x)
        shortcut = torch_batch_norm(f"{name}_downsample_1")(shortcut)
    y = _conv3x3(x, filters, stride, f"{name}_conv1")
    y = torch_batch_norm(f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv3x3(y, filters, 1, f"{name}_conv2")
    y = torch_batch_norm(f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu2")(y)
