"""The run folder's files read back as typed records and are written exactly as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnzoo.runs import files as runs
from cnnzoo.utils.errors import CnnzooError

# Files as cnnzoo 0.1.0 (before the typed records) wrote them.
LAST = {
    "epoch": 3,
    "checkpoint": "epoch-0003.keras",
    "best": {"monitor": "val_accuracy", "value": 0.75, "epoch": 2},
    "callbacks": {"early_stopping": {"wait": 1, "best": 0.5, "best_epoch": 1}},
}
EVALUATION = {
    "split": "test",
    "dataset": "mnist",
    "data_path": None,
    "model": "lenet",
    "evaluated": "2026-11-30T21:00:00",
    "num_examples": 3,
    "loss": 0.5,
    "accuracy": 0.6667,
    "top_k": 2,
    "top_k_accuracy": 1.0,
    "macro_avg": {"precision": 0.75, "recall": 0.75, "f1": 0.6667},
    "weighted_avg": {"precision": 0.8333, "recall": 0.6667, "f1": 0.6667},
    "per_class": [
        {"class": "a", "precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
        {"class": "b", "precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
    ],
    "class_names": ["a", "b"],
    "confusion_matrix": [[1, 0], [1, 1]],
}


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def test_last_checkpoint_reads_and_writes_the_same_file(tmp_path: Path) -> None:
    written = _write(tmp_path / "checkpoints" / "last.json", LAST).read_text()
    state = runs.last_checkpoint(tmp_path)
    assert state is not None
    assert (state.epoch, state.checkpoint, state.best.value) == (3, "epoch-0003.keras", 0.75)
    assert state.checkpoint == runs.checkpoint_file(3)
    runs.write_checkpoint_state(tmp_path, state)
    assert (tmp_path / "checkpoints" / "last.json").read_text() == written
    assert runs.last_checkpoint(tmp_path / "elsewhere") is None


def test_evaluation_reads_and_writes_the_same_files(tmp_path: Path) -> None:
    written = _write(tmp_path / "evaluation-test.json", EVALUATION).read_text()
    record = runs.read_evaluation(tmp_path, "test")
    assert record is not None and record.accuracy == 0.6667
    files = runs.write_evaluation(tmp_path, record)
    assert [f.name for f in files] == [
        "evaluation-test.json",
        "per_class-test.csv",
        "confusion-test.csv",
    ]
    assert files[0].read_text() == written
    assert files[1].read_text().splitlines() == [
        "class,precision,recall,f1,support",
        "a,0.5,1.0,0.6667,1",
        "b,1.0,0.5,0.6667,2",
    ]
    assert files[2].read_text().splitlines() == ["true \\ predicted,a,b", "a,1,0", "b,1,1"]
    assert runs.read_evaluation(tmp_path, "validation") is None


def test_status_merges_fields_and_ignores_unknown_keys(tmp_path: Path) -> None:
    runs.write_status(tmp_path, "running", epochs=5, epochs_completed=0, pid=12, host="h")
    runs.write_status(tmp_path, "failed", error="ValueError: bad")
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["status"] == "failed" and saved["error"] == "ValueError: bad"
    assert (saved["epochs"], saved["epochs_completed"], saved["pid"]) == (5, 0, 12)
    assert "finished" not in saved  # unset fields are left out, as before
    _write(tmp_path / "run.json", {**saved, "written_by_a_newer_cnnzoo": 1})
    assert runs.read_status(tmp_path).status == "failed"
    assert runs.read_status(tmp_path / "none") is None


def test_a_damaged_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "history.json").write_text("[{", encoding="utf-8")
    with pytest.raises(CnnzooError, match=r"Cannot read .*history.json"):
        runs.read_history(tmp_path)


def test_best_epoch_prefers_validation_and_the_earliest_tie() -> None:
    rows = [
        {"epoch": 1, "accuracy": 0.9, "val_accuracy": 0.7},
        {"epoch": 2, "accuracy": 0.95, "val_accuracy": 0.8},
        {"epoch": 3, "accuracy": 0.99, "val_accuracy": 0.8},
    ]
    assert runs.best_epoch(rows) == (2, "val_accuracy")
    assert runs.best_epoch([{"epoch": 1, "accuracy": 0.5}]) == (1, "accuracy")
    assert runs.best_epoch([]) is None


@pytest.mark.fast
def test_the_best_validation_accuracy_skips_unvalidated_and_non_finite_epochs() -> None:
    rows = [
        {"epoch": 1, "accuracy": 0.4, "val_accuracy": 0.0},
        {"epoch": 2, "accuracy": 0.5, "val_accuracy": float("nan")},
        {"epoch": 3, "accuracy": 0.6},
    ]
    assert runs.best_validation_accuracy(rows) == 0.0  # a real 0%, not "no figure"
    assert runs.best_epoch(rows) == (1, "val_accuracy")
    assert runs.best_validation_accuracy([{"epoch": 1, "accuracy": 0.5}]) is None
