"""What a model plugin declares beside its builder: metadata and a typed options schema (no Keras).

Each architecture module defines an `Options` schema (a frozen pydantic model whose `name` field is
the registry key, so configs validate as a union keyed on `name`) and registers its `build`
function with `@register_model(...)`, as timm's `@register_model` keeps metadata beside the
builder. The builders import Keras inside `build`, so this registry, config validation and
`cnnzoo --help` never load TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cnnzoo.utils.errors import ConfigError
from cnnzoo.utils.registry import Registry
from cnnzoo.utils.schema import MAX_IMAGE_SIDE, STRICT


class ModelOptions(BaseModel):
    """Base for a model's options: `name` (the registry key) plus the builder's keyword options."""

    model_config = ConfigDict(**STRICT, validate_default=True)
    name: str

    @property
    def options(self) -> dict[str, Any]:
        """The builder's keyword arguments (everything but `name`)."""
        return {key: getattr(self, key) for key in type(self).model_fields if key != "name"}


class ResizableOptions(ModelOptions):
    """Options of a network that can resize its input first (the book's trick for 28x28 digits)."""

    resize_to: int | None = Field(
        default=None,
        description="null, or a side length in pixels: a Resizing layer first, so the network "
        "runs on any image size",
    )

    @field_validator("resize_to", mode="before")
    @classmethod
    def _large_enough(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.data.get("name", "")
        smallest = MODELS.get(name).min_input_size if name in MODELS else 1
        if value is None or (type(value) is int and smallest <= value <= MAX_IMAGE_SIDE):
            return value
        raise ValueError(
            f'model "{name}" needs a side length of at least {smallest} pixels and at most '
            f"{MAX_IMAGE_SIDE} (or null to keep the input size)"
        )


class Benchmark(NamedTuple):
    """The images and classes a network was designed for: its default input and class count."""

    input_shape: tuple[int, int, int]
    num_classes: int


# ImageNet-1k at the 224x224 crops AlexNet, GoogLeNet and ResNet were trained on.
IMAGENET = Benchmark((224, 224, 3), 1000)


@dataclass(frozen=True)
class ModelSpec:
    """What the CLI and the config need to know about an architecture before building it."""

    name: str
    summary: str
    paper: str
    benchmark: Benchmark
    # The smallest height and width the layers accept (after `resize_to`, when set).
    min_input_size: int
    schema: type[ModelOptions]
    build: Callable[..., Any]
    # The `resize_to` the book uses when it feeds this network 28x28 digits, if any.
    suggested_resize: int | None = None

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        """The benchmark's image shape: what `cnnzoo models` counts the network at."""
        return self.benchmark.input_shape

    @property
    def default_num_classes(self) -> int:
        """The benchmark's number of classes."""
        return self.benchmark.num_classes

    @property
    def options(self) -> dict[str, Any]:
        """The builder's keyword options and their defaults, in declaration order."""
        return {
            key: field.default for key, field in self.schema.model_fields.items() if key != "name"
        }

    def option_choices(self) -> dict[str, str]:
        """Each option's accepted values and default, as `cnnzoo models` lists them."""
        described = {}
        for key, field in self.schema.model_fields.items():
            if key == "name":
                continue
            kind = field.annotation
            values = get_args(kind) if get_origin(kind) is Literal else ()
            accepted = " | ".join(repr(v) for v in values) if values else _type_name(kind)
            default = "null" if field.default is None else repr(field.default)
            described[key] = f"{accepted} (default {default})"
        return described

    def builder(self) -> Callable[..., Any]:
        """The `build(input_shape, num_classes, **options)` function (Keras loads when called)."""
        return self.build


def _type_name(annotation: Any) -> str:
    """`int | None` -> 'int | null', as YAML spells None."""
    names = [getattr(arg, "__name__", str(arg)) for arg in get_args(annotation) or (annotation,)]
    return " | ".join("null" if name == "NoneType" else name for name in names)


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    *,
    schema: type[ModelOptions],
    summary: str,
    paper: str,
    benchmark: Benchmark,
    min_input_size: int,
    suggested_resize: int | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering `build` under the name its options schema declares."""

    def register(build: Callable[..., Any]) -> Callable[..., Any]:
        name = schema.model_fields["name"].default
        spec = ModelSpec(
            name, summary, paper, benchmark, min_input_size, schema, build, suggested_resize
        )
        MODELS.register(name)(spec)
        return build

    return register


def check_input_shape(
    name: str, input_shape: tuple[int, ...], options: Mapping[str, Any] | None = None
) -> None:
    """Raise a ConfigError unless model `name` with `options` can take `input_shape` images."""
    spec = MODELS.get(name)
    smallest = spec.min_input_size
    if len(input_shape) != 3 or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in input_shape
    ):
        raise ConfigError(
            f"input shape: expected three positive integers (height, width, channels). "
            f"Received: {tuple(input_shape)!r}"
        )
    if (options or {}).get("resize_to") is not None:
        return  # the schema checked that the resized side is large enough
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
