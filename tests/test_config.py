"""Config loading: defaults, bases, overrides and the messages bad configs get."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from cnnzoo.config.files import SHIPPED_DIR, description, shipped_configs
from cnnzoo.config.schema import Config, load_config, to_dict, validate
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.models import MODELS
from cnnzoo.utils.errors import ConfigError

from .helpers import CONFIGS, REPO, run_cli

pytestmark = pytest.mark.fast


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("config_path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate_and_round_trip(config_path: Path, tmp_path: Path) -> None:
    config = load_config(config_path)
    assert config.name == config_path.stem
    # The resolved config saved with a run loads back to the same config.
    saved = write(tmp_path / "saved.yaml", yaml.safe_dump(to_dict(config)))
    assert load_config(saved).model_copy(update={"name": config.name}) == config


def test_defaults_are_filled_from_dataset_and_model(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.yaml", "model: {name: lenet}\n"))
    assert config.data.image_size == [28, 28]
    assert config.data.channels == 1
    assert config.data.validation_split == 0.1
    assert config.model.options == {"variant": "classic"}
    assert config.image_shape == (28, 28, 1)


def test_extends_merges_sections_and_child_wins(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "seed: 7\ntrain: {epochs: 3, batch_size: 32}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ntrain: {epochs: 5}\n")
    config = load_config(child)
    assert (config.seed, config.train.epochs, config.train.batch_size) == (7, 5, 32)


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_set_overrides_are_typed_by_the_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "train: {epochs: 3}\n")
    config = load_config(path, ["train.epochs=7", "augment.horizontal_flip=true", "seed=1"])
    assert (config.train.epochs, config.augment.horizontal_flip, config.seed) == (7, True, 1)
    with pytest.raises(ConfigError, match=r"train\.epochs: Input should be a valid integer"):
        load_config(path, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["train.epochs"])


BAD_CONFIGS = {
    "unknown key": (
        "train: {epocs: 3}\n",
        r'train\.epocs: unknown key "epocs"\. Did you mean "epochs"\?',
    ),
    "unknown section": ("trian: {epochs: 3}\n", r'unknown key "trian"\. Did you mean "train"\?'),
    "wrong type": (
        "train: {batch_size: '64'}\n",
        r"train\.batch_size: Input should be a valid integer",
    ),
    "bad value": (
        "train: {learning_rate: -0.1}\n",
        r"train\.learning_rate: Input should be greater than 0",
    ),
    "bad choice": ("hardware: {precision: fp16}\n", r"hardware\.precision: Input should be 'auto'"),
    "unknown model": ("model: {name: resnet}\n", r'Unknown model "resnet"'),
    "unknown dataset": (
        "data: {dataset: mnsit}\n",
        r'Unknown dataset "mnsit".*Did you mean "mnist"',
    ),
    "bad model option": ("model: {name: lenet, varient: modern}\n", r'Did you mean "variant"'),
    "malformed yaml": ("train: {epochs: 3\n", r"malformed YAML at line \d+, column \d+"),
    "not a mapping": ("- a\n- b\n", r"expected a mapping of sections"),
}


@pytest.mark.parametrize("text, message", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_exits_2_with_one_clear_line(text: str, message: str, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", text)
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert "Traceback" not in result.stderr
    assert re.search(message, lines[0]), lines[0]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("train", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: Config file not found: {tmp_path / 'nope.yaml'}"


def test_config_show_prints_the_resolved_config(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "model: {name: lenet}\n")
    result = run_cli("config", "show", str(path), "--set", "train.epochs=4")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["epochs"] == 4
    assert shown["model"] == {"name": "lenet", "variant": "classic"}
    assert shown["data"]["image_size"] == [28, 28]
    # Only the keys MNIST takes, with the plugin's defaults.
    assert shown["data"] == {
        "dataset": "mnist",
        "path": None,
        "image_size": [28, 28],
        "channels": 1,
        "cache": "auto",
        "bad_files": "skip",
        "data_dir": None,
        "download": False,
        "url": None,
        "sha256": None,
        "validation_split": 0.1,
    }


def test_config_show_prints_only_the_keys_of_the_dataset(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "data: {dataset: directory, path: photos, val_path: v}\n")
    result = run_cli("config", "show", str(path), "--set", "data.dataset=monkeys")
    assert result.returncode == 2
    assert 'unknown key "val_path" for dataset "monkeys"' in result.stderr
    result = run_cli("config", "show", str(path))
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)["data"]
    assert list(shown) == [
        "dataset",
        "path",
        "image_size",
        "channels",
        "cache",
        "bad_files",
        "val_path",
        "validation_split",
    ]
    assert (shown["path"], shown["image_size"], shown["validation_split"]) == (
        "photos",
        [128, 128],
        0.2,
    )


# A run folder's config.yaml as the first version wrote it (one flat `data:` for every dataset).
OLD_SAVED_DATA = {
    "mnist": "dataset: mnist\n  path: null\n  val_path: null\n  url: null\n  sha256: null\n"
    "  validation_split: 0.1\n",
    "monkeys": "dataset: monkeys\n  path: /m\n  val_path: null\n  url: null\n  sha256: null\n"
    "  validation_split: 0.0\n",
    "directory": "dataset: directory\n  path: /d\n  val_path: /v\n  url: null\n"
    "  sha256: null\n  validation_split: 0.2\n",
}


@pytest.mark.parametrize("dataset", OLD_SAVED_DATA)
def test_a_run_config_saved_by_the_first_version_still_loads(dataset: str, tmp_path: Path) -> None:
    saved = write(
        tmp_path / "config.yaml",
        f"name: old\ndata:\n  {OLD_SAVED_DATA[dataset]}  data_dir: null\n  download: false\n"
        "  image_size: [32, 32]\n  channels: 3\n  cache: auto\n  bad_files: skip\n",
    )
    config = load_config(saved, saved=True)
    assert (config.data.dataset, config.data.image_size, config.data.channels) == (
        dataset,
        [32, 32],
        3,
    )
    assert set(to_dict(config)["data"]) == {
        "dataset",
        *DATASETS.get(dataset).schema.accepted_keys(),
    }
    # The same keys in a config a user writes are errors: a run folder's file is the exception.
    with pytest.raises(ConfigError, match=f'unknown key "\\w+" for dataset "{dataset}"'):
        load_config(saved)


def test_every_error_of_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        "trian: {epochs: 3}\n"
        "data: {dataset: mnsit}\n"
        "model: {name: resnet}\n"
        "train: {batch_size: '64', optimizer: adamm}\n",
    )
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(f"error: {path}: ") for line in lines), lines
    expected = [
        r'trian: unknown key "trian"\. Did you mean "train"\?',
        r'data\.dataset: Unknown dataset "mnsit".*Did you mean "mnist"\? Received: \'mnsit\'',
        r'model\.name: Unknown model "resnet"\. Known: tutorial_cnn, .*Did you mean "resnet18"\?',
        r"train\.batch_size: Input should be a valid integer.* Received: '64'",
        r"train\.optimizer: Input should be 'adam'.* Did you mean \"adam\"\? Received: 'adamm'",
    ]
    assert len(lines) == len(expected), lines
    for pattern in expected:
        assert any(re.search(pattern, line) for line in lines), (pattern, lines)


def test_model_options_are_checked_with_the_other_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "model: {name: lenet, varient: modern}\nseed: many\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    seed, model = str(error.value).splitlines()  # in the schema's order
    assert 'model: unknown option "varient" for model "lenet". Did you mean "variant"?' in model
    assert "Known options: variant. Received: varient='modern'" in model
    assert "seed: Input should be a valid integer" in seed
    bad_choice = write(tmp_path / "choice.yaml", "model: {name: lenet, variant: modrn}\n")
    with pytest.raises(
        ConfigError, match=r"model\.variant: .*Did you mean \"modern\"\? Received: 'modrn'"
    ):
        load_config(bad_choice)


def test_model_name_defaults_to_lenet_and_options_to_the_schema(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.yaml", "model: {variant: modern}\n"))
    assert (config.model.name, config.model.options) == ("lenet", {"variant": "modern"})
    config = load_config(write(tmp_path / "d.yaml", "model: {name: resnet18}\n"))
    assert config.model.options == {"resize_to": None, "weights": None}


# ----- the configs shipped inside the package --------------------------------------------


def test_shipped_configs_are_the_repositorys(tmp_path: Path) -> None:
    assert sorted(shipped_configs()) == sorted(path.stem for path in CONFIGS)
    for name, path in shipped_configs().items():
        assert path.parent == SHIPPED_DIR and (REPO / "configs" / f"{name}.yaml").is_file()
        assert description(path).endswith(".") and len(description(path)) < 90, name


def test_a_shipped_config_loads_by_name_from_any_folder(tmp_path: Path) -> None:
    result = run_cli("config", "validate", "mnist_lenet", "monkeys_tutorial.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["mnist_lenet: ok", "monkeys_tutorial.yaml: ok"]
    config = load_config("mnist_lenet_modern", ["train.epochs=2"])  # extends mnist_lenet.yaml
    assert (config.name, config.model.options, config.train.epochs) == (
        "mnist_lenet_modern",
        {"variant": "modern"},
        2,
    )
    assert config.train.batch_size == load_config("mnist_lenet").train.batch_size == 128


def test_a_file_in_the_folder_wins_over_a_shipped_name(tmp_path: Path) -> None:
    write(tmp_path / "mnist_lenet", "seed: 3\n")
    result = run_cli("config", "show", "mnist_lenet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["seed"] == 3


def test_a_user_config_extends_a_shipped_one_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "extends: mnist_alexnet\ntrain: {epochs: 1}\n")
    config = load_config(path)
    assert (config.name, config.model.name, config.train.epochs) == ("mine", "alexnet", 1)
    assert config.train.learning_rate == 0.01


def test_an_unknown_config_name_gives_one_line_with_did_you_mean(tmp_path: Path) -> None:
    result = run_cli("train", "-c", "mnist_lenett", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'error: No config file or shipped config named "mnist_lenett". Did you mean '
        '"mnist_lenet"? `cnnzoo config list` shows the shipped ones.'
    )
    result = run_cli("config", "validate", "configs/mnist_lenett.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'error: Config file not found: configs/mnist_lenett.yaml. Did you mean "mnist_lenet"?'
    )
    path = write(tmp_path / "child.yaml", "extends: nothere.yaml\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: extends: Config file not found: .*"):
        load_config(path)


def test_config_list_names_and_describes_every_shipped_config() -> None:
    result = run_cli("config", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(shipped_configs())
    assert any(
        line.split(None, 1)[1] == "The chapter's LeNet-5 on MNIST: sigmoid, average pooling "
        "(Dive into Deep Learning's)."
        for line in lines
        if line.startswith("mnist_lenet ")
    )


def test_config_show_source_prints_the_shipped_file_to_start_from(tmp_path: Path) -> None:
    result = run_cli("config", "show", "monkeys_tutorial", "--source", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (SHIPPED_DIR / "monkeys_tutorial.yaml").read_text(encoding="utf-8")
    # Saved as a new file, it is a valid config of its own.
    copy = write(tmp_path / "my_monkeys.yaml", result.stdout)
    assert load_config(copy).model_copy(update={"name": "x"}) == load_config(
        "monkeys_tutorial"
    ).model_copy(update={"name": "x"})


# ----- every number of the schema: finite, and counts bounded ----------------------------


def _kinds(annotation: Any) -> set[type]:
    """The number types (int, float) an annotation takes, however nested (lists, unions)."""
    if annotation in (int, float):
        return {annotation}
    return set().union(*map(_kinds, get_args(annotation)))


def _number_keys() -> list[tuple[dict[str, Any], str, set[type]]]:
    """(base config data, dotted key, number types) for every number field of every section,
    every dataset's `data:` and every model's options."""
    found = []

    def walk(schema: type[BaseModel], base: dict[str, Any], prefix: str) -> None:
        for key, field in schema.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, base, f"{prefix}{key}.")
            elif kinds := _kinds(annotation):
                found.append((base, f"{prefix}{key}", kinds))

    walk(Config, {}, "")
    for name in DATASETS:
        schema = DATASETS.get(name).schema
        required = {key: "x" for key, field in schema.model_fields.items() if field.is_required()}
        walk(schema, {"data": {"dataset": name, **required}}, "data.")
    for name in MODELS:
        walk(MODELS.get(name).schema, {"model": {"name": name}}, "model.")
    return [case for case in found if case[1] not in ("data", "model")]


NUMBER_KEYS = _number_keys()
FLOATS = [case for case in NUMBER_KEYS if float in case[2]]
COUNTS = [case for case in NUMBER_KEYS if int in case[2]]


def _id(case: tuple[dict[str, Any], str, set[type]]) -> str:
    base, key, _ = case
    plugin = base.get("data", {}).get("dataset") or base.get("model", {}).get("name")
    return f"{key}[{plugin}]" if plugin else key


def _set(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    section, _, leaf = key.rpartition(".")
    if not section:
        return {**data, leaf: value}
    return {**data, section: {**data.get(section, {}), leaf: value}}


@pytest.mark.parametrize("base, key, kinds", FLOATS, ids=map(_id, FLOATS))
def test_every_float_of_the_schema_refuses_inf_and_nan(base, key: str, kinds) -> None:
    for bad in (math.inf, -math.inf, math.nan):
        messages = []
        for value in (bad, [1.0, bad]):  # a number, or a [low, high] pair
            with pytest.raises(ConfigError) as refused:
                validate(_set(base, key, value), "c.yaml")
            messages.append(str(refused.value))
        assert any(f"{key}" in m and "finite number" in m for m in messages), messages


@pytest.mark.parametrize("base, key, kinds", COUNTS, ids=map(_id, COUNTS))
def test_every_count_of_the_schema_has_an_upper_bound(base, key: str, kinds) -> None:
    # 10**20 overflows int64: unbounded, it would pass and fail deep inside TensorFlow.
    for value in (10**20, [10**20, 10**20]):
        with pytest.raises(ConfigError, match=re.escape(key)):
            validate(_set(base, key, value), "c.yaml")


@pytest.mark.parametrize(
    ("data", "has_validation"),
    [
        ({"dataset": "mnist"}, True),
        ({"dataset": "mnist", "validation_split": 0.0}, False),
        ({"dataset": "directory", "path": "p", "validation_split": 0.0}, False),
        ({"dataset": "directory", "path": "p", "validation_split": 0.0, "val_path": "v"}, True),
        ({"dataset": "monkeys"}, True),  # Kaggle's validation folder
        ({"dataset": "archive", "url": "u", "sha256": "s", "validation_split": 0.0}, True),
    ],
)
def test_whether_a_config_gives_validation_images(data: dict, has_validation: bool) -> None:
    # What `cnnzoo sweep` checks before any trial: an archive may bring a validation/ folder.
    assert validate({"data": data}, "c.yaml").data.has_validation() is has_validation
