"""Shared fixtures: a CLI runner that behaves like a user's shell, and small generated datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.data.synthetic import make_mnist_npz

from .trained_runs import mnist_run, monkeys_run


@pytest.fixture(scope="session")
def mnist_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small mnist.npz-format file: 600 training and 100 test digits-like images."""
    return make_mnist_npz(tmp_path_factory.mktemp("mnist") / "mnist.npz")


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's download cache."""
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path / "data-home"))


@pytest.fixture(scope="session")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a LeNet trained once per session on generated MNIST."""
    return mnist_run(tmp_path_factory)


@pytest.fixture(scope="session")
def monkeys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a model trained once per session on a generated monkeys folder."""
    return monkeys_run(tmp_path_factory)
