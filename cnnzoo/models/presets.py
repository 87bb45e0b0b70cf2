"""KerasHub ResNet-18 presets loaded into cnnzoo's torchvision-layout ResNet-18.

KerasHub's `ResNetBackbone` (preset `resnet_18_imagenet`, ported from timm) and
`cnnzoo/models/resnet18.py` compute the same network with the same padding; only the layer
names differ (`stack1_block0_0_conv` is torchvision's `layer2.0.downsample.0`). The backbone is
loaded through KerasHub's own preset loader (`Backbone.from_preset`: built-in names, Kaggle and
Hugging Face handles, local folders, with its caches), then every weight is copied by the name
mapping below, shape checked. The normalisation the weights expect comes from the preset's
image converter (`x * scale + offset` on 0-255 pixels) and becomes a layer inside the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnzoo.models import pretrained
from cnnzoo.utils.errors import CnnzooError

# timm's (and torchvision's) ImageNet statistics for RGB in [0, 1]: the resnet18 models'
# pretrained_cfg, used when a preset folder carries no image converter.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ResNet-18 in KerasHub's configuration vocabulary.
RESNET18_CONFIG = {
    "input_conv_filters": [64],
    "input_conv_kernel_sizes": [7],
    "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_blocks": [2, 2, 2, 2],
    "stackwise_num_strides": [1, 2, 2, 2],
    "block_type": "basic_block",
    "use_pre_activation": False,
}
_BLOCK = re.compile(r"stack(\d)_block(\d)_([012])_(conv|bn)")


@dataclass
class Preset:
    """A loaded KerasHub backbone and the input normalisation its weights expect."""

    backbone: object  # keras_hub.models.ResNetBackbone
    mean: tuple[float, ...]  # per channel, for inputs scaled to [0, 1]
    std: tuple[float, ...]
    normalisation_from: str  # where mean and std came from


def torchvision_name(keras_hub_name: str) -> str:
    """cnnzoo's (torchvision's) layer name for a KerasHub ResNet backbone layer name.

    conv1_conv -> conv1, conv1_bn -> bn1; the projection shortcut stack{s}_block{b}_0_conv/_bn
    -> layer{s+1}_{b}_downsample_0/_1; stack{s}_block{b}_{k}_conv/_bn (k = 1, 2)
    -> layer{s+1}_{b}_conv{k}/_bn{k}.
    """
    if keras_hub_name in ("conv1_conv", "conv1_bn"):
        return "conv1" if keras_hub_name.endswith("conv") else "bn1"
    match = _BLOCK.fullmatch(keras_hub_name)
    if not match:
        raise KeyError(f"no ResNet-18 layer corresponds to KerasHub layer {keras_hub_name!r}")
    stage, block, index, kind = match.groups()
    prefix = f"layer{int(stage) + 1}_{block}"
    if index == "0":
        return f"{prefix}_downsample_{0 if kind == 'conv' else 1}"
    return f"{prefix}_{kind}{index}"


def load_preset(model_name: str, weights: str, log: Callable[[str], None] = print) -> Preset:
    """Load the backbone and its normalisation with KerasHub (downloading and caching)."""
    pretrained.require_keras_hub()
    import keras_hub

    preset = pretrained.preset_for(model_name, weights)
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset)
    except Exception as error:  # network, credentials, a wrong folder: all one line
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise CnnzooError(
            f"model.weights: cannot load KerasHub preset {preset!r}: {reason}. If this machine "
            f"has no internet or no Kaggle access, {pretrained.offline_hint(model_name, weights)}."
        ) from None
    _check_resnet18(backbone, preset)
    mean, std, source = _normalisation(keras_hub, preset)
    log(f"Pretrained weights: KerasHub preset {preset} ({source}).")
    return Preset(backbone, mean, std, source)


def _check_resnet18(backbone: object, preset: str) -> None:
    config = backbone.get_config()  # type: ignore[attr-defined]
    different = {k: config.get(k) for k, v in RESNET18_CONFIG.items() if config.get(k) != v}
    if type(backbone).__name__ != "ResNetBackbone" or different:
        raise CnnzooError(
            f"model.weights: KerasHub preset {preset!r} is not a ResNet-18 (a ResNetBackbone "
            f"with {RESNET18_CONFIG}). Received: {type(backbone).__name__} {different}"
        )


def _normalisation(keras_hub, preset: str) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """Mean and std for [0, 1] inputs from the preset's image converter (scale, offset)."""
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except (FileNotFoundError, ValueError):
        converter = None
    if converter is None or converter.scale is None:
        return IMAGENET_MEAN, IMAGENET_STD, "no image converter in the preset: ImageNet mean/std"
    # The converter maps 0-255 pixels p to p * scale + offset; cnnzoo feeds x = p / 255, so
    # this is (x - mean) / std with std = 1 / (255 scale) and mean = -offset / (255 scale).
    scale = np.broadcast_to(np.asarray(converter.scale, dtype="float64"), (3,))
    offset = np.broadcast_to(np.asarray(converter.offset or 0.0, dtype="float64"), (3,))
    std = tuple(float(v) for v in 1.0 / (255.0 * scale))
    mean = tuple(float(v) for v in -offset / (255.0 * scale))
    return mean, std, "normalisation from the preset's image converter"


def copy_backbone(preset: Preset, model) -> int:
    """Copy every backbone weight into cnnzoo's ResNet-18 `model`; return the count copied.

    Raises a CnnzooError naming the layer when a name has no counterpart or a shape differs,
    and when a cnnzoo layer (other than the classifier) received nothing.
    """
    copied, filled = 0, set()
    for layer in preset.backbone.layers:  # type: ignore[attr-defined]
        if not layer.weights:
            continue
        target = model.get_layer(torchvision_name(layer.name))
        source_shapes = [tuple(w.shape) for w in layer.weights]
        target_shapes = [tuple(w.shape) for w in target.weights]
        if source_shapes != target_shapes:
            raise CnnzooError(
                f"model.weights: KerasHub layer {layer.name} has weights {source_shapes} but "
                f"cnnzoo's {target.name} has {target_shapes}"
            )
        for source, variable in zip(layer.weights, target.weights, strict=True):
            variable.assign(np.asarray(source.numpy(), dtype=variable.dtype))
            copied += int(np.prod(source.shape))
        filled.add(target.name)
    missing = [
        layer.name
        for layer in model.layers
        if layer.weights and layer.name not in filled and layer.name != "predictions"
    ]
    if missing:
        raise CnnzooError(f"model.weights: the preset has no weights for {', '.join(missing)}")
    return copied
