"""A sweep folder belongs to one study: the record it keeps of that study, and the refusal of
another study (another name, space, or a base config changed as `train --resume` refuses).

The record is the folder's `outputs` marker (`cnnzoo-output.json`, kind "sweep"): the study
name, the normalised space, the config file, the `--set` overrides and the resolved base config.
A sweep folder of an older cnnzoo has no record; it is known by its SQLite study database and
adopted, with this record, by the study that database holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnzoo.runs.resume import breaking_changes
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import ConfigError

SWEEP = "sweep"  # what `outputs` calls a sweep folder
STUDY_FILE = "study.db"  # the study's SQLite database, by default in the sweep folder


def study_record(
    study: str,
    space: dict[str, Any],
    space_file: Path,
    config_file: Path,
    overrides: tuple[str, ...],
    config: dict[str, Any],
) -> dict[str, Any]:
    """What the sweep folder records about its study (`config`: the resolved base config)."""
    record = {
        "study": study,
        "space": space,
        "space_file": str(space_file),
        "config_file": str(config_file),
        "overrides": list(overrides),
        "config": config,
    }
    return json.loads(json.dumps(record))  # as it reads back from the file


def is_older_sweep(folder: Path) -> bool:
    """A sweep folder of an older cnnzoo (no record): its SQLite study database."""
    try:
        with (folder / STUDY_FILE).open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\0"
    except OSError:
        return False


def check_folder(folder: Path, record: dict[str, Any], what: str) -> dict[str, Any] | None:
    """Refuse a folder that is not new, empty or this study's; return its record, if any.

    A folder of another study (or of this study with another space, or a base config changed in
    a way that breaks its trials) is refused with the differences: its trial folders are that
    study's, and an interrupted trial would resume from them.
    """
    outputs.check_destination(folder, SWEEP, what=what, folder=True, legacy=is_older_sweep)
    earlier = outputs.folder_record(folder)
    if earlier is None:
        return None
    differences = []
    if earlier.get("study") != record["study"]:
        differences.append(f"study: {earlier.get('study')!r} -> {record['study']!r}")
    old_space, new_space = earlier.get("space") or {}, record["space"]
    differences += [
        f"space {key}: {old_space.get(key)!r} -> {new_space.get(key)!r}"
        for key in sorted(old_space.keys() | new_space.keys())
        if old_space.get(key) != new_space.get(key)
    ]
    changes = breaking_changes(earlier.get("config") or {}, record["config"])
    differences += [f"config {change}" for change in changes]
    if differences:
        raise ConfigError(
            f"{folder} holds the sweep of study {earlier.get('study')!r} (config "
            f"{earlier.get('config_file')}, space {earlier.get('space_file')}); its trial folders "
            f"are that study's. This command differs: {'; '.join(differences)}. Run the study as "
            "it was started, or pick a new --output folder for a new study."
        )
    return earlier


def check_adopted(folder: Path, studies: list[str], study: str) -> None:
    """An older sweep folder is adopted only by a study its database holds (`studies`)."""
    if studies and study not in studies:
        raise ConfigError(
            f"{folder} holds the sweep of study {studies[0]!r}; its trial folders are that "
            f"study's, not {study!r}'s. Run it with --study {studies[0]}, or pick a new "
            "--output folder for a new study."
        )


def claim(folder: Path, record: dict[str, Any]) -> None:
    """Record in the folder that it is this study's sweep."""
    outputs.mark_folder(folder, SWEEP, **record)
