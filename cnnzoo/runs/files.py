"""The run folder's layout: every file name, a typed record per JSON file, reading and writing.

This module is the one owner of the layout the README's run-folder table describes; everything
else (training, resume, evaluation, compare, plots, predict, export) uses its names and records.
Writes are atomic, so a reader never sees half a file. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnzoo.config.schema import Config, to_yaml
from cnnzoo.utils.atomic import read_json, write_csv, write_json, write_text_atomic
from cnnzoo.utils.outputs import RUN_FILE

CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
CLASSES_FILE = "classes.json"
HISTORY_PLOT = "history.png"
CHECKPOINT_DIR = "checkpoints"
LAST_STATE = "last.json"
BEST_CHECKPOINT = "best.keras"
TENSORBOARD_DIR = "tensorboard"
RESULT_FILES = (MODEL_FILE, METRICS_FILE, HISTORY_PLOT)  # written only when a run completes
SPLITS = ("test", "validation", "train")  # the splits a run can be evaluated on

HistoryRow = dict[str, float]  # {"epoch": 1, "loss": ..., "val_accuracy": ..., "seconds": ...}


def evaluation_file(split: str) -> str:
    """File name of the evaluation summary for `split` (or an `evaluation_key`)."""
    return f"evaluation-{split}.json"


def evaluation_key(run_dir: Path, split: str, data_path: str | Path | None, own: bool) -> str:
    """What an evaluation's files are named after: the split, plus the data if it is not own.

    The run's own data gives `test` (`evaluation-test.json`, what compare and report show);
    other data (`evaluate --data other.npz`) gives `test-on-other`, so it never replaces the
    run's own evaluation. Another file with the same name elsewhere adds a hash of its path.
    """
    if own or data_path is None:
        return split
    path = Path(data_path).resolve()
    key = f"{split}-on-{re.sub(r'[^A-Za-z0-9._-]+', '_', path.stem or path.name) or 'data'}"
    saved = _read_optional(run_dir / evaluation_file(key))
    if saved is not None and Path(saved.get("data_path") or "").resolve() != path:
        key += "-" + hashlib.sha1(str(path).encode()).hexdigest()[:8]
    return key


def per_class_file(split: str) -> str:
    """File name of the per-class precision/recall/F1 table for `split`."""
    return f"per_class-{split}.csv"


def confusion_file(split: str, suffix: str = "csv") -> str:
    """File name of the confusion matrix (CSV, or a plot with suffix png/svg) for `split`."""
    return f"confusion-{split}.{suffix}"


def predictions_file(split: str) -> str:
    """File name of the saved predictions (probabilities and labels) for `split`."""
    return f"predictions-{split}.npz"


def checkpoint_file(epoch: int) -> str:
    """File name, inside checkpoints/, of the checkpoint taken after `epoch` (from 1)."""
    return f"epoch-{epoch:04d}.keras"


def _from_dict(kind: type, data: dict[str, Any]) -> Any:
    """A record from JSON data, ignoring keys it does not know (written by other versions)."""
    known = {f.name for f in fields(kind)}
    return kind(**{key: value for key, value in data.items() if key in known})


def _to_dict(record: Any) -> dict[str, Any]:
    """JSON data for a record; unset optional fields are left out, as they always were."""
    return {key: value for key, value in asdict(record).items() if value is not None}


@dataclass(frozen=True)
class RunRecord:
    """run.json: the run's status (running, completed, failed, interrupted; pruned in a sweep)."""

    status: str
    updated: str
    epochs: int | None = None
    epochs_completed: int | None = None
    precision: str | None = None
    pid: int | None = None
    host: str | None = None
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    health: dict[str, Any] | None = None  # a training-health finding (cnnzoo.engine.health)
    pruned_at_epoch: int | None = None  # a sweep trial stopped early (cnnzoo.sweep.study)


@dataclass(frozen=True)
class Best:
    """The best epoch so far by the monitored metric."""

    monitor: str
    value: float | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class CheckpointState:
    """checkpoints/last.json: the last finished epoch, its checkpoint, best, callback state."""

    epoch: int
    checkpoint: str  # file name inside checkpoints/
    best: Best
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path(self, run_dir: Path) -> Path:
        """The checkpoint file in `run_dir`."""
        return run_dir / CHECKPOINT_DIR / self.checkpoint

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointState:
        """The record from last.json's JSON data."""
        return cls(**{**data, "best": Best(**data["best"])})


@dataclass(frozen=True)
class Metrics:
    """metrics.json: the finished run's last and best epoch, how long it trained, on how much."""

    final: dict[str, float]
    best: Best | None
    epochs: int
    epochs_planned: int
    stopped_early: bool
    train_seconds: float
    num_train: int | None
    num_validation: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (every key, null where a figure is unknown)."""
        return asdict(self)


@dataclass(frozen=True)
class EvaluationRecord:
    """evaluation-<split>.json: what was evaluated; every metric `compute_metrics` gives."""

    split: str
    dataset: str
    data_path: str | None
    model: str
    evaluated: str
    num_examples: int
    loss: float
    accuracy: float
    top_k: int
    top_k_accuracy: float
    macro_avg: dict[str, float]
    weighted_avg: dict[str, float]
    per_class: list[dict[str, Any]]  # class, precision, recall, f1, support
    class_names: list[str]
    confusion_matrix: list[list[int]]  # [true][predicted]


PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


def per_class_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    """The per-class table of an evaluation (`compute_metrics` or an `EvaluationRecord` as a
    dict): a row per class, then the macro and weighted averages, scores with 3 decimals."""
    rows = [
        [c["class"], *(f"{c[k]:.3f}" for k in ("precision", "recall", "f1")), c["support"]]
        for c in metrics["per_class"]
    ]
    for name in ("macro_avg", "weighted_avg"):
        average = metrics[name]
        rows.append(
            [
                name.replace("_", " "),
                *(f"{average[k]:.3f}" for k in ("precision", "recall", "f1")),
                metrics["num_examples"],
            ]
        )
    return rows


def _read_optional(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def write_config(run_dir: Path, config: Config) -> None:
    """Save the resolved config beside the run's other artifacts."""
    write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))


def write_environment(run_dir: Path, environment: dict[str, Any], from_epoch: int | None) -> None:
    """Write environment.json; a resumed run (`from_epoch`) appends to the first start's."""
    path = run_dir / ENVIRONMENT_FILE
    if from_epoch is not None:
        previous = read_json(path) if path.is_file() else {}
        resumed = {**environment, "from_epoch": from_epoch}
        environment = {**previous, "resumed": [*previous.get("resumed", []), resumed]}
    write_json(path, environment)


def write_classes(run_dir: Path, class_names: list[str]) -> None:
    """Write classes.json: the class names in the order of the model's outputs."""
    write_json(run_dir / CLASSES_FILE, list(class_names))


def read_classes(run_dir: Path) -> list[str] | None:
    """The class names the model predicts, or None if not written yet."""
    names = _read_optional(run_dir / CLASSES_FILE)
    return None if names is None else [str(name) for name in names]


def write_history(run_dir: Path, rows: list[HistoryRow]) -> None:
    """Write the per-epoch history rows (`epoch` from 1) as JSON and CSV."""
    write_json(run_dir / HISTORY_JSON, rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / HISTORY_CSV, buffer.getvalue())


def read_history(run_dir: Path) -> list[HistoryRow]:
    """The history rows written so far (empty if none)."""
    return list(_read_optional(run_dir / HISTORY_JSON) or [])


def _highest(rows: list[HistoryRow], key: str) -> tuple[float, int] | None:
    """(value, epoch) of the highest finite `key`, the earliest such epoch on a tie."""
    scored = [
        (row[key], -row["epoch"])
        for row in rows
        if isinstance(row.get(key), int | float) and math.isfinite(row[key])
    ]
    if not scored:
        return None
    value, negative_epoch = max(scored)
    return value, int(-negative_epoch)


def best_epoch(rows: list[HistoryRow]) -> tuple[int, str] | None:
    """The epoch with the highest validation accuracy (training accuracy if never validated)."""
    for key in ("val_accuracy", "accuracy"):
        if (best := _highest(rows, key)) is not None:
            return best[1], key
    return None


def best_validation_accuracy(rows: list[HistoryRow]) -> float | None:
    """The highest validation accuracy of the history, None if no epoch was validated."""
    best = _highest(rows, "val_accuracy")
    return None if best is None else best[0]


def read_status(run_dir: Path) -> RunRecord | None:
    """The run's status record (run.json), or None if there is none."""
    data = _read_optional(run_dir / RUN_FILE)
    return None if data is None else _from_dict(RunRecord, data)


def write_status(run_dir: Path, status: str, **changes: Any) -> RunRecord:
    """Record the run's status (running, completed, failed, interrupted) and other fields."""
    record = read_status(run_dir) or RunRecord(status, now())
    record = replace(record, **changes, status=status, updated=now())
    write_json(run_dir / RUN_FILE, _to_dict(record))
    return record


def last_checkpoint(run_dir: Path) -> CheckpointState | None:
    """What checkpoints/last.json records (epoch, file, best, callback state), if it exists."""
    data = _read_optional(run_dir / CHECKPOINT_DIR / LAST_STATE)
    return None if data is None else CheckpointState.from_dict(data)


def write_checkpoint_state(run_dir: Path, state: CheckpointState) -> None:
    """Replace checkpoints/last.json (after the checkpoint file it names is complete)."""
    write_json(run_dir / CHECKPOINT_DIR / LAST_STATE, asdict(state))


def write_metrics(run_dir: Path, metrics: Metrics) -> None:
    """Write metrics.json, the summary of a finished run."""
    write_json(run_dir / METRICS_FILE, metrics.to_dict())


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json as written (see `Metrics`), or {} for a run still in progress."""
    return dict(_read_optional(run_dir / METRICS_FILE) or {})


def write_evaluation(run_dir: Path, record: EvaluationRecord, key: str | None = None) -> list[Path]:
    """Write the evaluation's JSON summary, per-class CSV and confusion-matrix CSV.

    `key` names the files (`evaluation_key`; default the record's split).
    """
    split = key or record.split
    summary = run_dir / evaluation_file(split)
    write_json(summary, asdict(record))
    per_class = run_dir / per_class_file(split)
    write_csv(
        per_class,
        list(PER_CLASS_COLUMNS),
        [[row[key] for key in PER_CLASS_COLUMNS] for row in record.per_class],
    )
    confusion = run_dir / confusion_file(split)
    counts = zip(record.class_names, record.confusion_matrix, strict=True)
    write_csv(confusion, ["true \\ predicted", *record.class_names], [[n, *c] for n, c in counts])
    return [summary, per_class, confusion]


def read_evaluation(run_dir: Path, split: str) -> EvaluationRecord | None:
    """The saved evaluation for `split`, or None if the run was not evaluated on it."""
    data = _read_optional(run_dir / evaluation_file(split))
    return None if data is None else _from_dict(EvaluationRecord, data)


def now() -> str:
    """The local time as an ISO-8601 string to the second."""
    return datetime.now().isoformat(timespec="seconds")
