"""Run folders: where a training run keeps its config, status, history, checkpoints and results.

Nothing here imports TensorFlow, so resume checks (is this a run, may it resume with this config)
run before TensorFlow starts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import socket
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnzoo import __version__
from cnnzoo.config import Config, load_config, to_dict, to_yaml
from cnnzoo.devices import parse_tf_config
from cnnzoo.errors import CnnzooError, ConfigError

CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
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

# Config keys a resumed run may change without invalidating what was trained so far.
RESUMABLE_CHANGES = {
    "name",
    "output_dir",
    "train.epochs",
    "train.early_stopping_patience",
    "train.tensorboard",
    "data.data_dir",
    "data.download",
    "data.cache",
    "data.bad_files",
    "data.url",
    "data.sha256",
}


def new_run_dir(config: Config, output: Path | None = None) -> Path:
    """Create `output`, or `<output_dir>/<name>/<timestamp>/`, and return it."""
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path(config.output_dir) / config.name / stamp
        suffix = 1
        while output.exists():
            output = output.with_name(f"{stamp}-{suffix}")
            suffix += 1
    elif (output / RUN_FILE).exists():
        raise CnnzooError(
            f"{output} already holds a run. Continue it with `cnnzoo train --resume {output}`, "
            "or pick a new --output folder."
        )
    output.mkdir(parents=True, exist_ok=True)
    return output


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        # mkstemp creates 0600 files; give them the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write pretty JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def save_model(model: Any, path: Path) -> None:
    """Save a Keras model (`.keras`) so that readers never see a half-written file."""
    partial = path.with_name(f".{path.name}.partial.keras")
    model.save(partial)
    partial.replace(path)


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_config(run_dir: Path, config: Config) -> None:
    """Save the resolved config beside the run's other artifacts."""
    write_text_atomic(run_dir / CONFIG_FILE, to_yaml(config))


def environment(config: Config, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed, library versions, devices and device plan a run used."""
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
        "host": socket.gethostname(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "plan": plan,
        "started": now(),
    }


def write_history(run_dir: Path, rows: list[dict[str, float]]) -> None:
    """Write the per-epoch history rows (`epoch` from 1) as JSON and CSV."""
    write_json(run_dir / HISTORY_JSON, rows)
    fields = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / HISTORY_CSV, buffer.getvalue())


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The history rows written so far (empty if none)."""
    path = run_dir / HISTORY_JSON
    return read_json(path) if path.exists() else []


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's status record (run.json), or {} if there is none."""
    path = run_dir / RUN_FILE
    return read_json(path) if path.exists() else {}


def write_status(run_dir: Path, status: str, **fields: Any) -> dict[str, Any]:
    """Record the run's status (running, completed, failed, interrupted) and other fields."""
    record = {**read_status(run_dir), **fields, "status": status, "updated": now()}
    write_json(run_dir / RUN_FILE, record)
    return record


def last_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """What checkpoints/last.json records (epoch, file, best, callback state), if it exists."""
    path = run_dir / CHECKPOINT_DIR / LAST_STATE
    if not path.exists():
        return None
    state = read_json(path)
    state["path"] = str(run_dir / CHECKPOINT_DIR / state["checkpoint"])
    return state


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(saved: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Every key whose value differs: key -> (saved, new)."""
    old, now = flatten(to_dict(saved)), flatten(to_dict(new))
    return {
        k: (old.get(k), now.get(k))
        for k in sorted(old.keys() | now.keys())
        if old.get(k) != now.get(k)
    }


def resume_config(
    run_dir: Path, config_file: Path | None = None, overrides: list[str] | None = None
) -> Config:
    """The config to resume `run_dir` with, refusing runs that cannot or need not continue."""
    status = read_status(run_dir)
    if not status or not (run_dir / CONFIG_FILE).exists():
        what = "does not exist" if not run_dir.exists() else f"has no {RUN_FILE} or {CONFIG_FILE}"
        raise CnnzooError(
            f"{run_dir} is not a cnnzoo run folder: it {what}. Pass the folder `cnnzoo train` "
            "printed as 'Run folder: ...'."
        )
    saved = load_config(run_dir / CONFIG_FILE, saved=True)
    new = load_config(config_file or run_dir / CONFIG_FILE, overrides or [], saved=not config_file)
    breaking = [
        f"{key}: {before!r} -> {after!r}"
        for key, (before, after) in config_changes(saved, new).items()
        if key not in RESUMABLE_CHANGES and not key.startswith("hardware.")
    ]
    # Devices may change freely; the precision may not, since checkpoints hold its optimizer.
    trained_in, asked = status.get("precision"), new.hardware.precision
    if trained_in and asked not in ("auto", trained_in):
        breaking.append(f"hardware.precision: trained in {trained_in!r}, asked {asked!r}")
    if breaking:
        raise ConfigError(
            f"Cannot resume {run_dir}: the config changed in ways that break the trained run "
            f"({'; '.join(breaking)}). Undo those changes, or start a new run with --config."
        )
    _check_not_running(run_dir, status)
    done, planned = status.get("epochs_completed", 0), saved.train.epochs
    if status.get("status") == "completed" and new.train.epochs <= planned:
        raise CnnzooError(
            f"{run_dir} already finished ({done} of {planned} epochs). To train longer, raise the "
            f"epochs: cnnzoo train --resume {run_dir} --set train.epochs={planned + 10}"
        )
    if done >= new.train.epochs:
        raise CnnzooError(
            f"{run_dir} has already trained {done} epochs, train.epochs is {new.train.epochs}. "
            f"Received: train.epochs={new.train.epochs}; use a larger value."
        )
    if trained_in and asked == "auto":
        hardware = new.hardware.model_copy(update={"precision": trained_in})
        new = new.model_copy(update={"hardware": hardware})
    return new


def _check_not_running(run_dir: Path, status: dict[str, Any]) -> None:
    pid = status.get("pid")
    if status.get("status") != "running" or not pid or status.get("host") != socket.gethostname():
        return
    cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
    if cluster is not None and not cluster.chief:
        return  # a worker resuming beside its chief, which has just marked the run running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # the process died (killed, crashed): resuming is what it needs
    except PermissionError:
        pass
    raise CnnzooError(
        f"{run_dir} is still being trained by process {pid}. Stop it first (Ctrl-C), then resume."
    )


def now() -> str:
    """The local time as an ISO-8601 string to the second."""
    return datetime.now().isoformat(timespec="seconds")
