"""The README is the user's manual: it must document every config key and the two commands."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import BaseModel

from cnnzoo.config.files import shipped_configs
from cnnzoo.config.schema import Config, load_config
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.mnist_sample import LICENSE_FILE, SAMPLE_FILE
from cnnzoo.models import MODELS

from .helpers import REPO

pytestmark = pytest.mark.fast

README = (REPO / "README.md").read_text(encoding="utf-8")


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and name != "model":
            keys += _keys(annotation, f"{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_config_key_is_documented() -> None:
    missing = [key for key in _keys(Config) if f"`{key.split('.')[-1]}`" not in README]
    assert not missing, f"README lacks config keys: {missing}"


def test_every_dataset_and_its_data_keys_are_documented() -> None:
    for name in DATASETS:
        assert f"`{name}`" in README, name
        for key in DATASETS.get(name).schema.accepted_keys():
            assert f"`{key}`" in README, f"data.{key} ({name})"


def test_every_model_and_its_options_are_documented() -> None:
    for name in MODELS:
        assert f"`{name}`" in README, name
        for option in MODELS.get(name).options:
            assert f"`{option}`" in README, f"{name}.{option}"


def test_the_two_commands_and_ci_agree() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    first = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert first == ["bash scripts/train.sh", "bash scripts/test.sh"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_the_configs_the_readme_trains_are_shipped() -> None:
    text = " ".join(README.split())
    named = re.findall(r"scripts/train\.sh configs/(\w+)\.yaml", text)
    named += re.findall(r"cnnzoo train -c (\w+)\b(?![/.])", text)  # by name, not a path
    assert "quickstart" in named and "mnist_lenet" in named
    assert set(named) <= set(shipped_configs()), set(named) - set(shipped_configs())


def test_the_quickstart_is_what_the_readme_says() -> None:
    config = load_config("quickstart")
    with np.load(SAMPLE_FILE, allow_pickle=False) as sample:
        num_train, num_test = len(sample["y_train"]), len(sample["y_test"])
    num_validation = round(num_train * config.data.validation_split)
    text = " ".join(README.split())
    claims = (
        "bash scripts/train.sh # set up .venv, train the offline quickstart "
        "(configs/quickstart.yaml)",
        f"trains the chapter's tutorial CNN for {config.train.epochs} epochs",
        f"dataset `{config.data.dataset}`: {num_train:,} training digits, {num_validation:,} of "
        f"them held out for validation, and {num_test:,} test digits",
        f"`{SAMPLE_FILE.relative_to(REPO).as_posix()}`, {SAMPLE_FILE.stat().st_size / 1e6:.1f} MB",
        f"`{LICENSE_FILE.relative_to(REPO).as_posix()}`",
    )
    for claim in claims:
        assert claim in text, claim
    assert config.model.name == "tutorial_cnn"
