"""Helpers for tests: run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout=600):
    """Run `python -m cnnzoo ARGS` in a subprocess and return the CompletedProcess."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cnnzoo", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def python_prints(code: str, cwd: Path | None = None) -> list[str]:
    """The words a new Python interpreter prints running `code` in `cwd` (default: the
    repository); fails, showing its stderr, if it exits non-zero."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd or REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def one_error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The command failed with `code` and printed exactly one `error:` line and no traceback on
    stderr; that line."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def sha256_tree(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under `paths` (folders listed as such): compare before and after."""
    import hashlib

    found = {}
    for root in paths:
        for item in [root, *root.rglob("*")] if root.is_dir() else [root]:
            found[str(item)] = (
                "folder" if item.is_dir() else hashlib.sha256(item.read_bytes()).hexdigest()
            )
    return found
