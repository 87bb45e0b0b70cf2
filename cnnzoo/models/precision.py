"""A float32 copy of a mixed-precision model: what Grad-CAM's gradients and every export want.

A model trained under `mixed_float16` or `mixed_bfloat16` computes in half precision; Grad-CAM
would carry its rounding into the maps, and TFLite has no float16 kernels for most ops. The copy
is rebuilt from the model's config with every dtype policy set to float32 (nested models, such as
a pretrained backbone, too) and given the same weights.
"""

from __future__ import annotations

import copy
from typing import Any

import keras


def _float32_config(value: Any) -> Any:
    """A model config with every mixed-precision dtype policy replaced by float32."""
    if isinstance(value, dict):
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(
            value.get("config"), dict
        ):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if isinstance(value, str) and value.startswith("mixed_"):
        return "float32"
    return value


def as_float32(model: keras.Model) -> keras.Model:
    """`model` itself if it computes in float32, else a float32 copy with the same weights."""
    if all(layer.compute_dtype in (None, "float32") for layer in model.layers):
        return model
    config = _float32_config(copy.deepcopy(model.get_config()))
    clone = model.__class__.from_config(config)
    clone.set_weights(model.get_weights())
    return clone
