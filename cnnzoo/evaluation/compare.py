"""A leaderboard of runs: size, cost, speed and accuracy side by side."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, NamedTuple

from cnnzoo.runs.files import best_epoch
from cnnzoo.runs.folder import RunFolder, default_split, open_run
from cnnzoo.utils.errors import CnnzooError
from cnnzoo.utils.tables import FORMATS, render


class Column(NamedTuple):
    """A leaderboard column: its header, and whether `--sort` ranks high values first."""

    header: str
    high_first: bool = False


COLUMNS: dict[str, Column] = {
    "run": Column("run"),
    "model": Column("model"),
    "dataset": Column("dataset"),
    "parameters": Column("parameters"),
    "multiply_adds": Column("multiply-adds"),
    "best_val_accuracy": Column("best val acc", high_first=True),
    "best_epoch": Column("best epoch"),
    "test_accuracy": Column("test acc", high_first=True),
    "epochs": Column("epochs", high_first=True),
    "status": Column("status"),
    "seconds_per_epoch": Column("s/epoch"),
    "images_per_second": Column("images/s", high_first=True),
}


def _model_size(run: RunFolder) -> tuple[int | None, int | None]:
    """(parameters, multiply-adds) of the saved model, or of the configured one if not saved."""
    class_names = run.class_names
    if not run.model_path.is_file() and not class_names:
        return None, None
    if run.model_path.is_file():
        model = run.load_model()
    else:
        from cnnzoo.models import MODELS

        config = run.config
        build = MODELS.get(config.model.name).builder()
        model = build(config.image_shape, len(class_names or []), **config.model.options)
    from cnnzoo.evaluation.inspection import model_stats

    stats = model_stats(model)
    return stats.params, stats.multiply_adds


def _images_per_epoch(run: RunFolder, metrics: dict[str, Any]) -> int | None:
    train = run.config.train
    if train.steps_per_epoch:
        return train.steps_per_epoch * train.batch_size
    if isinstance(metrics.get("num_train"), int):
        return metrics["num_train"]
    from cnnzoo.datasets.sources import split_source  # lists files or reads the .npz; no TensorFlow

    try:
        split, _ = split_source(run.config.data, run.config.seed, "train")
    except CnnzooError:  # the data moved since training: leave the figure out
        return None
    return len(split) if split is not None else None


def _held_out_accuracy(run: RunFolder) -> float | None:
    for split in ("test", default_split(run.config)):
        result = run.evaluation(split)
        if result is not None:
            return float(result.accuracy)
    return None


def _status(run: RunFolder) -> str:
    """'completed', 'running, 3 of 10 epochs', 'stopped after 3 of 10 epochs, resumable'..."""
    state = run.state()
    return state.summary() if state else "unknown (no run.json)"


def leaderboard_row(run: RunFolder) -> dict[str, Any]:
    """One run's leaderboard entry, None where the run has no such figure (yet)."""
    rows = run.history()
    metrics = run.metrics()
    best = best_epoch(rows)
    best_row = next((row for row in rows if best and row["epoch"] == best[0]), {})
    seconds = [row["seconds"] for row in rows if row.get("seconds")]
    # The median skips the first epoch's one-off graph tracing and compilation.
    per_epoch = statistics.median(seconds) if seconds else None
    images = _images_per_epoch(run, metrics)
    parameters, multiply_adds = _model_size(run)
    return {
        "run": run.name if run.path.name == run.name else f"{run.name}/{run.path.name}",
        "model": run.config.model.name,
        "dataset": run.config.data.dataset,
        "parameters": parameters,
        "multiply_adds": multiply_adds,
        "best_val_accuracy": best_row.get("val_accuracy"),
        "best_epoch": best[0] if best and best[1] == "val_accuracy" else None,
        "test_accuracy": _held_out_accuracy(run),
        "epochs": len(rows),
        "status": _status(run),
        "seconds_per_epoch": per_epoch,
        "images_per_second": images / per_epoch if images and per_epoch else None,
    }


def leaderboard(run_dirs: Sequence[str], sort: str = "best_val_accuracy") -> list[dict[str, Any]]:
    """Rows for the given runs, best first by `sort` (runs lacking that figure go last)."""
    if sort not in COLUMNS:
        raise CnnzooError(f"--sort must be one of {', '.join(COLUMNS)}. Received: {sort!r}")
    rows = [leaderboard_row(open_run(path)) for path in run_dirs]
    present = [row for row in rows if row[sort] is not None]
    absent = [row for row in rows if row[sort] is None]
    present.sort(key=lambda row: row[sort], reverse=COLUMNS[sort].high_first)
    return present + absent


def format_cell(key: str, value: Any, fmt: str) -> str:
    """One leaderboard value as shown in `fmt` (table, markdown or csv); None is "-" or empty."""
    if value is None:
        return "" if fmt == "csv" else "-"
    if fmt == "csv":
        return str(value)
    if key in ("parameters", "multiply_adds"):
        return f"{value:,}"
    if key in ("best_val_accuracy", "test_accuracy"):
        return f"{value:.4f}"
    if key == "seconds_per_epoch":
        return f"{value:.2f}"
    if key == "images_per_second":
        return f"{value:,.0f}"
    return str(value)


def format_leaderboard(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """Render leaderboard rows as a terminal table, Markdown or CSV."""
    if fmt not in FORMATS:
        raise CnnzooError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    keys = list(COLUMNS)
    headers = keys if fmt == "csv" else [COLUMNS[key].header for key in keys]
    cells = [[format_cell(key, row[key], fmt) for key in keys] for row in rows]
    return render(headers, cells, fmt)
