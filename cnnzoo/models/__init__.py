"""The model registry: one spec per architecture, importable without TensorFlow.

Each architecture lives in `cnnzoo/models/<name>.py` and exposes
`build(input_shape, num_classes, **options) -> keras.Model`. The spec here records the builder's
keyword options and their defaults so that configs can be validated without importing Keras;
`tests/test_models.py` checks that each spec matches its builder's signature.

The large-input networks take a `resize_to` option: an integer side length that puts a Resizing
layer first, so they run on any image size, as the Dive into Deep Learning book resizes
Fashion-MNIST to 224 for AlexNet and to 96 for GoogLeNet and ResNet.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from cnnzoo.errors import ConfigError
from cnnzoo.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What the CLI and the config need to know about an architecture before building it."""

    name: str
    summary: str
    paper: str
    default_input_shape: tuple[int, int, int]
    default_num_classes: int
    # The smallest height and width the layers accept (after `resize_to`, when set).
    min_input_size: int
    options: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # The `resize_to` the book uses when it feeds this network 28x28 digits, if any.
    suggested_resize: int | None = None

    def builder(self) -> Callable[..., Any]:
        """Import the architecture module (and Keras) and return its `build` function."""
        return importlib.import_module(f"cnnzoo.models.{self.name}").build


MODELS: Registry[ModelSpec] = Registry("model")

MODELS.add(
    "tutorial_cnn",
    ModelSpec(
        name="tutorial_cnn",
        summary="The chapter's Code Tutorial CNN: three conv-BN-pool blocks (32/64/128), dense 128",
        paper="CNN chapter, Code Tutorial (10 Monkey Species, Keras)",
        default_input_shape=(128, 128, 3),
        default_num_classes=10,
        min_input_size=13,  # 13 -> 7 -> 5 -> 3 -> 1: the two valid 3x3 convs need 3 pixels each
    ),
)
MODELS.add(
    "lenet",
    ModelSpec(
        name="lenet",
        summary="LeNet-5: two 5x5 conv + pooling stages, dense 120-84-classes",
        paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
        default_input_shape=(28, 28, 1),
        default_num_classes=10,
        min_input_size=12,  # 12 -> 6 -> 2 (valid 5x5) -> 1
        options={"variant": "classic"},
        choices={"variant": ("classic", "modern")},
    ),
)
MODELS.add(
    "alexnet",
    ModelSpec(
        name="alexnet",
        summary="AlexNet: 11x11/4, 5x5 and three 3x3 convs, overlapping max pooling, 4096-4096",
        paper="Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep CNNs",
        default_input_shape=(224, 224, 3),
        default_num_classes=1000,
        min_input_size=67,  # 67 -> 15 (11x11/4) -> 7 -> 3 -> 1 (three 3x3/2 max pools)
        options={"resize_to": None},
        suggested_resize=224,
    ),
)
MODELS.add(
    "googlenet",
    ModelSpec(
        name="googlenet",
        summary="GoogLeNet: nine Inception blocks of four parallel paths, global average pooling",
        paper="Szegedy et al. 2015, Going deeper with convolutions",
        default_input_shape=(224, 224, 3),
        default_num_classes=1000,
        min_input_size=1,  # "same" padding halves (rounding up) down to 1x1
        options={"resize_to": None},
        suggested_resize=96,
    ),
)
MODELS.add(
    "resnet18",
    ModelSpec(
        name="resnet18",
        summary="ResNet-18: 7x7 stem, four stages of two basic residual blocks (64-512), GAP",
        paper="He et al. 2016, Deep residual learning for image recognition",
        default_input_shape=(224, 224, 3),
        default_num_classes=1000,
        min_input_size=1,  # padded stride-2 layers halve (rounding up) down to 1x1
        # weights: imagenet, a KerasHub preset handle or folder (cnnzoo/pretrained.py)
        options={"resize_to": None, "weights": None},
        suggested_resize=96,
    ),
)


def check_input_shape(
    name: str, input_shape: tuple[int, ...], options: Mapping[str, Any] | None = None
) -> None:
    """Raise a ConfigError unless model `name` with `options` can take `input_shape` images."""
    spec = MODELS.get(name)
    options = {**spec.options, **(options or {})}
    smallest = spec.min_input_size
    if len(input_shape) != 3 or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in input_shape
    ):
        raise ConfigError(
            f"input shape: expected three positive integers (height, width, channels). "
            f"Received: {tuple(input_shape)!r}"
        )
    resize_to = options.get("resize_to")
    if resize_to is not None:
        if isinstance(resize_to, bool) or not isinstance(resize_to, int) or resize_to < smallest:
            raise ConfigError(
                f'model.resize_to: model "{name}" needs a side length of at least {smallest} '
                f"pixels (or null to keep the input size). Received: {resize_to!r}"
            )
        return
    height, width, _ = input_shape
    if min(height, width) >= smallest:
        return
    fixes = f"set data.image_size to at least [{smallest}, {smallest}]"
    if "resize_to" in spec.options:
        fixes += f" or model.resize_to to {spec.suggested_resize or smallest} (resize in the model)"
    raise ConfigError(
        f'model "{name}" needs images of at least {smallest}x{smallest} pixels; smaller ones '
        f"shrink to nothing in its downsampling layers: {fixes}. "
        f"Received: input shape {height}x{width}x{input_shape[2]}"
    )


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """Parse 'H,W,C' (or 'HxWxC') into a shape tuple, raising a ConfigError if malformed."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(
            f"--input-shape: expected three positive integers HEIGHT,WIDTH,CHANNELS such as "
            f"28,28,1. Received: {text!r}"
        )
    return shape  # type: ignore[return-value]


def parse_option(text: str) -> tuple[str, Any]:
    """Parse a builder option 'KEY=VALUE', the value read as a YAML scalar (224, null, modern)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--option: expected KEY=VALUE such as resize_to=224. Received: {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value
