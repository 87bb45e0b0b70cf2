"""YAML configs loaded into typed, frozen, strictly validated objects (no TensorFlow import).

A config file is data. It may `extends:` a base file (paths relative to the file), and
`--set a.b=value` overrides are parsed as YAML scalars and validated by the same schema. Every
error names the file, the key path, what was expected and, for misspellings, the closest key.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cnnzoo import finetune, pretrained
from cnnzoo.data.catalog import DATASETS
from cnnzoo.errors import ConfigError
from cnnzoo.models import MODELS, check_input_shape
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
        DATASETS.get(name)  # raises ConfigError with the known names
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


class ModelConfig(Section):
    """`name` plus the builder's keyword options, checked against the model registry."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    name: str = "lenet"

    @property
    def options(self) -> dict[str, Any]:
        """The builder options (everything but `name`)."""
        return dict(self.model_extra or {})


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
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    hardware: HardwareConfig = HardwareConfig()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images fed to the model."""
        assert self.data.image_size is not None and self.data.channels is not None, "unresolved"
        return (*self.data.image_size, self.data.channels)  # type: ignore[return-value]


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into ConfigErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"Cannot read config file {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"Config files extend each other in a cycle: {chain}")
    data = read_yaml(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: extends: expected a file path, got {base_name!r}")
    return _merge(_read_with_bases(path.parent / base_name, (*seen, path)), data)


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one `a.b=value` override; the value is parsed as a YAML scalar or list."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, e.g. train.epochs=5. Received: {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    result = copy.deepcopy(data)
    node = result
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value
    return result


def _describe_error(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    # Drop pydantic's union-branch markers such as "float" or "list[float]".
    loc = [part for part in loc if "[" not in part and part not in {"float", "int", "str"}]
    path = ".".join(loc)
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        fields = _fields_at(loc[:-1])
        return (
            f'{path}: unknown key "{loc[-1]}".'
            + did_you_mean(loc[-1], fields)
            + (f" Known keys: {', '.join(fields)}." if fields else "")
        )
    message = error["msg"]
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    return f"{path}: {message}. Received: {value!r}"


def _fields_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _check_model_options(model: ModelConfig) -> None:
    spec = MODELS.get(model.name)
    for key, value in model.options.items():
        if key == "weights":
            pretrained.check_weights(model.name, value)
            continue
        if key not in spec.options:
            known = ", ".join(spec.options) or "none"
            raise ConfigError(
                f'model: unknown option "{key}" for model "{model.name}".'
                + did_you_mean(key, list(spec.options))
                + f" Known options: {known}."
            )
        default = spec.options[key]
        expected = type(default)
        numeric = expected is float and isinstance(value, int) and not isinstance(value, bool)
        if default is not None and not isinstance(value, expected) and not numeric:
            raise ConfigError(
                f"model.{key}: expected {expected.__name__} (default {default!r}). "
                f"Received: {value!r}"
            )
        if key in spec.choices and value not in spec.choices[key]:
            choices = ", ".join(repr(c) for c in spec.choices[key])
            raise ConfigError(
                f"model.{key}: expected one of {choices}. Received: {value!r}"
                + did_you_mean(str(value), [str(c) for c in spec.choices[key]])
            )


def resolve(data: dict[str, Any], source: str, default_name: str = "run") -> Config:
    """Validate a raw mapping and fill dataset and model defaults into a complete Config."""
    data = dict(data)
    data.setdefault("name", default_name)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        lines = [f"{source}: {_describe_error(e)}" for e in error.errors()]
        raise ConfigError("\n".join(lines)) from None
    except ConfigError as error:
        raise ConfigError(f"{source}: data.dataset: {error}") from None
    try:
        _check_model_options(config.model)
        finetune.check_config(config)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None

    dataset = DATASETS.get(config.data.dataset)
    spec = MODELS.get(config.model.name)
    data_updates = {
        "image_size": config.data.image_size or list(dataset.image_size),
        "channels": config.data.channels or dataset.channels,
        "validation_split": (
            dataset.validation_split
            if config.data.validation_split is None
            else config.data.validation_split
        ),
    }
    model = ModelConfig.model_validate({"name": spec.name, **spec.options, **config.model.options})
    try:
        check_input_shape(
            spec.name, (*data_updates["image_size"], data_updates["channels"]), model.options
        )
        if model.options.get("weights"):
            pretrained.check_input(data_updates["channels"], config.augment.rescale)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return config.model_copy(
        update={"data": config.data.model_copy(update=data_updates), "model": model}
    )


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load, merge, override and validate a config file."""
    path = Path(path)
    data = _read_with_bases(path)
    for assignment in overrides:
        data = apply_override(data, assignment)
    source = f"{path}" + (" (with --set overrides)" if overrides else "")
    return resolve(data, source, default_name=path.stem)


def to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data, model options flattened beside `name`."""
    return config.model_dump(mode="json")


def to_yaml(config: Config) -> str:
    """The resolved config as YAML, in schema order."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
