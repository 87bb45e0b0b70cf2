"""Run folders: where a training run keeps its config, environment, history, model and metrics."""

from __future__ import annotations

import csv
import json
import os
import platform
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnzoo import __version__
from cnnzoo.config import Config, to_yaml

CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
CLASSES_FILE = "classes.json"
HISTORY_PLOT = "history.png"


def new_run_dir(config: Config, output: Path | None = None) -> Path:
    """Create `output`, or `<output_dir>/<name>/<timestamp>/`, and return it."""
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path(config.output_dir) / config.name / stamp
        suffix = 1
        while output.exists():
            output = output.with_name(f"{stamp}-{suffix}")
            suffix += 1
    output.mkdir(parents=True, exist_ok=True)
    return output


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write pretty JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_config(run_dir: Path, config: Config) -> None:
    """Save the resolved config beside the run's other artifacts."""
    write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))


def environment(config: Config, devices: list[str] | None = None) -> dict[str, Any]:
    """The seed, library versions and devices a run used."""
    import keras
    import numpy
    import tensorflow as tf

    return {
        "seed": config.seed,
        "cnnzoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "devices": devices
        if devices is not None
        else [d.name for d in tf.config.list_logical_devices()],
        "started": datetime.now().isoformat(timespec="seconds"),
    }


def write_history(run_dir: Path, history: dict[str, list[float]]) -> None:
    """Write the per-epoch history as CSV and JSON (one row per epoch, `epoch` from 1)."""
    keys = list(history)
    epochs = len(history[keys[0]]) if keys else 0
    rows = [{"epoch": i + 1, **{k: history[k][i] for k in keys}} for i in range(epochs)]
    write_json(run_dir / HISTORY_JSON, rows)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".history.", suffix=".tmp")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", *keys])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, run_dir / HISTORY_CSV)


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The history rows written so far (empty if none)."""
    path = run_dir / HISTORY_JSON
    return read_json(path) if path.exists() else []
