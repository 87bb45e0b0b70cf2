"""A run that is not learning says so: collapse at chance and divergence, reported and stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.engine.health import diagnose

from .real_digits import with_model, write_digits
from .tiny_runs import finish, read, start_cli, tiny_config


def _rows(*pairs: tuple[float, float]) -> list[dict[str, float]]:
    return [{"loss": loss, "accuracy": accuracy} for loss, accuracy in pairs]


def test_a_healthy_run_is_not_flagged() -> None:
    rows = _rows((1.35, 0.62), (0.45, 0.93), (0.27, 0.97), (0.18, 0.98), (0.19, 0.98))
    assert all(diagnose(rows[: n + 1], 10, 0.001) is None for n in range(len(rows)))


def test_loss_at_chance_for_two_epochs_is_a_collapse() -> None:
    # The monkeys run: 3.54 in epoch 1, then ln(10) with 10% accuracy.
    rows = _rows((3.54, 0.11), (2.303, 0.10), (2.302, 0.098))
    assert diagnose(rows[:2], 10, 0.001) is None
    finding = diagnose(rows, 10, 0.001, ["recipe_monkeys_scratch"])
    assert finding is not None and (finding.kind, finding.epoch) == ("collapse", 3)
    assert "ln(10) = 2.303" in finding.seen and "accuracy 9.8%" in finding.seen
    assert "try 0.0001" in finding.advice
    assert "cnnzoo train -c recipe_monkeys_scratch" in finding.advice


def test_a_slow_start_above_chance_accuracy_is_not_a_collapse() -> None:
    assert diagnose(_rows((2.30, 0.21), (2.25, 0.26)), 10, 0.001) is None


def test_divergence_by_size_and_by_growth() -> None:
    finding = diagnose(_rows((2664.7, 0.10)), 10, 1.0)
    assert finding is not None and finding.kind == "divergence" and finding.epoch == 1
    rising = _rows((1.0, 0.6), (0.6, 0.8), (1.2, 0.6), (2.0, 0.4))
    finding = diagnose(rising, 10, 0.01)
    assert finding is not None and finding.kind == "divergence" and finding.epoch == 4
    assert diagnose(rising[:3], 10, 0.01) is None  # one bad epoch is noise


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"))


def _diverging_config(folder: Path, digits: Path, on_collapse: str) -> Path:
    # The tutorial CNN with Adam at 1.0 instead of 0.001: the loss explodes in epoch 1.
    train = {"epochs": 4, "batch_size": 64, "learning_rate": 1.0, "steps_per_epoch": None}
    # float32 on every CPU: the verdict (which check fires first) depends on the numerics.
    hardware = {"precision": "float32"}
    config = tiny_config(
        folder, digits, train={**train, "on_collapse": on_collapse}, hardware=hardware
    )
    return with_model(config, {"name": "tutorial_cnn"})


def test_a_diverging_run_is_reported_and_stopped(digits_npz: Path, tmp_path: Path) -> None:
    config = _diverging_config(tmp_path, digits_npz, "stop")
    code, out, err = finish(start_cli("train", "-c", str(config), "-o", str(tmp_path / "run")))
    assert code == 1, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: Training is not")]
    assert len(warnings) == 1, err
    assert "(divergence)" in warnings[0] and "train.learning_rate (now 1; try 0.1)" in warnings[0]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Training stopped (train.on_collapse: stop)" in errors[0], err
    assert "Traceback" not in err
    record = read(tmp_path / "run", "run.json")
    assert record["status"] == "failed" and record["epochs_completed"] == 1
    assert record["health"]["kind"] == "divergence" and record["health"]["stopped"] is True


def test_a_warned_run_goes_on_and_keeps_the_finding(digits_npz: Path, tmp_path: Path) -> None:
    config = _diverging_config(tmp_path, digits_npz, "warn")
    code, out, err = finish(
        start_cli("train", "-c", str(config), "-o", str(tmp_path / "run"), "-s", "train.epochs=2")
    )
    assert code == 0, err
    assert err.count("warning: Training is not learning") == 1
    record = read(tmp_path / "run", "run.json")
    assert record["status"] == "completed" and record["epochs_completed"] == 2
    assert record["health"]["epoch"] == 1 and record["health"]["stopped"] is False


def test_a_loss_that_never_left_chance_asks_for_a_higher_rate() -> None:
    finding = diagnose(_rows((2.31, 0.10), (2.30, 0.10)), 10, 1e-12)
    assert finding is not None and finding.kind == "collapse"
    assert "a higher train.learning_rate (now 1e-12; try 1e-11)" in finding.advice


def test_a_run_stuck_at_chance_at_a_large_rate_is_not_told_to_raise_it() -> None:
    # mnist_googlenet's own settings (SGD at 0.1) on 4,000 real digits: at chance for 3 epochs
    # without the loss ever jumping. Ten times the rate (1) is never the fix; smaller steps
    # with a warm-up, or the dataset's recipe, are.
    finding = diagnose(_rows((2.31, 0.10), (2.30, 0.11)), 10, 0.1, ["recipe_mnist"])
    assert finding is not None and finding.kind == "collapse"
    assert "higher" not in finding.advice
    assert "a lower train.learning_rate (now 0.1; try 0.01), a warm-up" in finding.advice
    assert finding.advice.endswith("(cnnzoo train -c recipe_mnist)")
