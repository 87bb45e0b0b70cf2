"""The chapter's Code Tutorial CNN (cnn-chapter.md, "Code Tutorial"), as a functional model.

Layer for layer the tutorial's `Sequential` model: three blocks of a 3x3 ReLU convolution
(32, 64, 128 filters; the first "same"-padded, the others valid), batch normalisation and 2x2
stride-2 max pooling with "same" padding, then Flatten, Dense 128 ReLU, Dropout 0.25 and the
softmax output. At the tutorial's 128x128x3 input the shapes run 128 -> 64 -> 62 -> 31 -> 29
-> 15, so Flatten gives 15*15*128 = 28,800 features.

Options for small data, each off by default (the defaults build the tutorial's model exactly):

- `head: global_average_pool` averages each channel over all positions (Lin et al. 2014,
  "Network In Network", section 3.2) instead of flattening them: at 128x128x3 the dense layer
  then takes 128 features, not 28,800 (16,512 weights instead of 3,686,528), and sees what is
  in the image, not where.
- `width` multiplies every block's filters (Zagoruyko and Komodakis 2016, "Wide Residual
  Networks"; MobileNets' width multiplier, Howard et al. 2017), rounded to whole filters.
- `blocks` sets the number of conv-BN-pool blocks; filters double from block to block (32, 64,
  128, 256, ...). Blocks beyond the tutorial's three pad "same", so any input the tutorial
  takes still fits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from cnnzoo.models.spec import Benchmark, ModelOptions, register_model

if TYPE_CHECKING:
    import keras

# How the last feature map becomes the classifier's input.
Head = Literal["flatten", "global_average_pool"]
HEAD_DESCRIPTION = (
    "flatten (the chapter's: every position its own weights) or global_average_pool (each "
    "channel averaged over all positions: far fewer weights, no position memorised)"
)


class Options(ModelOptions):
    """The Code Tutorial CNN's options; the defaults are the tutorial's model exactly."""

    name: Literal["tutorial_cnn"] = "tutorial_cnn"
    head: Head = Field(default="flatten", description=HEAD_DESCRIPTION)
    width: float = Field(
        default=1.0, gt=0, le=8, description="multiplies every block's filters (32, 64, 128)"
    )
    blocks: int = Field(
        default=3, ge=1, le=6, description="conv-BN-pool blocks; filters double in each"
    )


def block_layout(blocks: int, width: float) -> list[tuple[int, str]]:
    """(filters, padding) of each block: the tutorial's 32/64/128, same/valid/valid, then more."""
    paddings = ["same", "valid", "valid"] + ["same"] * max(0, blocks - 3)
    return [(max(1, round(32 * 2**index * width)), paddings[index]) for index in range(blocks)]


@register_model(
    schema=Options,
    summary="The chapter's Code Tutorial CNN: three conv-BN-pool blocks (32/64/128), dense 128",
    paper="CNN chapter, Code Tutorial (10 Monkey Species, Keras)",
    benchmark=Benchmark((128, 128, 3), 10),  # 10 Monkey Species at the tutorial's size
    min_input_size=13,  # 13 -> 7 -> 5 -> 3 -> 1: the two valid 3x3 convs need 3 pixels each
)
def build(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    head: Head = "flatten",
    width: float = 1.0,
    blocks: int = 3,
) -> keras.Model:
    """Build the Code Tutorial CNN for `input_shape` images and `num_classes` classes."""
    from keras import layers  # here, so that the registry and configs never load Keras

    from cnnzoo.models.blocks import apply_head, classifier, fused_batch_norm, image_input

    inputs, x = image_input(input_shape)
    for index, (filters, padding) in enumerate(block_layout(blocks, width), 1):
        # As in the tutorial: ReLU inside the convolution, then batch normalisation.
        x = layers.Conv2D(filters, 3, padding=padding, activation="relu", name=f"conv{index}")(x)
        x = fused_batch_norm(f"bn{index}")(x)
        x = layers.MaxPooling2D(pool_size=2, strides=2, padding="same", name=f"pool{index}")(x)
    x = apply_head(x, head)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(0.25, name="dropout")(x)
    return classifier(inputs, x, num_classes, "tutorial_cnn")
