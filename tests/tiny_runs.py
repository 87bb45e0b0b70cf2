"""Helpers for training-engine tests: tiny configs on generated MNIST, CLI runs, run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .helpers import REPO

T = TypeVar("T")

IGNORED_COLUMNS = {"seconds"}  # wall time is the one history column that may differ


def tiny_config(folder: Path, mnist_npz: Path, name: str = "tiny", **sections: Any) -> Path:
    """Write a LeNet-on-generated-MNIST config; `train={...}` etc. override the defaults."""
    config: dict[str, Any] = {
        "name": name,
        "seed": 7,
        "output_dir": str(folder / "runs"),
        "data": {"dataset": "mnist", "path": str(mnist_npz)},
        "model": {"name": "lenet", "variant": "modern"},
        "train": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, "steps_per_epoch": 3},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config[section] = {**config.get(section, {}), **values}
        else:
            config[section] = values
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# What TensorFlow prints natively at start-up, and a traceback: never on a user's stderr.
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub", "cuInit", "Traceback")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell gives: no TF_CONFIG, the CLI's own log level."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TF_CPP_MIN_LOG_LEVEL")}
    return {**env, **extra}


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m cnnzoo ARGS` without waiting; stdout and stderr are captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", *args],
        cwd=REPO,
        env=env or cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As in a terminal: a test suite started in the background (`pytest &` in a script)
        # passes SIGINT on as ignored, and the Ctrl-C tests would then see no interrupt.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    """Wait for a started CLI process: (exit code, stdout, stderr)."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_for(
    found: Callable[[], T | None], process: subprocess.Popen, timeout: float, what: str
) -> T:
    """What `found()` returns once it is not None, polled every 0.1 s; fail if `process` ends
    first (with its output) or after `timeout` seconds (killing it). `what` names the wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended while waiting for {what}:\n{out}\n{err}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"waited {timeout} s for {what} in vain")


def wait_for_checkpoint(run_dir: Path, epoch: int, process: subprocess.Popen, timeout=240) -> None:
    """Block until `run_dir` holds the checkpoint of `epoch` (fail if the process ends first)."""
    last = run_dir / "checkpoints" / "last.json"

    def reached() -> bool | None:
        return (last.exists() and json.loads(last.read_text())["epoch"] >= epoch) or None

    wait_for(reached, process, timeout, f"the checkpoint of epoch {epoch} in {run_dir}")


def read(run_dir: Path, name: str) -> Any:
    """A JSON file of the run folder."""
    return json.loads((run_dir / name).read_text(encoding="utf-8"))


def history(run_dir: Path) -> list[dict[str, float]]:
    """history.json without the wall-time column."""
    return [
        {k: v for k, v in row.items() if k not in IGNORED_COLUMNS}
        for row in read(run_dir, "history.json")
    ]
