"""YAML configs loaded into typed, frozen, strictly validated objects (no TensorFlow import).

A config file is data (`cnnzoo.config_files` reads it, its `extends:` bases and `--set a.b=value`
overrides); this module is its schema. `model:` is a union of the model plugins' option schemas
keyed on `name`. Every bad key of a file is reported at once, each on its own line naming the
file, the key path, what was expected, what was received and, for misspellings, the closest key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cnnzoo import finetune, pretrained
from cnnzoo.config_files import apply_override, find_config, read_with_bases
from cnnzoo.data.catalog import DATASETS
from cnnzoo.errors import ConfigError
from cnnzoo.models import MODELS, ModelOptions, check_input_shape
from cnnzoo.registry import did_you_mean


class Section(BaseModel):
    """Base for config sections: unknown keys and loose types are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(Section):
    """Which dataset to read, from where, at what size."""

    dataset: str = "mnist"
    path: str | None = None
    val_path: str | None = None
    data_dir: str | None = None
    download: bool = False
    url: str | None = None
    sha256: str | None = None
    image_size: list[int] | None = Field(default=None, min_length=2, max_length=2)
    channels: Literal[1, 3] | None = None
    validation_split: float | None = Field(default=None, ge=0.0, lt=1.0)
    cache: Literal["auto", "memory", "disk", "none"] = "auto"
    bad_files: Literal["skip", "error"] = "skip"

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        try:
            DATASETS.get(name)
        except ConfigError as error:  # a ValueError, so that pydantic reports it with the rest
            raise ValueError(str(error)) from None
        return name

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, size: list[int] | None) -> list[int] | None:
        if size is not None and min(size) < 1:
            raise ValueError("image_size must be two positive integers [height, width]")
        return size


class AugmentConfig(Section):
    """Training-split augmentation in the vocabulary of Keras' ImageDataGenerator."""

    rotation_range: float = Field(default=0.0, ge=0.0, le=180.0)
    width_shift_range: float = Field(default=0.0, ge=0.0, lt=1.0)
    height_shift_range: float = Field(default=0.0, ge=0.0, lt=1.0)
    shear_range: float = Field(default=0.0, ge=0.0, le=90.0)
    zoom_range: float | list[float] = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    fill_mode: Literal["nearest", "constant", "reflect", "wrap"] = "nearest"
    cval: float = 0.0
    brightness_range: list[float] | None = Field(default=None, min_length=2, max_length=2)
    contrast_range: float = Field(default=0.0, ge=0.0, lt=1.0)
    rescale: float = 1.0 / 255.0

    @field_validator("zoom_range")
    @classmethod
    def _zoom(cls, zoom: float | list[float]) -> float | list[float]:
        bounds = zoom if isinstance(zoom, list) else [1 - zoom, 1 + zoom]
        if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1]:
            raise ValueError("zoom_range must be a fraction in [0, 1) or a [lower, upper] pair > 0")
        return zoom

    @property
    def enabled(self) -> bool:
        """Whether any random transform is configured."""
        return self.model_copy(update={"rescale": AugmentConfig().rescale}) != AugmentConfig()


# The `model:` section: a union of the registered models' option schemas, keyed on `name`.
ModelConfig = Annotated[
    Union[tuple(MODELS.get(name).schema for name in MODELS)],  # noqa: UP007 (built at run time)
    Field(discriminator="name"),
]
DEFAULT_MODEL = "lenet"


class TrainConfig(Section):
    """Optimisation settings."""

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=64, ge=1)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(default=0.001, gt=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    warmup_epochs: int = Field(default=0, ge=0)
    step_epochs: int = Field(default=10, ge=1)
    decay_factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    plateau_patience: int = Field(default=3, ge=1)
    min_learning_rate: float = Field(default=0.0, ge=0.0)
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    loss: Literal["categorical_crossentropy"] = "categorical_crossentropy"
    metrics: list[Literal["accuracy", "top5_accuracy"]] = ["accuracy"]
    early_stopping_patience: int | None = Field(default=None, ge=1)
    steps_per_epoch: int | None = Field(default=None, ge=1)
    tensorboard: bool = False
    # Fine-tuning (cnnzoo/finetune.py): an earlier run folder to start from, epochs that train
    # only the classifier, the rate after them (default learning_rate / 10), batch norm frozen.
    init_from: str | None = None
    freeze_epochs: int = Field(default=0, ge=0)
    finetune_learning_rate: float | None = Field(default=None, gt=0.0)
    freeze_batch_norm: bool = True
    # Inference-mode batch-norm statistics: re-estimated from training images at each epoch end
    # (cnnzoo/batch_norm_stats.py) or Keras' moving average alone; the weights train the same.
    batch_norm_stats: Literal["reestimate", "running"] = "reestimate"
    # A run that is not learning (cnnzoo/health.py): say so, or say so and stop.
    on_collapse: Literal["warn", "stop"] = "warn"


class HardwareConfig(Section):
    """Devices, precision and distribution."""

    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    xla: Literal["auto", "on", "off"] = "auto"
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    gpus: list[int] | None = None
    memory_growth: bool = True
    deterministic: bool = False
    # Split the CPU into this many logical devices: MirroredStrategy without GPUs (tests, demos).
    cpu_devices: int = Field(default=1, ge=1, le=64)

    @field_validator("xla", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on`/`off` (in a file or in --set) as a boolean.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class Config(Section):
    """A whole run: identity, data, augmentation, model, training and hardware."""

    name: str = "run"
    seed: int = 42
    output_dir: str = "runs"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = Field(default_factory=lambda: MODELS.get(DEFAULT_MODEL).schema())
    train: TrainConfig = TrainConfig()
    hardware: HardwareConfig = HardwareConfig()

    @field_validator("model", mode="before")
    @classmethod
    def _default_model_name(cls, model: Any) -> Any:
        # `name` may be left out, as every other key: it defaults to lenet.
        return {"name": DEFAULT_MODEL, **model} if isinstance(model, dict) else model

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images fed to the model."""
        assert self.data.image_size is not None and self.data.channels is not None, "unresolved"
        return (*self.data.image_size, self.data.channels)  # type: ignore[return-value]


def _describe_error(error: dict[str, Any]) -> tuple[str, str]:
    """(key path, one-line description) of one pydantic error."""
    # Drop function-validator and union-branch markers such as "float" or "list[float]".
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    loc = [part for part in loc if "[" not in part and part not in {"float", "int", "str"}]
    schema: type[BaseModel] | None = None
    if loc[:1] == ["model"] and len(loc) > 1 and loc[1] in MODELS:
        schema = MODELS.get(loc[1]).schema  # the union's tag: the model's own options
        loc = ["model", *loc[2:]]
    path = ".".join(loc)
    kind, value = error["type"], error.get("input")
    if kind == "union_tag_invalid":
        try:
            MODELS.get(str(error["ctx"]["tag"]))
        except ConfigError as unknown:
            return f"{path}.name", f"{path}.name: {unknown}"
    if kind == "extra_forbidden" and schema is not None and loc[-1] == "weights":
        return path, f"{path}: {pretrained.no_weights(str(error['loc'][1]))} Received: {value!r}"
    if kind == "extra_forbidden" and schema is not None:
        name = error["loc"][1]
        known = [key for key in schema.model_fields if key != "name"]
        return path, (
            f'model: unknown option "{loc[-1]}" for model "{name}".'
            + did_you_mean(loc[-1], known)
            + f" Known options: {', '.join(known) or 'none'}. Received: {loc[-1]}={value!r}"
        )
    if kind == "extra_forbidden":
        fields = _fields_at(loc[:-1])
        return path, (
            f'{path}: unknown key "{loc[-1]}".'
            + did_you_mean(loc[-1], fields)
            + (f" Known keys: {', '.join(fields)}." if fields else "")
        )
    message = error["msg"].removeprefix("Value error, ")
    if not message.endswith((".", "?")):
        message += "."
    if kind == "literal_error":
        message += did_you_mean(str(value), re.findall(r"'([^']*)'", error["ctx"]["expected"]))
    return path, f"{path}: {message} Received: {value!r}"


def _fields_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def validate(data: dict[str, Any], source: str) -> Config:
    """Validate raw config data, reporting every bad key of it in one ConfigError (one per line)."""
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        described = dict(_describe_error(e) for e in error.errors())  # one line per key path
        raise ConfigError("\n".join(f"{source}: {line}" for line in described.values())) from None


def model_options(name: str, options: dict[str, Any], source: str = "model") -> ModelOptions:
    """Validate a model's options exactly as a config's `model:` section is validated."""
    return validate({"model": {"name": name, **options}}, source).model


def resolve(data: dict[str, Any], source: str, default_name: str = "run") -> Config:
    """Validate a raw mapping and fill dataset and model defaults into a complete Config."""
    data = dict(data)
    data.setdefault("name", default_name)
    config = validate(data, source)

    dataset = DATASETS.get(config.data.dataset)
    data_updates = {
        "image_size": config.data.image_size or list(dataset.image_size),
        "channels": config.data.channels or dataset.channels,
        "validation_split": (
            dataset.validation_split
            if config.data.validation_split is None
            else config.data.validation_split
        ),
    }
    image_shape = (*data_updates["image_size"], data_updates["channels"])
    try:
        check_input_shape(config.model.name, image_shape, config.model.options)
        if config.model.options.get("weights"):
            pretrained.check_input(data_updates["channels"], config.augment.rescale)
        finetune.check_config(config)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return config.model_copy(update={"data": config.data.model_copy(update=data_updates)})


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a config file (or a shipped config by name), merge its bases, override, validate."""
    reference, path = path, find_config(path)
    data = read_with_bases(path)
    for assignment in overrides:
        data = apply_override(data, assignment)
    source = f"{reference}" + (" (with --set overrides)" if overrides else "")
    return resolve(data, source, default_name=path.stem)


def to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data, model options flattened beside `name`."""
    return config.model_dump(mode="json")


def to_yaml(config: Config) -> str:
    """The resolved config as YAML, in schema order."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
