"""The command line as a user meets it: help, version, imports, and one real training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnzoo import __version__

from .helpers import REPO, python_prints, run_cli

# What a new interpreter imports before a test's code: the CLI and Typer's runner, no command.
CLI = "import sys\nfrom typer.testing import CliRunner\nfrom cnnzoo.cli.app import app\n"


@pytest.mark.fast
def test_help_and_config_validate_do_not_import_tensorflow() -> None:
    code = (
        "runner = CliRunner()\n"
        "assert runner.invoke(app, ['--help']).exit_code == 0\n"
        "r = runner.invoke(app, ['config', 'validate', 'configs/mnist_lenet.yaml'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    assert python_prints(CLI + code) == ["False", "False"]


@pytest.mark.fast
def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cnnzoo {__version__}"


@pytest.mark.fast
def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "config"):
        assert command in result.stdout


def test_train_lenet_on_mnist_writes_a_complete_run_folder(mnist_npz: Path, tmp_path: Path) -> None:
    result = run_cli(
        "train",
        "--config",
        "configs/mnist_lenet.yaml",
        "--set",
        f"data.path={mnist_npz}",
        "--set",
        "train.epochs=1",
        "--set",
        f"output_dir={tmp_path / 'runs'}",
    )
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1].removeprefix("Run folder: "))
    assert run_dir.parent == tmp_path / "runs" / "mnist_lenet"
    for name in ("config.yaml", "history.csv", "history.json", "model.keras", "metrics.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "history.png").read_bytes().startswith(b"\x89PNG")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 1
    assert saved["data"]["path"] == str(mnist_npz)
    history = json.loads((run_dir / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= history[0].keys()


def test_train_without_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    result = run_cli(
        "train",
        "--config",
        "configs/mnist_lenet.yaml",
        "--set",
        f"output_dir={tmp_path / 'runs'}",
        env={"CNNZOO_DATA_DIR": str(tmp_path / "empty")},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cnnzoo download mnist" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_tensorflow_commands_print_no_native_start_up_lines() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "models", "lenet", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "lenet"
    assert result.stderr == ""


def test_choice_enums_are_the_libraries_choices() -> None:
    from cnnzoo.cli import common as cli_common
    from cnnzoo.engine import export
    from cnnzoo.evaluation import compare
    from cnnzoo.runs import files as runs
    from cnnzoo.utils import tables
    from cnnzoo.visualization import plots

    assert [m.value for m in cli_common.PlotFormat] == list(plots.PLOT_FORMATS)
    assert [m.value for m in cli_common.TableFormat] == list(tables.FORMATS)
    assert [m.value for m in cli_common.ExportFormat] == list(export.EXPORT_FORMATS)
    assert [m.value for m in cli_common.Split] == list(runs.SPLITS)
    assert [m.value for m in cli_common.SortColumn] == list(compare.COLUMNS)


def test_bad_choices_exit_2_before_tensorflow_loads(tmp_path: Path) -> None:
    code = (
        "for args in (['compare', 'R', '--sort', 'acc'], ['plot', 'R', '--format', 'gif'],\n"
        "             ['evaluate', 'R', '--split', 'tset'], ['export', 'R', '--format', 'h5']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    print(result.exit_code, repr(args[-1]) in result.output)\n"
        "print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    printed = python_prints(CLI + code, tmp_path)
    assert printed == ["2", "True"] * 4 + ["False", "False"], printed


def test_one_handler_turns_library_errors_into_one_line(tmp_path: Path) -> None:
    for args, code in (
        (["evaluate", str(tmp_path)], 1),  # not a run folder: a runtime error
        (["models", "--option", "resize_to=96"], 2),  # a usage error of our own
        (["train"], 2),
        (["--bogus"], 2),  # usage errors the parser finds, at every level
        (["bogus"], 2),
        (["predict"], 2),
        (["config", "show", "mnist_lenet", "--bogus"], 2),
        (["export", str(tmp_path)], 2),  # a missing option whose choices Click lists line by line
    ):
        result = run_cli(*args)
        assert result.returncode == code, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
