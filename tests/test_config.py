"""Config loading: defaults, bases, overrides and the messages bad configs get."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cnnzoo.config import load_config, to_dict
from cnnzoo.errors import ConfigError

from .helpers import CONFIGS, run_cli

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
    import re

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
