"""Finding dataset files on disk (downloads arrive with the datasets issue)."""

from __future__ import annotations

from pathlib import Path

from cnnzoo.config import DataConfig
from cnnzoo.data.catalog import data_home
from cnnzoo.errors import CnnzooError


def mnist_file(data: DataConfig) -> Path:
    """The `mnist.npz` to read: `data.path`, else the cached download."""
    if data.path:
        path = Path(data.path).expanduser()
        if not path.is_file():
            raise CnnzooError(
                f"data.path: no MNIST file at {path}. Point it at an mnist.npz-format file "
                "(keys x_train, y_train, x_test, y_test)."
            )
        return path
    path = data_home(data.data_dir) / "mnist.npz"
    if not path.is_file():
        raise CnnzooError(
            f"MNIST is not downloaded (looked for {path}). Run `cnnzoo download mnist`, or set "
            "data.path to a local mnist.npz-format file."
        )
    return path


def monkeys_root(data: DataConfig) -> Path:
    """The extracted 10 Monkey Species folder (`training/training`, `validation/validation`,
    `monkey_labels.txt`): `data.path` (a folder or the Kaggle zip), else the cached download."""
    raise CnnzooError("The monkeys dataset arrives with the datasets issue.")


def read_monkey_labels(root: Path) -> dict[str, str]:
    """Map class folder names (n0..n9) to common names from `monkey_labels.txt`."""
    raise CnnzooError("The monkeys dataset arrives with the datasets issue.")
