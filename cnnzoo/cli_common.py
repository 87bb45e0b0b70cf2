"""What the `cnnzoo` command modules share: option types, the choice enums, the TensorFlow loader.

The enums let Typer refuse a bad `--format`, `--split` or `--sort` (exit 2) before any library
module, let alone TensorFlow, is imported; `tests/test_cli.py` checks they match the libraries'.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


class PlotFormat(str, Enum):
    """`cnnzoo plot --format` (plots.PLOT_FORMATS)."""

    png = "png"
    svg = "svg"


class TableFormat(str, Enum):
    """`cnnzoo compare --format` (tables.FORMATS)."""

    table = "table"
    markdown = "markdown"
    csv = "csv"


class ExportFormat(str, Enum):
    """`cnnzoo export --format` (export.EXPORT_FORMATS)."""

    savedmodel = "savedmodel"
    tflite = "tflite"
    onnx = "onnx"


class Split(str, Enum):
    """`cnnzoo evaluate --split` (runs.SPLITS)."""

    test = "test"
    validation = "validation"
    train = "train"


class SortColumn(str, Enum):
    """`cnnzoo compare --sort`: a leaderboard column key (compare.COLUMNS)."""

    run = "run"
    model = "model"
    dataset = "dataset"
    parameters = "parameters"
    multiply_adds = "multiply_adds"
    best_val_accuracy = "best_val_accuracy"
    best_epoch = "best_epoch"
    test_accuracy = "test_accuracy"
    epochs = "epochs"
    seconds_per_epoch = "seconds_per_epoch"
    images_per_second = "images_per_second"


ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="YAML config file, or a shipped config's name.", show_default=False
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value, e.g. train.epochs=5 (repeatable)."),
]
RunArgument = Annotated[Path, typer.Argument(help="Run folder written by `cnnzoo train`.")]
RunsArgument = Annotated[list[Path], typer.Argument(help="Run folders written by `cnnzoo train`.")]


def needs_tensorflow(command: Callable[..., None]) -> Callable[..., None]:
    """Import TensorFlow before `command` runs, dropping its native start-up lines from stderr.

    (`train` and `download` filter around their own imports, so their progress is never held back.)
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from cnnzoo.native_logs import filtered_stderr, quiet_native_logs

        with quiet_native_logs():
            import tensorflow as tf

            tf.config.list_physical_devices()
        with filtered_stderr():
            command(*args, **kwargs)

    return run
