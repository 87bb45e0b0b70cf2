"""LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition").

The chapter's LeNet (after Dive into Deep Learning): a 5x5 convolution with 6 channels and a
sigmoid, 2x2 average pooling with stride 2, a 5x5 convolution with 16 channels and a sigmoid,
pooling, then dense layers of 120, 84 and `num_classes` units. The first convolution pads to
"same" so a 28x28 MNIST digit is treated like the paper's 32x32 input with a 2-pixel border
(28 -> 28 -> 14 -> 10 -> 5: 5*5*16 = 400 features, 61,706 parameters for 10 classes).
`variant="modern"` swaps in ReLU, max pooling and batch normalisation after every hidden layer
(the convolutions and dense layers then drop their biases, which batch normalisation subsumes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from cnnzoo.models.spec import Benchmark, ModelOptions, register_model

if TYPE_CHECKING:
    import keras

Variant = Literal["classic", "modern"]


class Options(ModelOptions):
    """LeNet-5's options."""

    name: Literal["lenet"] = "lenet"
    variant: Variant = Field(
        default="classic",
        description="classic (the chapter's: sigmoid, average pooling) or modern (ReLU, "
        "max pooling, batch normalisation)",
    )


@register_model(
    schema=Options,
    summary="LeNet-5: two 5x5 conv + pooling stages, dense 120-84-classes",
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    benchmark=Benchmark((28, 28, 1), 10),  # MNIST
    min_input_size=12,  # 12 -> 6 -> 2 (valid 5x5) -> 1
)
def build(
    input_shape: tuple[int, int, int], num_classes: int, *, variant: Variant = "classic"
) -> keras.Model:
    """Build LeNet-5 for `input_shape` images and `num_classes` classes."""
    from keras import layers  # here, so that the registry and configs never load Keras

    from cnnzoo.models.blocks import classifier, image_input

    modern = variant == "modern"
    activation = "relu" if modern else "sigmoid"
    pool = layers.MaxPooling2D if modern else layers.AveragePooling2D

    def normalise_and_activate(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
        if modern:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation(activation, name=f"{name}_{activation}")(x)

    inputs, x = image_input(input_shape)
    for index, (filters, padding) in enumerate([(6, "same"), (16, "valid")], start=1):
        x = layers.Conv2D(filters, 5, padding=padding, use_bias=not modern, name=f"conv{index}")(x)
        x = normalise_and_activate(x, f"conv{index}")
        x = pool(pool_size=2, strides=2, name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    for units in (120, 84):
        x = layers.Dense(units, use_bias=not modern, name=f"fc{units}")(x)
        x = normalise_and_activate(x, f"fc{units}")
    return classifier(inputs, x, num_classes, "lenet")
