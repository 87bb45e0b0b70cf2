"""The chapter's Code Tutorial CNN (cnn-chapter.md, "Code Tutorial"), as a functional model.

Layer for layer the tutorial's `Sequential` model: three blocks of a 3x3 ReLU convolution
(32, 64, 128 filters; the first "same"-padded, the others valid), batch normalisation and 2x2
stride-2 max pooling with "same" padding, then Flatten, Dense 128 ReLU, Dropout 0.25 and the
softmax output. At the tutorial's 128x128x3 input the shapes run 128 -> 64 -> 62 -> 31 -> 29
-> 15, so Flatten gives 15*15*128 = 28,800 features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cnnzoo.models.spec import ModelOptions, register_model

if TYPE_CHECKING:
    import keras


class Options(ModelOptions):
    """The Code Tutorial CNN has no options: it is the tutorial's model exactly."""

    name: Literal["tutorial_cnn"] = "tutorial_cnn"


@register_model(
    schema=Options,
    summary="The chapter's Code Tutorial CNN: three conv-BN-pool blocks (32/64/128), dense 128",
    paper="CNN chapter, Code Tutorial (10 Monkey Species, Keras)",
    default_input_shape=(128, 128, 3),
    default_num_classes=10,
    min_input_size=13,  # 13 -> 7 -> 5 -> 3 -> 1: the two valid 3x3 convs need 3 pixels each
)
def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Build the Code Tutorial CNN for `input_shape` images and `num_classes` classes."""
    import keras  # here, so that the registry and config validation never load Keras
    from keras import layers

    from cnnzoo.models.blocks import fused_batch_norm

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for index, (filters, padding) in enumerate([(32, "same"), (64, "valid"), (128, "valid")], 1):
        # As in the tutorial: ReLU inside the convolution, then batch normalisation.
        x = layers.Conv2D(filters, 3, padding=padding, activation="relu", name=f"conv{index}")(x)
        x = fused_batch_norm(f"bn{index}")(x)
        x = layers.MaxPooling2D(pool_size=2, strides=2, padding="same", name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(0.25, name="dropout")(x)
    # float32 softmax keeps probabilities exact under a mixed-precision policy.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(
        x
    )
    return keras.Model(inputs, outputs, name="tutorial_cnn")
