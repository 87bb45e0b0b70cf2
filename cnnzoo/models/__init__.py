"""The model registry: one plugin module per architecture, importable without TensorFlow.

Each architecture lives in `cnnzoo/models/<name>.py`: an `Options` schema (its builder's keyword
options, typed, with defaults) and `build(input_shape, num_classes, **options) -> keras.Model`,
registered together with `@register_model`. Importing this package registers them all; Keras loads
only when a builder runs. `tests/test_models.py` checks each schema against its builder's signature.

The large-input networks take a `resize_to` option: an integer side length that puts a Resizing
layer first, so they run on any image size, as the Dive into Deep Learning book resizes
Fashion-MNIST to 224 for AlexNet and to 96 for GoogLeNet and ResNet.
"""

from __future__ import annotations

import importlib

from cnnzoo.models.spec import (
    MODELS,
    ModelOptions,
    ModelSpec,
    check_input_shape,
    parse_input_shape,
    register_model,
)

# Importing a plugin registers it; this order is the order `cnnzoo models` lists them in.
for _module in ("tutorial_cnn", "lenet", "alexnet", "googlenet", "resnet18"):
    importlib.import_module(f"cnnzoo.models.{_module}")

__all__ = [
    "MODELS",
    "ModelOptions",
    "ModelSpec",
    "check_input_shape",
    "parse_input_shape",
    "register_model",
]
