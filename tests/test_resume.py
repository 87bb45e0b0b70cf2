"""Resume after SIGKILL and Ctrl-C with optimizer and schedule state; refusals that protect runs."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import keras
import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.config.schema import load_config
from cnnzoo.engine.optim import build_schedule
from cnnzoo.engine.training import train_from_config
from cnnzoo.runs import files as runs
from cnnzoo.runs.resume import resume_config

from .tiny_runs import finish, history, read, start_cli, tiny_config, wait_for_checkpoint


def test_sigkill_mid_training_then_resume_loses_nothing(mnist_npz: Path, tmp_path: Path) -> None:
    train = {"epochs": 8, "steps_per_epoch": 4, "schedule": "cosine"}
    config = tiny_config(tmp_path, mnist_npz, train=train)
    run_dir = tmp_path / "run"
    process = start_cli("train", "-c", str(config), "-o", str(run_dir))
    wait_for_checkpoint(run_dir, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = runs.last_checkpoint(run_dir).epoch
    before = history(run_dir)[:saved]
    assert read(run_dir, "run.json")["status"] == "running"  # killed: nobody could record it
    assert saved < 8, "the run finished before it could be killed"

    code, out, err = finish(start_cli("train", "--resume", str(run_dir)))
    assert code == 0, err
    assert f"Resuming {run_dir} from epoch {saved + 1} of 8." in out
    rows = history(run_dir)
    assert [row["epoch"] for row in rows] == list(range(1, 9))  # no gap, no duplicate
    assert rows[:saved] == before
    # The schedule continued from the optimizer's restored step counter: each epoch's rate is
    # the cosine at epoch x 4 steps, not a restarted schedule.
    schedule = build_schedule(load_config(run_dir / "config.yaml").train, 4)
    expected = [float(schedule(epoch * 4)) for epoch in range(8)]
    assert [row["learning_rate"] for row in rows] == pytest.approx(expected)
    model = keras.models.load_model(run_dir / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 8 * 4
    assert read(run_dir, "run.json")["status"] == "completed"
    assert read(run_dir, "environment.json")["resumed"][0]["from_epoch"] == saved


def test_ctrl_c_saves_exits_130_and_resumes(mnist_npz: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, mnist_npz, train={"epochs": 50, "steps_per_epoch": 4})
    run_dir = tmp_path / "run"
    process = start_cli("train", "-c", str(config), "-o", str(run_dir))
    wait_for_checkpoint(run_dir, 1, process)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130, err
    assert f"Resume with: cnnzoo train --resume {run_dir}" in err
    assert "Traceback" not in err
    status = read(run_dir, "run.json")
    done = runs.last_checkpoint(run_dir).epoch
    assert status["status"] == "interrupted" and status["epochs_completed"] == done
    assert not any((run_dir / name).exists() for name in runs.RESULT_FILES)

    code, _, err = finish(
        start_cli("train", "--resume", str(run_dir), "-s", f"train.epochs={done + 1}")
    )
    assert code == 0, err
    assert [row["epoch"] for row in history(run_dir)] == list(range(1, done + 2))
    assert read(run_dir, "run.json")["status"] == "completed"


def test_resume_restores_early_stopping_state(mnist_npz: Path, tmp_path: Path) -> None:
    # Validation loss never changes (see test_training); patience 3 stops after epoch 4 only if
    # the two epochs without improvement before the resume are remembered.
    train = {"optimizer": "sgd", "learning_rate": 1e-12, "epochs": 2, "early_stopping_patience": 3}
    config = tiny_config(tmp_path, mnist_npz, model={"variant": "classic"}, train=train)
    run_dir = train_from_config(load_config(config), tmp_path / "run")
    assert read(run_dir, "checkpoints/last.json")["callbacks"]["early_stopping"]["wait"] == 1
    resumed = resume_config(run_dir, overrides=["train.epochs=8"])
    train_from_config(resumed, run_dir, resume=True)
    assert [row["epoch"] for row in history(run_dir)] == [1, 2, 3, 4]
    assert read(run_dir, "metrics.json")["stopped_early"]


@pytest.fixture
def fake_run(mnist_npz: Path, tmp_path: Path) -> Path:
    """A run folder as an interrupted `cnnzoo train` leaves it (no TensorFlow needed)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_config(run_dir, load_config(tiny_config(tmp_path, mnist_npz)))
    runs.write_status(run_dir, "interrupted", epochs=2, epochs_completed=1, precision="float32")
    return run_dir


def _resume(*args: str):
    return CliRunner().invoke(app, ["train", "--resume", *args])


def test_breaking_config_changes_are_refused_with_the_differences(fake_run: Path) -> None:
    result = _resume(str(fake_run), "-s", "model.variant=classic", "-s", "train.batch_size=64")
    assert result.exit_code == 2
    assert "Cannot resume" in result.output
    assert "model.variant: 'modern' -> 'classic'" in result.output
    assert "train.batch_size: 32 -> 64" in result.output
    result = _resume(str(fake_run), "-s", "data.image_size=[32,32]")
    assert result.exit_code == 2 and "data.image_size: [28, 28] -> [32, 32]" in result.output
    result = _resume(str(fake_run), "-s", "hardware.precision=mixed_bfloat16")
    assert result.exit_code == 2 and "trained in 'float32'" in result.output


def test_harmless_changes_are_allowed(fake_run: Path) -> None:
    overrides = ["train.epochs=5", "hardware.xla=on", "hardware.cpu_devices=2"]
    config = resume_config(fake_run, overrides=overrides)
    assert config.train.epochs == 5 and config.hardware.xla == "on"
    assert config.hardware.precision == "float32"  # auto resolves to what the run trained in


def test_a_folder_that_is_not_a_run_is_explained(tmp_path: Path) -> None:
    result = _resume(str(tmp_path))
    assert result.exit_code == 1 and "is not a cnnzoo run folder" in result.output
    result = _resume(str(tmp_path / "missing"))
    assert result.exit_code == 1 and "does not exist" in result.output


def test_a_finished_run_needs_more_epochs(fake_run: Path) -> None:
    runs.write_status(fake_run, "completed", epochs_completed=2)
    result = _resume(str(fake_run))
    assert result.exit_code == 1
    assert "already finished (2 of 2 epochs)" in result.output
    assert "--set train.epochs=12" in result.output
    assert resume_config(fake_run, overrides=["train.epochs=3"]).train.epochs == 3
    result = _resume(str(fake_run), "-s", "train.epochs=1")
    assert result.exit_code == 1


def test_a_run_still_training_is_not_resumed_twice(fake_run: Path) -> None:
    runs.write_status(fake_run, "running", pid=os.getpid(), host=socket.gethostname())
    result = _resume(str(fake_run))
    assert (
        result.exit_code == 1 and f"still being trained by process {os.getpid()}" in result.output
    )


def test_train_needs_a_config_or_a_run(fake_run: Path) -> None:
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 2 and "--config FILE, or --resume RUN_DIR" in result.output
    result = _resume(str(fake_run), "--output", "elsewhere")
    assert result.exit_code == 2 and "drop --output" in result.output


def test_resume_in_mixed_float16_restores_the_loss_scale_optimizer(
    mnist_npz: Path, tmp_path: Path
) -> None:
    # The GPU default: Keras wraps the optimizer in a LossScaleOptimizer, whose state must survive.
    config = tiny_config(tmp_path, mnist_npz, hardware={"precision": "mixed_float16"})
    run_dir = train_from_config(load_config(config), tmp_path / "run")
    resumed = resume_config(run_dir, overrides=["train.epochs=3"])
    assert resumed.hardware.precision == "mixed_float16"
    train_from_config(resumed, run_dir, resume=True)
    assert [row["epoch"] for row in history(run_dir)] == [1, 2, 3]
    # Keras wraps the loaded optimizer again only under the policy the model was trained in.
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        optimizer = keras.models.load_model(run_dir / "model.keras").optimizer
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert type(optimizer).__name__ == "LossScaleOptimizer"
    assert int(optimizer.iterations.numpy()) == 3 * 3


def test_a_run_written_by_the_first_version_resumes_and_evaluates(
    mnist_npz: Path, tmp_path: Path
) -> None:
    """The first version saved every dataset's keys under `data:` (MNIST runs: `val_path: null`,
    `url: null`, ...); such a run folder still resumes and evaluates."""
    config = load_config(tiny_config(tmp_path, mnist_npz, train={"epochs": 1}))
    run_dir = train_from_config(config, tmp_path / "run", log=lambda *_: None)
    assert run_dir is not None
    saved = run_dir / runs.CONFIG_FILE
    text = saved.read_text(encoding="utf-8")
    old = text.replace("\n  path:", "\n  val_path: null\n  path:", 1)
    saved.write_text(old, encoding="utf-8")
    assert "val_path: null" in saved.read_text(encoding="utf-8")

    evaluated = CliRunner().invoke(app, ["evaluate", str(run_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    resumed = _resume(str(run_dir), "-s", "train.epochs=2")
    assert resumed.exit_code == 0, resumed.output
    assert [row["epoch"] for row in history(run_dir)] == [1, 2]
