"""The model registry: one spec per architecture, importable without TensorFlow.

Each architecture lives in `cnnzoo/models/<name>.py` and exposes
`build(input_shape, num_classes, **options) -> keras.Model`. The spec here records the builder's
keyword options and their defaults so that configs can be validated without importing Keras;
`tests/test_models.py` checks that each spec matches its builder's signature.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnnzoo.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What the CLI and the config need to know about an architecture before building it."""

    name: str
    summary: str
    paper: str
    default_input_shape: tuple[int, int, int]
    options: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def builder(self) -> Callable[..., Any]:
        """Import the architecture module (and Keras) and return its `build` function."""
        return importlib.import_module(f"cnnzoo.models.{self.name}").build


MODELS: Registry[ModelSpec] = Registry("model")

MODELS.add(
    "lenet",
    ModelSpec(
        name="lenet",
        summary="LeNet-5: two 5x5 conv + pooling stages, dense 120-84-classes",
        paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
        default_input_shape=(28, 28, 1),
        options={"variant": "classic"},
        choices={"variant": ("classic", "modern")},
    ),
)
