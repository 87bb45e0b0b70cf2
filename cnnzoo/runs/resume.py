"""May a run folder continue, and with which config? Checked before TensorFlow starts."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from cnnzoo.config.schema import Config, load_config, to_dict
from cnnzoo.runs import files as runs
from cnnzoo.utils import processes
from cnnzoo.utils.cluster import parse_tf_config
from cnnzoo.utils.errors import CnnzooError, ConfigError

# Config keys a resumed run may change without invalidating what was trained so far.
RESUMABLE_CHANGES = {
    "name",
    "output_dir",
    "train.epochs",
    "train.early_stopping_patience",
    "train.tensorboard",
    # Only the moving statistics, the not-learning policy and how many steps a call into
    # TensorFlow runs: the weights train the same.
    "train.batch_norm_stats",
    "train.batch_norm_images",
    "train.steps_per_execution",
    "train.on_collapse",
    "data.data_dir",
    "data.download",
    "data.cache",
    "data.bad_files",
    "data.url",
    "data.sha256",
}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(
    saved: Config | dict[str, Any], new: Config | dict[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Every key whose value differs: key -> (saved, new); a dict is a `to_dict` config."""
    old, now = (flatten(c if isinstance(c, dict) else to_dict(c)) for c in (saved, new))
    return {
        k: (old.get(k), now.get(k))
        for k in sorted(old.keys() | now.keys())
        if old.get(k) != now.get(k)
    }


def breaking_changes(saved: Config | dict[str, Any], new: Config | dict[str, Any]) -> list[str]:
    """`key: before -> after` for each change that would break what was trained in `saved`.

    Devices (`hardware.*`) may change freely, and the keys in RESUMABLE_CHANGES. Used by
    `train --resume` and by a sweep run again (whose trials resume).
    """
    return [
        f"{key}: {before!r} -> {after!r}"
        for key, (before, after) in config_changes(saved, new).items()
        if key not in RESUMABLE_CHANGES and not key.startswith("hardware.")
    ]


def resume_config(
    run_dir: Path, config_file: Path | None = None, overrides: list[str] | None = None
) -> Config:
    """The config to resume `run_dir` with, refusing runs that cannot or need not continue."""
    status = runs.read_status(run_dir)
    if status is None or not (run_dir / runs.CONFIG_FILE).exists():
        what = (
            "does not exist"
            if not run_dir.exists()
            else f"has no {runs.RUN_FILE} or {runs.CONFIG_FILE}"
        )
        raise CnnzooError(
            f"{run_dir} is not a cnnzoo run folder: it {what}. Pass the folder `cnnzoo train` "
            "printed as 'Run folder: ...'."
        )
    saved = load_config(run_dir / runs.CONFIG_FILE, saved=True)
    new = load_config(
        config_file or run_dir / runs.CONFIG_FILE, overrides or [], saved=not config_file
    )
    breaking = breaking_changes(saved, new)
    # Devices may change freely; the precision may not, since checkpoints hold its optimizer.
    trained_in, asked = status.precision, new.hardware.precision
    if trained_in and asked not in ("auto", trained_in):
        breaking.append(f"hardware.precision: trained in {trained_in!r}, asked {asked!r}")
    if breaking:
        raise ConfigError(
            f"Cannot resume {run_dir}: the config changed in ways that break the trained run "
            f"({'; '.join(breaking)}). Undo those changes, or start a new run with --config."
        )
    _check_not_running(run_dir, status)
    done, planned = status.epochs_completed or 0, saved.train.epochs
    if status.status == "completed" and new.train.epochs <= planned:
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


def _check_not_running(run_dir: Path, status: runs.RunRecord) -> None:
    pid = status.pid
    if status.status != "running" or not pid or status.host != socket.gethostname():
        return
    cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
    if cluster is not None and not cluster.chief:
        return  # a worker resuming beside its chief, which has just marked the run running
    if not processes.is_alive(pid):
        return  # the process died (killed, crashed): resuming is what it needs
    raise CnnzooError(
        f"{run_dir} is still being trained by process {pid}. Stop it first (Ctrl-C), then resume."
    )
