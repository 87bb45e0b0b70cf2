"""Atomic file writes: a reader (or a run killed mid-write) never sees half a file."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cnnzoo.utils.errors import CnnzooError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a half-written file.

    A file-system error names `path` (not the hidden temporary file, nor nothing, as a full
    disk's error would).
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        # mkstemp creates 0600 files; give them the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, what: str, *, folder: bool = False) -> None:
    """Refuse, before any work starts, a file or folder path that cannot be written.

    `what` names the option or setting the path came from (e.g. "--output"); `folder` says the
    path is to be a folder. The nearest existing folder on the path must be one the user may
    write into; a file on the way (`notes.txt/x`) or a read-only folder is one clear error.
    """
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() and (folder or existing != Path(path)):
        made = "no folder can be made" if folder else "nothing can be written"
        raise CnnzooError(
            f"{what}: {existing} is a file, so {made} at {path}. Pick a path in a folder. "
            f"Received: {path}"
        )
    folder = existing if existing.is_dir() else existing.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CnnzooError(
            f"{what}: {folder} is not writable (permission denied or a read-only file system), "
            f"so nothing can be written at {path}. Pick a writable folder, or change its "
            f"permissions. Received: {path}"
        )


def write_json(path: Path, data: Any) -> None:
    """Write pretty JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; a damaged or unreadable one is a one-line error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CnnzooError(f"Cannot read {path}: {error}") from None


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write a CSV table atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def save_model(model: Any, path: Path) -> None:
    """Save a Keras model (`.keras`) so that readers never see a half-written file."""
    partial = path.with_name(f".{path.name}.partial.keras")
    model.save(partial)
    partial.replace(path)
