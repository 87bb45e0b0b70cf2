"""The training engine: the run folder, the training options, NaN, and reproducibility."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from cnnzoo.config.schema import HardwareConfig, TrainConfig, load_config
from cnnzoo.engine.devices import decide, detect
from cnnzoo.engine.optim import build_schedule
from cnnzoo.engine.training import train_from_config
from cnnzoo.runs import files as runs
from cnnzoo.utils.errors import CnnzooError

from .tiny_runs import NOISE, cli_env, finish, history, read, start_cli, tiny_config


def test_cli_run_folder_has_everything_and_plain_progress(mnist_npz: Path, tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path,
        mnist_npz,
        train={
            "metrics": ["accuracy", "top5_accuracy"],
            "tensorboard": True,
            "schedule": "cosine",
            "warmup_epochs": 1,
        },
    )
    run_dir = tmp_path / "run"
    code, out, err = finish(start_cli("train", "-c", str(config), "-o", str(run_dir)))
    assert code == 0, err
    lines = out.splitlines()
    auto = decide(detect(), HardwareConfig(), 32).precision  # float32, or bf16 on a bf16 CPU
    assert lines[0].startswith("Found ") and f"precision {auto}," in lines[0], lines[0]
    assert "batch 32 global = 32 per replica" in lines[0]
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "━" not in out  # not a terminal: one plain line per epoch, no progress bars
    assert lines[-1] == f"Run folder: {run_dir}"
    assert not [line for line in err.splitlines() if any(n in line for n in NOISE)], err

    names = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    expected = {
        "config.yaml", "environment.json", "run.json", "classes.json", "history.csv",
        "history.json", "model.keras", "metrics.json", "history.png", "checkpoints/last.json",
        "checkpoints/epoch-0002.keras", "checkpoints/best.keras",
    }  # fmt: skip
    assert expected <= names, expected - names
    assert any(name.startswith("tensorboard/train/events.out") for name in names), names

    assert load_config(run_dir / "config.yaml").train.metrics == ["accuracy", "top5_accuracy"]
    environment = read(run_dir, "environment.json")
    assert environment["seed"] == 7 and environment["keras"] == keras.__version__
    assert environment["plan"]["precision"] == auto
    assert environment["plan"]["description"] == lines[0]
    status = read(run_dir, "run.json")
    assert status["status"] == "completed" and status["epochs_completed"] == 2
    rows = history(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2]
    keys = {"loss", "accuracy", "top5_accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert keys <= rows[0].keys()
    with (run_dir / "history.csv").open() as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [1, 2]
    metrics = read(run_dir, "metrics.json")
    assert metrics["epochs"] == 2 and not metrics["stopped_early"]
    assert metrics["final"]["val_accuracy"] == rows[-1]["val_accuracy"]
    assert metrics["best"]["value"] == max(row["val_accuracy"] for row in rows)
    assert (run_dir / "history.png").read_bytes().startswith(b"\x89PNG")
    # The final model carries its optimizer (2 epochs x 3 steps) and loads with plain Keras.
    code = (
        "import keras, sys\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "schedule = model.optimizer.get_config()['learning_rate']['class_name']\n"
        "print(schedule, int(model.optimizer.iterations))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(run_dir / "model.keras")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split()[-2:] == ["CosineDecay", "6"], loaded.stderr


def _rates(steps_per_epoch: int, steps: list[int], **train) -> list[float]:
    schedule = build_schedule(TrainConfig(**train), steps_per_epoch)
    return [float(schedule(step)) for step in steps]


def test_schedules_warm_up_then_follow_their_shape() -> None:
    # 10 steps per epoch. Cosine: 1 warm-up epoch rising from 0, then 100 steps down to 0.
    cosine = _rates(
        10,
        [0, 5, 10, 60, 110, 200],
        schedule="cosine",
        learning_rate=0.1,
        epochs=11,
        warmup_epochs=1,
    )
    assert cosine == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.0, 0.0], abs=1e-7)
    floor = _rates(10, [10], schedule="cosine", learning_rate=0.1, epochs=1, min_learning_rate=0.01)
    assert floor == pytest.approx([0.01])
    constant = _rates(
        4, [0, 2, 4, 11], schedule="constant", learning_rate=0.1, epochs=3, warmup_epochs=1
    )
    assert constant == pytest.approx([0.0, 0.05, 0.1, 0.1])
    # Step: warm-up by epoch (0.05, 0.1), then halved every epoch after it.
    step = _rates(
        10,
        [0, 9, 10, 19, 20, 29, 30, 45],
        schedule="step",
        learning_rate=0.1,
        epochs=10,
        warmup_epochs=2,
        step_epochs=1,
        decay_factor=0.5,
    )
    assert step == pytest.approx([0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.05, 0.025])
    assert build_schedule(TrainConfig(schedule="plateau", learning_rate=0.3), 5) == 0.3
    assert build_schedule(TrainConfig(learning_rate=0.3), 5) == 0.3


OPTIONS = {
    "adam-constant": ({"optimizer": "adam"}, "Adam", [0.01, 0.01]),
    "adamw-cosine-warmup": (
        {"optimizer": "adamw", "schedule": "cosine", "warmup_epochs": 1, "weight_decay": 0.01},
        "AdamW",
        [0.0, 0.01],  # step 0 of a 3-step warm-up from 0, then the cosine's peak
    ),
    "sgd-step": (
        {"optimizer": "sgd", "schedule": "step", "step_epochs": 1, "decay_factor": 0.5},
        "SGD",
        [0.01, 0.005],
    ),
    "rmsprop-plateau-warmup": (
        {"optimizer": "rmsprop", "schedule": "plateau", "warmup_epochs": 2, "label_smoothing": 0.1},
        "RMSprop",
        [0.005, 0.01],  # epoch-wise warm-up before ReduceLROnPlateau takes over
    ),
}


@pytest.mark.parametrize(("train", "optimizer", "rates"), OPTIONS.values(), ids=OPTIONS)
def test_optimizers_and_schedules(
    train: dict, optimizer: str, rates: list[float], mnist_npz: Path, tmp_path: Path
) -> None:
    config = load_config(tiny_config(tmp_path, mnist_npz, train=train))
    run_dir = train_from_config(config, tmp_path / "run")
    assert [row["learning_rate"] for row in history(run_dir)] == pytest.approx(rates)
    model = keras.models.load_model(run_dir / "model.keras")
    assert type(model.optimizer).__name__ == optimizer
    assert (model.optimizer.weight_decay or 0.0) == pytest.approx(train.get("weight_decay", 0.0))
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(
        train.get("label_smoothing", 0.0)
    )


def test_early_stopping_ends_a_run_that_stopped_improving(mnist_npz: Path, tmp_path: Path) -> None:
    # An SGD step of 1e-12 leaves float32 weights unchanged, so the validation loss never improves.
    train = {"optimizer": "sgd", "learning_rate": 1e-12, "epochs": 6, "early_stopping_patience": 2}
    config = tiny_config(tmp_path, mnist_npz, model={"variant": "classic"}, train=train)
    run_dir = train_from_config(load_config(config), tmp_path / "run")
    assert [row["epoch"] for row in history(run_dir)] == [1, 2, 3]
    metrics = read(run_dir, "metrics.json")
    assert metrics["stopped_early"] and metrics["epochs"] == 3 and metrics["epochs_planned"] == 6
    assert read(run_dir, "run.json")["status"] == "completed"


def test_nan_loss_stops_and_marks_the_run_failed(mnist_npz: Path, tmp_path: Path) -> None:
    config = load_config(tiny_config(tmp_path, mnist_npz, train={"learning_rate": 1e38}))
    with pytest.raises(
        CnnzooError, match=r"NaN or infinite at epoch \d+, step \d+.*1e\+38"
    ) as info:
        train_from_config(config, tmp_path / "run")
    assert info.value.exit_code == 1
    status = read(tmp_path / "run", "run.json")
    assert status["status"] == "failed" and "NaN" in status["error"]
    for name in runs.RESULT_FILES:  # nothing that would make the folder look complete
        assert not (tmp_path / "run" / name).exists(), name
    for row in runs.read_history(tmp_path / "run"):  # the diverged epoch is left out
        assert math.isfinite(row["loss"])


def test_mixed_bfloat16_trains_on_cpu(mnist_npz: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, mnist_npz, hardware={"precision": "mixed_bfloat16"})
    run_dir = train_from_config(load_config(config), tmp_path / "run")
    assert read(run_dir, "environment.json")["plan"]["precision"] == "mixed_bfloat16"
    assert all(math.isfinite(row["loss"]) for row in history(run_dir))
    model = keras.models.load_model(run_dir / "model.keras")
    assert model.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run


def test_an_existing_run_folder_is_not_overwritten(mnist_npz: Path, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    runs.write_status(tmp_path / "run", "completed")
    config = load_config(tiny_config(tmp_path, mnist_npz))
    with pytest.raises(CnnzooError, match="already holds a run.*--resume"):
        train_from_config(config, tmp_path / "run")


def test_same_seed_and_deterministic_give_the_same_history(mnist_npz: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, mnist_npz, hardware={"deterministic": True})
    started = [
        start_cli("train", "-c", str(config), "-o", str(tmp_path / f"run{i}"), env=cli_env())
        for i in range(2)
    ]
    for process in started:
        code, _, err = finish(process)
        assert code == 0, err
    first, second = history(tmp_path / "run0"), history(tmp_path / "run1")
    assert first == second
    assert len(first) == 2 and first[0]["loss"] != first[1]["loss"]


def test_run_files_are_readable_by_others_like_plain_files(tmp_path) -> None:
    from cnnzoo.runs import files as runs

    runs.write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_steps_per_execution_trains_the_same_steps(mnist_npz: Path, tmp_path: Path) -> None:
    # Several steps per call into TensorFlow: the same history, whether they divide the epoch
    # or not (5 batches in calls of 3: the last call ends at the data's end; 3 steps of
    # train.steps_per_epoch in calls of 2: lowered to 1, else Keras would take a step from the
    # next epoch), and the NaN guard still stops a diverging run.
    def train(name: str, **train) -> list[dict]:
        folder = tmp_path / name
        folder.mkdir()
        config = tiny_config(folder, mnist_npz, train=train, hardware={"deterministic": True})
        run_dir = train_from_config(load_config(config), folder / "run", log=lambda line: None)
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history(run_dir)]

    one_pass = {"steps_per_epoch": None, "batch_size": 128}  # 540 training images: 5 batches
    assert train("a", **one_pass) == train("b", **one_pass, steps_per_execution=3)
    assert train("c") == train("d", steps_per_execution=2) == train("e", steps_per_execution=3)
    train_ = {"steps_per_execution": 2, "learning_rate": 1e38}
    config = load_config(tiny_config(tmp_path, mnist_npz, train=train_))
    with pytest.raises(CnnzooError, match=r"NaN or infinite at epoch 1, steps? [\d-]+"):
        train_from_config(config, tmp_path / "nan", log=lambda line: None)
    assert read(tmp_path / "nan", "run.json")["status"] == "failed"


def test_the_best_checkpoint_is_the_best_epochs_model(mnist_npz: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, mnist_npz, hardware={"deterministic": True})
    run_dir = train_from_config(load_config(config), tmp_path / "run", log=lambda line: None)
    state = runs.last_checkpoint(run_dir)
    assert state is not None and state.best.epoch == 2  # this seeded run improves every epoch
    folder = run_dir / runs.CHECKPOINT_DIR
    best = (folder / runs.BEST_CHECKPOINT).read_bytes()
    assert best == (folder / runs.checkpoint_file(2)).read_bytes()
    model = keras.models.load_model(folder / runs.BEST_CHECKPOINT)
    assert int(model.optimizer.iterations) == 6  # 2 epochs x 3 steps, optimizer state kept
    assert not list(folder.glob(".*partial*"))


def test_the_timing_record_names_each_phase_when_asked(
    mnist_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(tiny_config(tmp_path, mnist_npz))
    train_from_config(config, tmp_path / "quiet", log=lambda line: None)
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing recorded unless asked
    record = tmp_path / "timings.jsonl"
    monkeypatch.setenv("CNNZOO_TIMINGS", str(record))
    train_from_config(config, tmp_path / "run", log=lambda line: None)
    phases = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    names = [phase["phase"] for phase in phases]
    for name in ("device planning", "data decode and cache fill", "model build and compile",
                 "epoch 1 first step", "epoch 1 batch-norm statistics", "epoch 2 checkpoint",
                 "epoch 2 end", "final save", "history plot", "run folder finish"):  # fmt: skip
        assert name in names, names
    assert (
        names.index("epoch 1 first step") < names.index("epoch 2 end") < names.index("final save")
    )
    assert all(phase["start"] <= phase["end"] for phase in phases)
