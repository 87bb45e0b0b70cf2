"""Dataset files that cannot be used: why (read error or not an image), and telling the user once.

A file that cannot be read (permission, I/O error, gone) is an error whatever `data.bad_files`
says: the data is not what the user thinks it is. A file that reads but does not decode as an
image is left out with one warning (`data.bad_files: skip`) or refused (`error`), every split
checked before training starts so one message lists them all. Each file is reported at most
once per process, however many splits, passes or epochs meet it.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import NamedTuple

import keras

from cnnzoo.utils.errors import CnnzooError

UNREADABLE = "not a decodable image (JPEG, PNG, GIF, BMP or WebP)"
SHOWN = 10  # files named in one message; the rest are counted

_lock = threading.Lock()
_reported: set[Path] = set()
_epoch: list[int] = []  # the epoch training is in (1-based), when a callback tells us


class BadFilesWarning(UserWarning):
    """Some dataset files are not decodable images and were skipped."""


class BadFile(NamedTuple):
    """A dataset file that could not be used, and why."""

    path: Path
    reason: str
    read_error: bool  # True: the file could not be read; False: it read but is not an image


def diagnose(path: Path) -> BadFile:
    """Why `path` failed to decode: a read error (with the system's reason) or not an image."""
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as error:
        return BadFile(path, f"cannot be read: {error.strerror or type(error).__name__}", True)
    return BadFile(path, UNREADABLE, False)


def listing(paths: list[Path]) -> str:
    """Up to SHOWN paths, comma-separated, then how many more."""
    shown = ", ".join(str(p) for p in paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def report(found: dict[str, tuple[int, list[BadFile]]], mode: str) -> None:
    """Refuse or warn about the bad files of several splits: {split: (file count, bad files)}.

    Unreadable files are always an error; undecodable ones as `data.bad_files` (`mode`) says.
    Files already reported in this process are not reported again.
    """
    unread = [bad for _, files in found.values() for bad in files if bad.read_error]
    if unread:
        reasons = ", ".join(sorted({bad.reason.removeprefix("cannot be read: ") for bad in unread}))
        one = len(unread) == 1
        raise CnnzooError(
            f"{len(unread)} dataset file{'' if one else 's'} cannot be read ({reasons}): "
            f"{listing([bad.path for bad in unread])}. Fix {'its' if one else 'their'} "
            f"permissions or the disk, or move {'it' if one else 'them'} out of the dataset folder."
        )
    parts = [
        f"{len(files)} of {total} {split} files" for split, (total, files) in found.items() if files
    ]
    paths = [bad.path for _, files in found.values() for bad in files]
    if not paths:
        return
    what = f"{' and '.join(parts)} are {UNREADABLE}: {listing(paths)}"
    if mode == "error":
        raise CnnzooError(f"{what}. Remove them, or set data.bad_files: skip to leave them out.")
    for split, (total, files) in found.items():
        if files and len(files) == total:
            raise CnnzooError(f"No decodable images in the {split} split: {what}.")
    with _lock:
        new = [path for path in paths if path not in _reported]
        _reported.update(paths)
    if new:
        warnings.warn(f"{what}. Skipped (data.bad_files: skip).", BadFilesWarning, stacklevel=3)


def failed_later(path: Path, split: str) -> None:
    """Warn (once per file) that a file that decoded before failed in a later pass."""
    bad = diagnose(path)
    with _lock:
        if path in _reported:
            return
        _reported.add(path)
        when = f"in epoch {_epoch[-1]}" if _epoch else "on a later pass"
    warnings.warn(
        f"The {split} file {path} failed {when} ({bad.reason}); another image of the split "
        "stands in for it while it fails. Fix or remove it, then train again.",
        BadFilesWarning,
        stacklevel=2,
    )


class EpochNote(keras.callbacks.Callback):
    """Tells this module which epoch training is in, for warnings about files failing mid-run."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Record the (1-based) epoch."""
        _epoch[:] = [epoch + 1]


def forget() -> None:
    """Forget what was reported and the epoch (a new run in the same process, or a test)."""
    with _lock:
        _reported.clear()
        _epoch.clear()
