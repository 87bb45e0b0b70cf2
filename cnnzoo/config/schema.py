"""YAML configs loaded into typed, frozen, strictly validated objects (no TensorFlow import).

A config file is data (`cnnzoo.config.files` reads it, its `extends:` bases and `--set a.b=value`
overrides); this module is its schema. `model:` is a union of the model plugins' option schemas
keyed on `name`, `data:` a union of the dataset plugins' schemas keyed on `dataset`. Every bad
key of a file is reported at once, each on its own line naming the file, the key path, what was
expected, what was received and, for misspellings, the closest key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from cnnzoo.config.files import apply_override, find_config, read_with_bases
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.schema import STRICT, DataConfig, UserPath  # noqa: F401 (DataConfig re-exported)
from cnnzoo.models import MODELS, ModelOptions, check_input_shape, pretrained
from cnnzoo.utils.errors import ConfigError
from cnnzoo.utils.registry import did_you_mean


class Section(BaseModel):
    """Base for config sections: unknown keys, loose types and non-finite numbers are errors;
    values are frozen."""

    model_config = STRICT


# The `data:` section: a union of the registered datasets' schemas, keyed on `dataset`.
DataSection = Annotated[
    Union[tuple(DATASETS.get(name).schema for name in DATASETS)],  # noqa: UP007 (built at run time)
    Field(discriminator="dataset"),
]
DEFAULT_DATASET = "mnist"


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


# Upper bounds on counts, so that a typo is one line here and not an overflow or out-of-memory
# error deep inside TensorFlow. Epochs (and every count of epochs): the longest published CNN
# schedules run a few thousand epochs; a hundred thousand is a slip of the keyboard.
MAX_EPOCHS = 100_000
# The largest batches trained (Goyal et al. 2017: 8k images; LARS on TPU pods: 64k).
MAX_BATCH_SIZE = 65_536
# ImageNet at batch size 1 is 1.3 million steps; epochs x steps stays far inside int64.
MAX_STEPS_PER_EPOCH = 10_000_000
Epochs = Annotated[int, Field(ge=1, le=MAX_EPOCHS)]


class TrainConfig(Section):
    """Optimisation settings."""

    epochs: Epochs = 10
    batch_size: int = Field(default=64, ge=1, le=MAX_BATCH_SIZE)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(default=0.001, gt=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    warmup_epochs: int = Field(default=0, ge=0, le=MAX_EPOCHS)
    step_epochs: Epochs = 10
    decay_factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    plateau_patience: Epochs = 3
    min_learning_rate: float = Field(default=0.0, ge=0.0)
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    loss: Literal["categorical_crossentropy"] = "categorical_crossentropy"
    metrics: list[Literal["accuracy", "top5_accuracy"]] = ["accuracy"]
    early_stopping_patience: Epochs | None = None
    steps_per_epoch: int | None = Field(default=None, ge=1, le=MAX_STEPS_PER_EPOCH)
    tensorboard: bool = False
    # Fine-tuning (cnnzoo/engine/finetune.py): an earlier run folder to start from, epochs that
    # train only the classifier, the rate after them and batch norm frozen (defaults: a tenth
    # and yes with model.weights, as keras.io's guide; the same rate and no with init_from, as
    # measured in docs/finetuning.md).
    init_from: UserPath | None = None
    freeze_epochs: int = Field(default=0, ge=0, le=MAX_EPOCHS)
    finetune_learning_rate: float | None = Field(default=None, gt=0.0)
    freeze_batch_norm: bool | None = None
    # Inference-mode batch-norm statistics: re-estimated from training images at each epoch end
    # (cnnzoo/engine/batch_norm_stats.py) or Keras' moving average alone; the weights train
    # the same.
    batch_norm_stats: Literal["reestimate", "running"] = "reestimate"
    # Training images (a seeded sample, fixed across epochs) those statistics are re-estimated
    # from; the default is measured against statistics from the whole split in docs/benchmarks.md.
    batch_norm_images: int = Field(default=512, ge=1, le=MAX_BATCH_SIZE)
    # Training steps Keras runs per call into TensorFlow (docs/benchmarks.md measures it); per-batch
    # callbacks and the progress bar see every N-th step; the steps themselves are the same.
    steps_per_execution: int = Field(default=1, ge=1, le=MAX_STEPS_PER_EPOCH)
    # A run that is not learning (cnnzoo/engine/health.py): say so, or say so and stop.
    on_collapse: Literal["warn", "stop"] = "warn"


class HardwareConfig(Section):
    """Devices, precision and distribution."""

    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    xla: Literal["auto", "on", "off"] = "auto"
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    gpus: list[Annotated[int, Field(ge=0, le=255)]] | None = None  # the largest hosts have 16
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
    seed: int = Field(default=42, ge=0, le=2**32 - 1)  # what NumPy's and Keras' seeding accept
    output_dir: UserPath = "runs"
    data: DataSection = Field(default_factory=lambda: DATASETS.get(DEFAULT_DATASET).schema())
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = Field(default_factory=lambda: MODELS.get(DEFAULT_MODEL).schema())
    train: TrainConfig = TrainConfig()
    hardware: HardwareConfig = HardwareConfig()

    @field_validator("model", mode="before")
    @classmethod
    def _default_model_name(cls, model: Any) -> Any:
        # `name` may be left out, as every other key: it defaults to lenet.
        return {"name": DEFAULT_MODEL, **model} if isinstance(model, dict) else model

    @field_validator("data", mode="before")
    @classmethod
    def _default_dataset(cls, data: Any) -> Any:
        # `dataset` may be left out too: it defaults to mnist.
        return {"dataset": DEFAULT_DATASET, **data} if isinstance(data, dict) else data

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images fed to the model."""
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
    if loc[:1] == ["data"] and len(loc) > 1 and loc[1] in DATASETS:
        return _describe_data_error(error, loc[1], ["data", *loc[2:]])
    path = ".".join(loc)
    kind, value = error["type"], error.get("input")
    if kind == "union_tag_invalid":
        registry, tag = (DATASETS, "dataset") if loc == ["data"] else (MODELS, "name")
        try:
            registry.get(str(error["ctx"]["tag"]))
        except ConfigError as unknown:
            received = f" Received: {error['ctx']['tag']!r}"
            return f"{path}.{tag}", f"{path}.{tag}: {unknown}{received}"
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


def _describe_data_error(error: dict[str, Any], name: str, loc: list[str]) -> tuple[str, str]:
    """(key path, one-line description) of an error inside dataset `name`'s `data:` schema."""
    schema = DATASETS.get(name).schema
    path, key = ".".join(loc), loc[-1]
    if error["type"] == "extra_forbidden":
        known = schema.accepted_keys()
        return path, (
            f'data: unknown key "{key}" for dataset "{name}".'
            + did_you_mean(key, known)
            + f" Keys it takes: {', '.join(known)}. Received: {key}={error.get('input')!r}"
        )
    if error["type"] == "missing":
        field = schema.model_fields[key]
        return path, (
            f"{path}: the {name} dataset needs this key: {field.description}. Received: nothing"
        )
    return _describe_error({**error, "loc": tuple(loc)})


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
        described: dict[str, str] = {}  # one line per key path: a union's first branch
        for path, line in map(_describe_error, error.errors()):
            described.setdefault(path, line)
        # A union's branches may also fail at different depths ("not a number" for the whole
        # list, "not finite" for its item 1): keep the deepest.
        described = {
            path: line
            for path, line in described.items()
            if not any(other.startswith(f"{path}.") for other in described)
        }
        raise ConfigError("\n".join(f"{source}: {line}" for line in described.values())) from None


def model_options(name: str, options: dict[str, Any], source: str = "model") -> ModelOptions:
    """Validate a model's options exactly as a config's `model:` section is validated."""
    return validate({"model": {"name": name, **options}}, source).model


def starts_from_weights(config: Config) -> bool:
    """Whether the run starts from pretrained weights or an earlier run's weights."""
    return bool(config.model.options.get("weights") or config.train.init_from)


def _check_finetune(config: Config) -> None:
    """Raise a ConfigError for fine-tuning settings that cannot work together."""
    train = config.train
    if train.freeze_epochs and not starts_from_weights(config):
        raise ConfigError(
            f"train.freeze_epochs: freezing the backbone only makes sense when it starts from "
            f"weights: set model.weights (e.g. imagenet) or train.init_from (an earlier run "
            f"folder), or set train.freeze_epochs to 0. Received: {train.freeze_epochs}"
        )
    if train.freeze_epochs and train.warmup_epochs > train.freeze_epochs:
        raise ConfigError(
            f"train.warmup_epochs: the warm-up belongs to the head phase, so it must be at most "
            f"train.freeze_epochs ({train.freeze_epochs}); the fine-tune phase starts at "
            f"train.finetune_learning_rate. Received: {train.warmup_epochs}"
        )
    if train.freeze_epochs > train.epochs:
        raise ConfigError(
            f"train.freeze_epochs: must be at most train.epochs ({train.epochs}). "
            f"Received: {train.freeze_epochs}"
        )


def resolve(data: dict[str, Any], source: str, default_name: str = "run") -> Config:
    """Validate a raw mapping into a complete Config (defaults from the dataset and model plugins)
    and check that the model takes the dataset's images."""
    data = dict(data)
    data.setdefault("name", default_name)
    config = validate(data, source)

    try:
        check_input_shape(config.model.name, config.image_shape, config.model.options)
        if config.model.options.get("weights"):
            pretrained.check_input(config.data.channels, config.augment.rescale)
        _check_finetune(config)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return config


def load_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, saved: bool = False
) -> Config:
    """Load a config file (or a shipped config by name), merge its bases, override, validate.

    `saved`: the file is a run folder's config.yaml, perhaps written by an earlier cnnzoo whose
    single `data:` schema saved every dataset's keys (an MNIST run saved `val_path: null`). Those
    keys had no effect on the run, so they are dropped rather than refused.
    """
    reference, path = path, find_config(path)
    data = read_with_bases(path)
    if saved:
        data = _without_foreign_data_keys(data)
    for assignment in overrides:
        data = apply_override(data, assignment)
    return resolve(data, source_name(reference, overrides), default_name=path.stem)


def source_name(reference: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """How errors name a config: 'FILE', or 'FILE (with --set overrides)'."""
    return f"{reference}" + (" (with --set overrides)" if overrides else "")


def _without_foreign_data_keys(data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("data")
    if not isinstance(section, dict) or section.get("dataset", DEFAULT_DATASET) not in DATASETS:
        return data
    taken = DATASETS.get(section.get("dataset", DEFAULT_DATASET)).schema.model_fields
    return {**data, "data": {key: value for key, value in section.items() if key in taken}}


def to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data, model options flattened beside `name`."""
    return config.model_dump(mode="json")


def to_yaml(config: Config) -> str:
    """The resolved config as YAML, in schema order."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
