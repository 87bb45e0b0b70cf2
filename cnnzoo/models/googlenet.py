"""GoogLeNet (Szegedy et al. 2015, "Going deeper with convolutions"), Inception v1.

The paper's Table 1 network as the chapter (after Dive into Deep Learning) describes it: a
7x7/2 convolution and 3x3/2 max pooling; a 1x1 then a 3x3 convolution (192) and pooling; nine
Inception blocks with the paper's channel allocation, max pooling after 3b and 4e; global
average pooling, 40% dropout and the softmax classifier. Every convolution uses ReLU and
"same" padding, so at 224x224 the maps are 112, 56, 28 (3a-3b), 14 (4a-4e) and 7 (5a-5b) wide.
Left out, as in the book: local response normalisation and the two auxiliary classifiers,
which only serve training. Layer names follow the reference Caffe model (`inception_4c_5x5`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cnnzoo.models.spec import IMAGENET, ResizableOptions, register_model

if TYPE_CHECKING:
    import keras


class Options(ResizableOptions):
    """GoogLeNet's options: `resize_to` resizes the input inside the model first."""

    name: Literal["googlenet"] = "googlenet"


# (#1x1, (#3x3 reduce, #3x3), (#5x5 reduce, #5x5), pool proj) per block: the paper's Table 1.
INCEPTION_CHANNELS: dict[str, tuple[int, tuple[int, int], tuple[int, int], int]] = {
    "3a": (64, (96, 128), (16, 32), 32),  # 256 channels out
    "3b": (128, (128, 192), (32, 96), 64),  # 480
    "4a": (192, (96, 208), (16, 48), 64),  # 512
    "4b": (160, (112, 224), (24, 64), 64),  # 512
    "4c": (128, (128, 256), (24, 64), 64),  # 512
    "4d": (112, (144, 288), (32, 64), 64),  # 528
    "4e": (256, (160, 320), (32, 128), 128),  # 832
    "5a": (256, (160, 320), (32, 128), 128),  # 832
    "5b": (384, (192, 384), (48, 128), 128),  # 1024
}
# Max pooling 3x3/2 follows these blocks.
POOL_AFTER = {"3b": "pool3_3x3_s2", "4e": "pool4_3x3_s2"}


@register_model(
    schema=Options,
    summary="GoogLeNet: nine Inception blocks of four parallel paths, global average pooling",
    paper="Szegedy et al. 2015, Going deeper with convolutions",
    benchmark=IMAGENET,
    min_input_size=1,  # "same" padding halves (rounding up) down to 1x1
    suggested_resize=96,
)
def build(
    input_shape: tuple[int, int, int], num_classes: int, *, resize_to: int | None = None
) -> keras.Model:
    """Build GoogLeNet for `input_shape` images and `num_classes` classes."""
    from keras import layers  # here, so that the registry and configs never load Keras

    from cnnzoo.models.blocks import apply_inception_block, classifier, image_input

    inputs, x = image_input(input_shape, resize_to)
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1_7x7_s2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_3x3_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    for block, (c1, c2, c3, c4) in INCEPTION_CHANNELS.items():
        x = apply_inception_block(x, c1, c2, c3, c4, name=f"inception_{block}")
        if block in POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=POOL_AFTER[block])(x)
    x = layers.GlobalAveragePooling2D(name="pool5_global")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    return classifier(inputs, x, num_classes, "googlenet")
