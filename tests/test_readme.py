"""The README is the user's manual: it must document every config key and the two commands."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from cnnzoo.config import Config
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
