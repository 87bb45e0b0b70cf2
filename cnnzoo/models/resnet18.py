"""ResNet-18 (He et al. 2016, "Deep residual learning for image recognition").

torchvision's `resnet18` layer for layer: a 7x7/2 convolution (64, no bias), batch
normalisation, ReLU and 3x3/2 max pooling; four stages of two basic residual blocks with 64,
128, 256 and 512 channels, the first block of stages 2-4 halving the size with a 1x1/2
projection shortcut; global average pooling and the dense classifier. Padding, batch-norm
settings, initialisation and layer names follow torchvision, so at 224x224x3 with 1000 classes
the model has torchvision's 11,689,512 parameters (the maps are 112, 56, 28, 14 and 7 wide).

`weights="imagenet"` (or a KerasHub preset handle or folder) starts from KerasHub's ImageNet
weights (`cnnzoo/models/presets.py`): a Normalization layer after the input applies the mean and std
the weights expect to [0, 1] images, so `predict` and `export` need nothing extra. Grey
(1-channel) images are repeated to RGB before it, as the pretrained weights expect colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from cnnzoo.models import pretrained
from cnnzoo.models.spec import IMAGENET, ResizableOptions, register_model

if TYPE_CHECKING:
    import keras


class Options(ResizableOptions):
    """ResNet-18's options: `resize_to` resizes the input first; `weights` starts pretrained."""

    name: Literal["resnet18"] = "resnet18"
    weights: str | None = Field(
        default=None,
        description="null (from scratch), imagenet (KerasHub's ImageNet-1k weights), a "
        "kaggle:// or hf:// KerasHub preset handle, or a local preset folder",
    )

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: str | None) -> str | None:
        return pretrained.check_weights("resnet18", value)  # type: ignore[return-value]


STAGES = [(64, 1), (128, 2), (256, 2), (512, 2)]  # (channels, stride of the first block)
BLOCKS_PER_STAGE = 2


@register_model(
    schema=Options,
    summary="ResNet-18: 7x7 stem, four stages of two basic residual blocks (64-512), GAP",
    paper="He et al. 2016, Deep residual learning for image recognition",
    benchmark=IMAGENET,
    min_input_size=1,  # padded stride-2 layers halve (rounding up) down to 1x1
    suggested_resize=96,
)
def build(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    resize_to: int | None = None,
    weights: str | None = None,
) -> keras.Model:
    """Build ResNet-18 for `input_shape` images and `num_classes` classes, maybe pretrained."""
    from keras import layers  # here, so that the registry and configs never load Keras

    from cnnzoo.models import presets
    from cnnzoo.models.blocks import (
        apply_basic_block,
        classifier,
        image_input,
        resnet_kernel_initializer,
        torch_batch_norm,
    )

    preset = presets.load_preset("resnet18", weights) if weights else None
    inputs, x = image_input(input_shape, resize_to)
    if preset and input_shape[-1] == 1:
        # Grey images: the channel repeated as R, G and B, so the pretrained model sees exactly
        # the grey image it would see in colour. (timm's adapt_input_conv sums conv1's RGB
        # kernels instead: 2/3 of conv1's multiplies saved, ~4% of ResNet-18's, but exact only
        # when the three channel means are equal, and ImageNet's are not.)
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    if preset:
        x = layers.Normalization(
            mean=preset.mean, variance=[s * s for s in preset.std], name="input_normalize"
        )(x)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(
        64,
        7,
        strides=2,
        use_bias=False,
        kernel_initializer=resnet_kernel_initializer(),
        name="conv1",
    )(x)
    x = torch_batch_norm("bn1")(x)
    x = layers.ReLU(name="relu")(x)
    # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs, all >= 0.
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, (filters, stride) in enumerate(STAGES, start=1):
        for block in range(BLOCKS_PER_STAGE):
            x = apply_basic_block(
                x, filters, stride=stride if block == 0 else 1, name=f"layer{stage}_{block}"
            )
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    model = classifier(inputs, x, num_classes, "resnet18")
    if preset:
        presets.copy_backbone(preset, model)
    return model
