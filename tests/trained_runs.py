"""Small real training runs, trained once per test session and shared by the evaluation tests.

Not a conftest: importing this module from several test files still trains each run once,
because the finished run folders are remembered here for the whole process. They are read-only:
conftest fails a test that changes one (`snapshot` here); tests that write take a private copy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.datasets.synthetic import make_class_folder, make_mnist_npz, make_monkeys_folder

_trained: dict[str, Path] = {}
_snapshots: dict[Path, dict[str, tuple[int, int]]] = {}


def root_of(run_dir: Path) -> Path:
    """The folder holding a trained run's data, config and `runs/<name>`."""
    return run_dir.parent.parent


def snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under the run's root (its data included)."""
    root = root_of(run_dir)
    files = (path for path in root.rglob("*") if path.is_file())
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def snapshots() -> dict[Path, dict[str, tuple[int, int]]]:
    """Each trained run and its files as trained (or as last accepted by `accept`)."""
    return dict(_snapshots)


def accept(run_dir: Path) -> None:
    """Take the run's current files as its state (after a test was failed for changing it)."""
    _snapshots[run_dir] = snapshot(run_dir)


def _trained_once(
    factory: pytest.TempPathFactory,
    key: str,
    name: str,
    data: Callable[[Path], dict],
    train: dict,
    **more: dict,
) -> Path:
    """Run `key`: a modern LeNet `cnnzoo train` fits on the `data:` that `data(root)` makes
    (`train:` and any other sections as given), trained the first time a test asks for it."""
    if key not in _trained:
        root = factory.mktemp(key)
        config = {
            "name": name,
            "output_dir": str(root / "runs"),
            "data": data(root),
            "model": {"name": "lenet", "variant": "modern"},
            "train": train,
            **more,
        }
        config_file = root / f"{name}.yaml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        run_dir = root / "runs" / name
        result = CliRunner().invoke(app, ["train", "-c", str(config_file), "-o", str(run_dir)])
        assert result.exit_code == 0, result.output
        accept(run_dir)
        _trained[key] = run_dir
    return _trained[key]


def mnist_run(factory: pytest.TempPathFactory) -> Path:
    """A LeNet trained for 3 short epochs on generated MNIST (600 train, 200 test images)."""

    def data(root: Path) -> dict:
        path = make_mnist_npz(root / "mnist.npz", num_train=600, num_test=200)
        return {"dataset": "mnist", "path": str(path)}

    train = {"epochs": 3, "batch_size": 32, "learning_rate": 0.003}
    # The export tests compare float32 exports with this model at 1e-5; `auto` would train in
    # mixed_bfloat16 on CPUs with native bf16.
    hardware = {"precision": "float32"}
    return _trained_once(factory, "mnist", "mnist_lenet", data, train, hardware=hardware)


def monkeys_run(factory: pytest.TempPathFactory) -> Path:
    """A LeNet trained for 2 epochs on a generated 10 Monkey Species folder at 32x32."""

    def data(root: Path) -> dict:
        path = make_monkeys_folder(root / "monkeys", train_per_class=6, val_per_class=3)
        return {"dataset": "monkeys", "path": str(path), "image_size": [32, 32]}

    train = {"epochs": 2, "batch_size": 16, "learning_rate": 0.003}
    return _trained_once(factory, "monkeys", "monkeys_lenet", data, train)


def directory_run(factory: pytest.TempPathFactory) -> Path:
    """A LeNet trained for 1 epoch on a generated folder of three classes: cat, dog, fox."""

    def data(root: Path) -> dict:
        path = make_class_folder(root / "animals", ["cat", "dog", "fox"], 6, size=(32, 32))
        return {"dataset": "directory", "path": str(path), "image_size": [32, 32]}

    return _trained_once(
        factory, "directory", "animals_lenet", data, {"epochs": 1, "batch_size": 8}
    )
