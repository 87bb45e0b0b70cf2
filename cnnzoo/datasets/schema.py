"""What a dataset plugin declares beside its behaviour: its typed `data:` schema (no TensorFlow).

Every plugin module defines a schema subclassing `DataConfig` (the keys all datasets take) with
its own keys and defaults, and `dataset: Literal["<name>"]`, so that configs validate as a union
keyed on `dataset` exactly as `model:` is keyed on `name`. A key a dataset does not take is an
error, a key it needs is required, and its defaults (image size, channels, validation split) are
the plugin's. `DatasetDefaults` reads those defaults back for the plugin object itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cnnzoo.utils.errors import ConfigError
from cnnzoo.utils.schema import MAX_IMAGE_SIDE, STRICT, UserPath  # noqa: F401 (UserPath re-exported)

if TYPE_CHECKING:
    from pathlib import Path

    from cnnzoo.datasets.fetch import Fetched

ImageSize = Annotated[list[int], Field(min_length=2, max_length=2)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class DataConfig(BaseModel):
    """The keys every dataset takes: which dataset, a local copy, image size and caching."""

    model_config = STRICT
    # Whether the dataset's files may bring validation images of their own beside its holdout
    # keys (an archive's validation/ folder); else only `val_path` or `validation_split` do.
    own_validation: ClassVar[bool] = False

    dataset: str
    path: UserPath | None = None
    image_size: ImageSize = [128, 128]
    channels: Literal[1, 3] = 3
    cache: Literal["auto", "memory", "disk", "none"] = "auto"
    bad_files: Literal["skip", "error"] = "skip"

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # `image_size: null` (as configs of the first version wrote) asks for the dataset's own.
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: value
            for key, value in data.items()
            if value is not None or key not in fields or fields[key].default is None
        }

    @field_validator("image_size")
    @classmethod
    def _size_in_range(cls, size: list[int]) -> list[int]:
        if min(size) < 1 or max(size) > MAX_IMAGE_SIDE:
            raise ValueError(
                f"image_size must be two integers [height, width] from 1 to {MAX_IMAGE_SIDE}"
            )
        return size

    @classmethod
    def accepted_keys(cls) -> list[str]:
        """The keys this dataset takes besides `dataset`, in schema order."""
        return [key for key in cls.model_fields if key != "dataset"]

    def has_validation(self) -> bool:
        """Whether a run may get validation images (False: it surely has none): a dataset
        without holdout keys has its own (the monkeys' folder), else `val_path`, a holdout above
        0, or files that may bring their own (`own_validation`)."""
        holdout = getattr(self, "validation_split", None)
        return (
            self.own_validation
            or holdout is None
            or holdout > 0
            or bool(getattr(self, "val_path", None))
        )


class DownloadableData(DataConfig):
    """A dataset fetched into the download cache (`cnnzoo download`, `data.download`)."""

    data_dir: UserPath | None = None
    download: bool = False


class DatasetDefaults:
    """A plugin's defaults and capabilities, read from its schema so they are declared once."""

    summary: str
    schema: type[DataConfig]
    # What `cnnzoo evaluate` reads by default; a dataset with a test split of its own says "test".
    evaluation_split: str = "validation"

    @property
    def name(self) -> str:
        """The registry key: the schema's `dataset: Literal["<name>"]` default."""
        return self._default("dataset")

    def _default(self, key: str) -> Any:
        field = self.schema.model_fields.get(key)
        return field.default if field is not None else None

    @property
    def image_size(self) -> tuple[int, int]:
        """Default [height, width] images are resized to."""
        return tuple(self._default("image_size"))  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        """Default number of channels (1 grey, 3 RGB)."""
        return self._default("channels")

    @property
    def validation_split(self) -> float:
        """Default fraction of training images held out (0 when the dataset has its own split)."""
        return self._default("validation_split") or 0.0

    @property
    def downloadable(self) -> bool:
        """Whether `cnnzoo download NAME` and `data.download` apply."""
        return issubclass(self.schema, DownloadableData)

    @property
    def takes_url(self) -> bool:
        """Whether `data.url` / `data.sha256` (`--url`, `--sha256`) apply."""
        return "url" in self.schema.model_fields

    def fetch(self, data: DataConfig, *, force: bool = False, progress: bool = True) -> Fetched:
        """Refuse: a plugin that is not `downloadable` reads files that are already there."""
        raise ConfigError(f'Dataset "{self.name}" has nothing to download. {self.summary}.')

    def with_data_path(self, data: DataConfig, path: Path) -> DataConfig:
        """`data` reading `path` instead; where the schema takes `val_path`, every image under
        `path` is held out (it becomes the validation and test folder)."""
        keys = [key for key in ("path", "val_path") if key in self.schema.model_fields]
        return data.model_copy(update=dict.fromkeys(keys, str(path)))

    def unchecked(self, **values: Any) -> DataConfig:
        """This dataset's `data:` with `values`, required keys left None: for `cnnzoo download`,
        whose fetch names a missing key in terms of its own command-line options."""
        fields = self.schema.model_fields
        required = {key: None for key, field in fields.items() if field.is_required()}
        return self.schema.model_construct(**{**required, "dataset": self.name, **values})
