"""Real data for accuracy tests: scikit-learn's 1,797 digits (scripts/make_digits.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from .helpers import REPO

sys.path.insert(0, str(REPO / "scripts"))
from make_digits import main as make_digits  # noqa: E402


def write_digits(folder: Path, *args: str) -> Path:
    """scikit-learn's digits as an mnist.npz file (1,347 train, 450 test, 28x28), or as `args`."""
    path = folder / ("digits.npz" if not args else "digits")
    assert make_digits([*(args[:1] or ["npz"]), str(path), *args[1:]]) == 0
    return path


def with_model(config: Path, model: dict[str, Any]) -> Path:
    """Replace the `model:` section of a config file written by `tiny_config`."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump({**data, "model": model}), encoding="utf-8")
    return config
