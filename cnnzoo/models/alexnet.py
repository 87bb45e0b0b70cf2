"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep CNNs").

The chapter's AlexNet, as Dive into Deep Learning writes it: one stream (no two-GPU split) and
no local response normalisation. Shapes at 224x224x3:

    conv1  11x11/4, 96, valid     -> 54x54x96     pool1  3x3/2 -> 26x26
    conv2  5x5, 256, same         -> 26x26x256    pool2  3x3/2 -> 12x12
    conv3-5  3x3 same, 384/384/256 -> 12x12x256   pool5  3x3/2 -> 5x5x256 = 6,400 features
    fc6 4096 + dropout 0.5, fc7 4096 + dropout 0.5, softmax over `num_classes`

At the paper's real 227x227 input the same layers give 55x55, 27x27, 13x13 and 6x6x256 = 9,216
features, the layout the paper's Figure 2 draws. Every layer but the output uses ReLU.
`resize_to` resizes the input inside the model first (the book uses 224 for 28x28 digits); the
smallest side it accepts is 67 (67 -> 15 -> 7 -> 3 -> 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cnnzoo.models.spec import IMAGENET, ResizableOptions, register_model

if TYPE_CHECKING:
    import keras


class Options(ResizableOptions):
    """AlexNet's options: `resize_to` resizes the input inside the model first."""

    name: Literal["alexnet"] = "alexnet"


@register_model(
    schema=Options,
    summary="AlexNet: 11x11/4, 5x5 and three 3x3 convs, overlapping max pooling, 4096-4096",
    paper="Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep CNNs",
    benchmark=IMAGENET,
    min_input_size=67,  # 67 -> 15 (11x11/4) -> 7 -> 3 -> 1 (three 3x3/2 max pools)
    suggested_resize=224,
)
def build(
    input_shape: tuple[int, int, int], num_classes: int, *, resize_to: int | None = None
) -> keras.Model:
    """Build AlexNet for `input_shape` images and `num_classes` classes."""
    from keras import layers  # here, so that the registry and configs never load Keras

    from cnnzoo.models.blocks import classifier, image_input

    inputs, x = image_input(input_shape, resize_to)
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for index, filters in [(3, 384), (4, 384), (5, 256)]:
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index}")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = layers.Dense(4096, activation="relu", name=f"fc{index}")(x)
        x = layers.Dropout(0.5, name=f"dropout{index}")(x)
    return classifier(inputs, x, num_classes, "alexnet")
