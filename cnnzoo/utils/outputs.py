"""The one output guard: where a command may write, and how cnnzoo knows what it wrote.

Every command that writes asks `check_destination` before any work starts. A destination is
written only if it is new, an empty folder, or cnnzoo's own earlier output of the same kind;
nothing cnnzoo did not write is replaced or deleted. cnnzoo recognises its output by a record,
never by a substring of the content:
- a run folder by its `run.json`;
- another folder cnnzoo made (a sweep, a SavedModel export, explain's pictures) by
  `cnnzoo-output.json` inside it, naming the kind (and, where it will be replaced whole, the
  files it holds);
- a single file by metadata embedded in it where the format has a place for it (an HTML report's
  `<meta name="generator">`, a picture's PNG text chunk or SVG creator), else by a sidecar
  `NAME.cnnzoo.json` beside it with its kind and the SHA-256 of what was written: a file changed
  since then is no longer cnnzoo's.
Everything inside a run folder belongs to that run: only a command working on that run writes
there, and over an existing file only at the command's documented place or of its own kind.
Writes are atomic: a folder is built beside its destination and renamed into place, a file
(`staged_file`, `save_figure`) written under a hidden name beside it and renamed over it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cnnzoo.utils.atomic import check_writable, write_json
from cnnzoo.utils.errors import CnnzooError

RUN_FILE = "run.json"  # a run folder's record (runs.RUN_FILE)
MARKER = "cnnzoo-output.json"  # inside a folder cnnzoo made that is not a run
SIDECAR_SUFFIX = ".cnnzoo.json"  # beside a single file (or cache entry) cnnzoo wrote
CREATOR = "cnnzoo"  # embedded metadata reads "cnnzoo KIND", e.g. "cnnzoo report"
FORCE = "--force"  # the one flag that asks to replace an earlier output of the same kind


class OutputRefused(CnnzooError):
    """A destination cnnzoo will not write (exit code 1); nothing has been written."""


def creator(kind: str) -> str:
    """The embedded-metadata value that marks a file as cnnzoo's `kind` output."""
    return f"{CREATOR} {kind}"


def sidecar(path: Path) -> Path:
    """The ownership record beside a single file: `NAME.cnnzoo.json`."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as 64 hexadecimal characters."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("kind"), str) else None


def folder_record(folder: Path) -> dict[str, Any] | None:
    """The record `mark_folder` left in `folder`, or None."""
    return _read_record(Path(folder) / MARKER)


def mark_folder(folder: Path, kind: str, **record: Any) -> None:
    """Record in `folder` that cnnzoo made it as `kind` output (plus `record`)."""
    write_json(Path(folder) / MARKER, {"kind": kind, **record})


def mark_file(path: Path, kind: str, **record: Any) -> None:
    """Record beside `path` that cnnzoo wrote it as `kind` (with its SHA-256 if it is a file)."""
    path = Path(path)
    digest = {"sha256": sha256_file(path)} if path.is_file() else {}
    write_json(sidecar(path), {"kind": kind, **digest, **record})


class _Generator(HTMLParser):
    """The content of the first `<meta name="generator">` of an HTML head."""

    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("name") == "generator" and self.found is None:
            self.found = values.get("content") or ""


def _html_creator(path: Path) -> str | None:
    with path.open(encoding="utf-8", errors="replace") as handle:
        head = handle.read(65536)
    parser = _Generator()
    parser.feed(head.split("</head>", 1)[0])
    return parser.found


def _png_creator(path: Path) -> str | None:
    """The PNG's `Software` text chunk (matplotlib's `metadata=`), read chunk by chunk."""
    with path.open("rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while header := handle.read(8):
            if len(header) < 8:
                return None
            length, chunk = struct.unpack(">I4s", header)
            if chunk == b"IDAT" or chunk == b"IEND":
                return None  # matplotlib writes its text chunks before the image data
            data = handle.read(length)
            handle.read(4)  # CRC
            if chunk == b"tEXt" and b"\0" in data:
                key, _, value = data.partition(b"\0")
                if key == b"Software":
                    return value.decode("latin-1")
    return None


def _svg_creator(path: Path) -> str | None:
    """The SVG's Dublin Core creator (matplotlib's `metadata={"Creator": ...}`)."""
    dc = "{http://purl.org/dc/elements/1.1/}"
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return None
    title = root.find(f".//{dc}creator//{dc}title")
    return title.text if title is not None else None


EMBEDDED = {".html": _html_creator, ".htm": _html_creator, ".png": _png_creator}
EMBEDDED[".svg"] = _svg_creator
FIGURE_SUFFIXES = (".png", ".svg")  # the picture formats whose files carry cnnzoo's record


def figure_metadata(path: Path, kind: str) -> dict[str, str]:
    """matplotlib's `savefig(metadata=...)` that marks a PNG or SVG as cnnzoo's `kind`."""
    key = "Creator" if Path(path).suffix.lower() == ".svg" else "Software"
    return {key: creator(kind)}


def recorded_kind(path: Path) -> str | None:
    """What cnnzoo output `path` is by its record ("run", "report", ...); None: not cnnzoo's."""
    path = Path(path)
    if path.is_dir():
        if (path / RUN_FILE).is_file():
            return "run"
        record = folder_record(path)
        if record is not None:
            return record["kind"]
    record = _read_record(sidecar(path))
    if record is not None:
        if path.is_file() and record.get("sha256") != sha256_file(path):
            return None  # changed since cnnzoo wrote it: the user's now
        return record["kind"]
    read = EMBEDDED.get(path.suffix.lower())
    value = read(path) if read is not None and path.is_file() else None
    if value and value.startswith(f"{CREATOR} "):
        return value.removeprefix(f"{CREATOR} ")
    return None


def owning_run(path: Path) -> Path | None:
    """The run folder that `path` is or lies in, or None."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        if (folder / RUN_FILE).is_file():
            return folder
    return None


def _same(first: Path | None, second: Path | None) -> bool:
    if first is None or second is None:
        return False
    return Path(first).resolve() == Path(second).resolve()


def _unlisted(folder: Path, record: dict[str, Any]) -> list[str]:
    """Files in `folder` that its record does not list (only for records that list files)."""
    if "files" not in record:
        return []
    listed = set(record["files"]) | {MARKER}
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    return sorted(name for name in found if name not in listed)


def _refuse(what: str, path: Path, why: str, fix: str) -> OutputRefused:
    kept = "; it is left as it is." if path.exists() else "."
    return OutputRefused(f"{what}: {path} {why}{kept} {fix} Received: {path}")


def check_destination(
    path: Path,
    kind: str,
    *,
    what: str = "--output",
    folder: bool = False,
    run: Path | None = None,
    default: Path | None = None,
    force: bool | None = None,
    legacy: Callable[[Path], bool] | None = None,
    fix: str | None = None,
) -> bool:
    """Refuse `path` unless it is new, an empty folder, or cnnzoo's own `kind` output.

    Returns whether there is an earlier output there to replace. `what` names where the path
    came from; `folder` says the output is a folder. `run` is the run folder the command works
    on (its files are then its own); `default` the command's documented place in that run, which
    holds its output even when an older cnnzoo wrote it without a record. `force` is None for a
    command that replaces its own earlier output as documented, else whether --force was given.
    `legacy` recognises the command's output written before records existed; `fix` replaces
    the advice to pick a new path.
    """
    path = Path(path)
    check_writable(path, what, folder=folder)
    pick = fix or ("Pick a new path (or an empty folder)." if folder else "Pick a new file name.")
    _check_not_another_runs(path, kind, run, what, pick)
    if not path.exists() and not path.is_symlink():
        return False
    if folder != path.is_dir():
        shape = "a folder, not a file" if path.is_dir() else "a file, not a folder"
        raise _refuse(what, path, f"is {shape}", pick)
    if folder and not any(path.iterdir()):
        return False
    found = recorded_kind(path)
    if found is None and (_same(path, default) or (legacy is not None and legacy(path))):
        found = kind
    if found is None:
        held = "already holds files" if folder else "exists"
        what_it_is = f"a cnnzoo {kind} folder" if folder else f"a cnnzoo {kind}"
        why = f"{held} and is not {what_it_is} (cnnzoo never replaces what it did not write)"
        raise _refuse(what, path, why, pick)
    if found != kind:
        raise _refuse(what, path, f"is cnnzoo's {found} output, not {kind} output", pick)
    extra = _unlisted(path, folder_record(path) or {}) if folder else []
    if extra:
        why = f"holds files cnnzoo did not write ({', '.join(extra[:3])})"
        raise _refuse(what, path, why, pick)
    if force is False:
        fix = f"Pass {FORCE} to replace it, or {pick[0].lower()}{pick[1:]}"
        raise _refuse(what, path, f"holds an earlier {kind}", fix)
    return True


def _check_not_another_runs(path: Path, kind: str, run: Path | None, what: str, pick: str) -> None:
    """A run folder is no other kind's destination, and nothing inside it is another run's."""
    owner = owning_run(path)
    if owner is None:
        return
    if _same(owner, path) and kind != "run":
        raise _refuse(what, path, f"is a run folder, not {kind} output", pick)
    if not _same(owner, run):
        why = f"is inside the run {owner}, where only commands on that run write"
        raise _refuse(what, path, why, pick)


@contextlib.contextmanager
def staged_folder(path: Path) -> Iterator[Path]:
    """A path beside `path`, not yet existing, to build the output folder at; moved on success.

    An earlier output at `path` (which `check_destination` accepted) is removed only after
    the new one is complete; on failure the new one goes and `path` stays as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        yield temp / path.name
        if path.exists():
            old = temp / "previous"
            path.rename(old)
        (temp / path.name).rename(path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` (same suffix) to write to; renamed to `path` on success.

    Whatever stops the write (a full disk, Ctrl-C) leaves nothing new under `path` and no
    temporary file; a file-system error names `path`, not the hidden temporary name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield temp
        os.replace(temp, path)
    except OSError as error:
        if error.filename is None or Path(os.fsdecode(error.filename)) != temp:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error
    finally:
        temp.unlink(missing_ok=True)


def save_figure(figure: Any, path: Path, kind: str, **options: Any) -> Path:
    """Save a matplotlib figure atomically, marked as cnnzoo's `kind` output."""
    path = Path(path)
    with staged_file(path) as temp:
        figure.savefig(
            temp,
            format=path.suffix.lstrip(".").lower() or None,
            metadata=figure_metadata(path, kind),
            **options,
        )
    return path
