"""Bad runs and faults as a user meets them: other data, NaN, killed runs, device setup, and the
one error handler (issue 14). Each through the CLI where a user would: exit code, one line, no
traceback, files untouched."""

from __future__ import annotations

import csv
import errno
import io
import json
import socket
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.config.schema import HardwareConfig, load_config
from cnnzoo.datasets.synthetic import make_mnist_npz
from cnnzoo.engine.device_setup import Setup, check_setup
from cnnzoo.engine.devices import Found, Gpu, decide
from cnnzoo.runs import files as runs
from cnnzoo.utils.errors import CnnzooError

from .helpers import one_error_line, run_cli
from .tiny_runs import tiny_config


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- evaluate --data: the run's own evaluation is never replaced --------------------------------


def test_evaluating_other_data_keeps_the_runs_own_evaluation(mnist, private_run, tmp_path):
    run_dir = private_run(mnist)
    assert run_cli("evaluate", str(run_dir)).returncode == 0
    own = files_of(run_dir)
    other = make_mnist_npz(tmp_path / "other.npz", num_train=100, num_test=50, seed=3)

    result = run_cli("evaluate", str(run_dir), "--data", str(other))
    assert result.returncode == 0, result.stderr
    assert f"Split: test of {other} (50 images)" in result.stdout
    after = files_of(run_dir)
    assert {name: after[name] for name in own} == own  # nothing of the run's own changed
    new = set(after) - set(own)
    assert all("-test-on-other." in name for name in new), new
    assert new >= {
        "evaluation-test-on-other.json",
        "per_class-test-on-other.csv",
        "confusion-test-on-other.csv",
        "confusion-test-on-other.png",
        "predictions-test-on-other.npz",
        "mistakes-test-on-other.json",
    }
    record = json.loads((run_dir / "evaluation-test-on-other.json").read_text())
    assert (record["data_path"], record["num_examples"]) == (str(other), 50)
    assert len(np.load(run_dir / "predictions-test-on-other.npz")["labels"]) == 50

    # compare (and report, which reads the same records) still show the run's own test figure.
    table = run_cli("compare", str(run_dir), "--format", "csv")
    assert table.returncode == 0, table.stderr
    row = next(csv.DictReader(io.StringIO(table.stdout)))
    own_accuracy = json.loads(own["evaluation-test.json"])["accuracy"]
    assert float(row["test_accuracy"]) == pytest.approx(own_accuracy)


def test_data_of_the_same_name_elsewhere_gets_its_own_files(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first, second = tmp_path / "a" / "other.npz", tmp_path / "b" / "other.npz"
    assert runs.evaluation_key(run_dir, "test", first, own=True) == "test"
    assert runs.evaluation_key(run_dir, "test", first, own=False) == "test-on-other"
    (run_dir / "evaluation-test-on-other.json").write_text(json.dumps({"data_path": str(first)}))
    assert runs.evaluation_key(run_dir, "test", first, own=False) == "test-on-other"
    key = runs.evaluation_key(run_dir, "test", second, own=False)
    assert key.startswith("test-on-other-") and len(key) == len("test-on-other-") + 8


# --- NaN loss: a true message, a history without the diverged epoch ---------------------------


def test_nan_in_the_first_epoch_says_nothing_was_saved(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz, train={"learning_rate": 1e38})
    run_dir = tmp_path / "run"
    line = one_error_line(run_cli("train", "-c", str(config), "-o", str(run_dir)))
    assert "NaN or infinite at epoch 1" in line
    assert "no epoch had finished, so no checkpoint or history was saved" in line
    assert "last good" not in line
    assert not (run_dir / "checkpoints").exists()
    assert runs.read_history(run_dir) == []
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


class _Diverge(keras.callbacks.Callback):
    """Make the weights infinite at the start of an epoch, as a diverging optimizer would."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epoch:
            for variable in self.model.trainable_variables:
                variable.assign(np.full(variable.shape, np.inf, dtype=variable.dtype))


def test_nan_after_a_good_epoch_names_its_checkpoint_and_drops_the_bad_row(tmp_path, mnist_npz):
    from cnnzoo.engine.training import train_from_config

    config = load_config(tiny_config(tmp_path, mnist_npz, train={"epochs": 3}))
    run_dir = tmp_path / "run"
    with pytest.raises(CnnzooError) as info:
        train_from_config(config, run_dir, callbacks=[_Diverge(epoch=2)])
    message = str(info.value)
    assert "NaN or infinite at epoch 2" in message
    assert (
        "epochs 1-1 are in history.csv and the last good one in checkpoints/epoch-0001.keras"
        in message
    )
    assert (run_dir / "checkpoints" / "epoch-0001.keras").is_file()
    with (run_dir / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1"]
    assert all(np.isfinite(float(value)) for value in rows[0].values())
    # The curves of the good epochs can be drawn.
    result = run_cli("plot", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "history.png").is_file()


# --- compare shows a killed run's state ------------------------------------------------------


def _killed_run(tmp_path: Path, mnist_npz: Path) -> Path:
    """A run folder as a SIGKILLed `cnnzoo train` leaves it: marked running, its process gone."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    runs.write_config(run_dir, load_config(tiny_config(tmp_path, mnist_npz)))
    runs.write_classes(run_dir, [str(digit) for digit in range(10)])
    runs.write_status(
        run_dir, "running", epochs=2, epochs_completed=1, pid=gone.pid, host=socket.gethostname()
    )
    runs.write_history(run_dir, [{"epoch": 1, "loss": 2.0, "accuracy": 0.2, "seconds": 1.0}])
    return run_dir


def test_compare_shows_a_killed_run_as_stopped_and_resumable(tmp_path, mnist_npz, mnist):
    killed = _killed_run(tmp_path, mnist_npz)
    result = run_cli("compare", str(killed), str(mnist), "--format", "csv")
    assert result.returncode == 0, result.stderr
    status = {row["run"]: row["status"] for row in csv.DictReader(io.StringIO(result.stdout))}
    assert status == {"tiny/killed": "stopped after 1 of 2 epochs, resumable",
                      "mnist_lenet": "completed"}  # fmt: skip
    table = run_cli("compare", str(killed))
    assert "stopped after 1 of 2 epochs, resumable" in table.stdout


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_a_killed_run_says_to_resume(tmp_path: Path, mnist_npz: Path, command: str) -> None:
    run_dir = _killed_run(tmp_path, mnist_npz)
    args = [command, str(run_dir), *(["--format", "savedmodel"] if command == "export" else [])]
    line = one_error_line(run_cli(*args), code=1)
    assert "killed or crashed" in line and "after 1 of 2 epochs" in line
    assert f"cnnzoo train --resume {run_dir}" in line


# --- device setup TensorFlow refused: a warning, or an error when asked explicitly -------------


H100 = Gpu(0, "NVIDIA H100", (9, 0))
T4 = Gpu(1, "Tesla T4", (7, 5))
TWO_GPUS = Found(gpus=(H100, T4))
WHY = "TensorFlow had already started in this process (Visible devices cannot be modified)"


def _check(setup: Setup, **asked) -> list[str]:
    hardware = HardwareConfig(**asked)
    plan = decide(TWO_GPUS, hardware, 64)
    return check_setup(plan.gpus, plan.cpu_devices, hardware, setup, WHY)


def test_device_setup_applied_as_planned_says_nothing() -> None:
    assert _check(Setup((0, 1), {0: True, 1: True}, 1)) == []
    assert _check(Setup((1,), {1: True}, 1), gpus=[1]) == []


def test_default_gpus_not_applied_is_a_warning_naming_the_setting() -> None:
    (warning,) = _check(Setup((0,), {0: True}, 1))
    assert warning.startswith("hardware.gpus=all (GPUs 0,1) cannot be applied: TensorFlow had")
    assert "TensorFlow uses GPUs 0" in warning and "fresh process" in warning


def test_explicit_gpus_not_applied_is_an_error() -> None:
    with pytest.raises(CnnzooError, match=r"hardware.gpus=\[1\] \(GPUs 1\) cannot be applied"):
        _check(Setup((0, 1), {0: True, 1: True}, 1), gpus=[1])


def test_memory_growth_not_applied_warns_by_default_and_fails_when_asked() -> None:
    (warning,) = _check(Setup((0, 1), {0: False, 1: True}, 1))
    assert warning.startswith("hardware.memory_growth=true cannot be applied to GPU 0")
    with pytest.raises(CnnzooError, match="hardware.memory_growth=false cannot be applied"):
        _check(Setup((0, 1), {0: True, 1: True}, 1), memory_growth=False)


def test_too_few_cpu_devices_in_a_started_tensorflow_is_an_error() -> None:
    import tensorflow as tf

    from cnnzoo.engine import devices

    tf.constant(1.0) + 1.0  # TensorFlow has started: devices can no longer change
    count = len(tf.config.list_logical_devices("CPU"))
    hardware = HardwareConfig(cpu_devices=count + 1, strategy="mirrored")
    plan = decide(Found(), hardware, 8 * (count + 1))
    with pytest.raises(
        CnnzooError, match=rf"hardware.cpu_devices={count + 1} cannot be applied"
    ) as error:
        devices.apply(plan, hardware)
    assert str(error.value).count("fresh process") == 1, error.value  # the fix, said once


# --- one handler: no traceback without --debug ------------------------------------------------


OS_ERRORS = {
    "permission": (PermissionError(errno.EACCES, "Permission denied", "/data/x"), "permissions"),
    "not a folder": (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/f/x"), "is a file"),
    "exists": (FileExistsError(errno.EEXIST, "File exists", "/runs/x"), "already there"),
    "disk full": (OSError(errno.ENOSPC, "No space left on device", "/runs/x"), "Free some"),
}


@pytest.mark.parametrize("case", list(OS_ERRORS))
def test_an_os_error_is_one_line_naming_the_path_and_reason(case, monkeypatch, mnist) -> None:
    error, fix = OS_ERRORS[case]

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("cnnzoo.evaluation.compare.leaderboard", fail)
    result = CliRunner().invoke(app, ["compare", str(mnist)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {error.strerror} ({error.filename}).")
    assert fix in lines[0] and "Traceback" not in result.output


def test_an_unexpected_error_says_it_is_a_bug_and_how_to_report_it(monkeypatch, mnist) -> None:
    def fail(*args, **kwargs):
        raise KeyError("best_val_accuracy")

    monkeypatch.setattr("cnnzoo.evaluation.compare.leaderboard", fail)
    result = CliRunner().invoke(app, ["compare", str(mnist)])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: Unexpected KeyError: 'best_val_accuracy'. This is a bug")
    assert "--debug" in line and "cnnzoo --version" in line
    debug = CliRunner().invoke(app, ["--debug", "compare", str(mnist)])
    assert isinstance(debug.exception, KeyError)  # --debug lets the traceback through


def test_a_real_file_system_error_reaches_the_user_as_one_line(tmp_path, mnist) -> None:
    # A real full disk: a 16 KB tmpfs (mounting needs root, as CI runs), an export far larger.
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mount.stderr.decode().strip()}")
    try:
        result = run_cli("export", str(mnist), "--format", "tflite", "-o", str(disk / "m.tflite"))
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    line = one_error_line(result)
    assert "No space left on device" in line and "Free some space" in line
