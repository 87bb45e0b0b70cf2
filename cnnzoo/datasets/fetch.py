"""Fetching into the cache, shared by every dataset: the cache folder, atomic staging, and
hash-checked file downloads through `pooch` (no TensorFlow).

Every download lands in a temporary folder beside its destination (`.<name>.partial-*`), is checked
(hash, then the dataset's layout) and only then renamed into place, so an interrupted or corrupt
download never looks complete. Leftover temporary folders are removed by the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError, ConfigError

TIMEOUT_SECONDS = 60  # per connection attempt and per stalled read, not for the whole transfer


class Fetched(NamedTuple):
    """Where a dataset is, and whether this call put it there (False: it was already there)."""

    path: Path
    fetched: bool


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder for downloads: `override`, else $CNNZOO_DATA_DIR, else ~/.cache/cnnzoo."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("CNNZOO_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cnnzoo"


def option(flag: str, value: str | os.PathLike[str] | None) -> str:
    """` --flag 'value'` for a command line shown to the user, or '' when there is no value."""
    return f" {flag} {shlex.quote(str(value))}" if value else ""


def download_command(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sha256: str | None = None,
) -> str:
    """The `cnnzoo download` command a message tells the user to run, with the flags in use."""
    return (
        f"cnnzoo download {dataset}"
        + option("--data-dir", data_dir)
        + option("--url", url)
        + option("--sha256", sha256)
    )


DOWNLOAD = "download"  # what `outputs` calls a dataset cnnzoo put into a cache folder


def _in_default_cache(target: Path) -> bool:
    """Whether `target` is in the default cache folder, cnnzoo's by definition (no records)."""
    return target.parent.resolve() == data_home().resolve()


def check_target(target: Path) -> None:
    """Refuse a download into a run folder, or replacing (--force) what cnnzoo did not download:
    only its own downloads, and anything in the default cache folder, are replaced."""
    own_cache = _in_default_cache(target)
    outputs.check_destination(
        target,
        DOWNLOAD,
        what="data folder",
        folder=target.is_dir(),
        legacy=lambda _: own_cache,
        fix="Pass another --data-dir (or move what is there away).",
    )


@contextlib.contextmanager
def staging(parent: Path, name: str) -> Iterator[Path]:
    """A fresh temporary folder beside the destination, removed afterwards whatever happens.

    A destination already there (`--force`) must be cnnzoo's download, and none is made inside a
    run folder (`check_target`); what is there when the block ends is recorded as cnnzoo's (a
    sidecar `NAME.cnnzoo.json`, outside the default cache folder).
    """
    target = parent / name
    check_target(target)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # Leftovers of a killed download; a download running elsewhere at this moment would lose
        # its temporary folder and fail cleanly, which is acceptable for a cache.
        for stale in parent.glob(f".{name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent))
    except OSError as error:
        raise CnnzooError(
            f"Cannot write to the data folder {parent}: {error.strerror}. Pass --data-dir or set "
            "CNNZOO_DATA_DIR (or data.data_dir) to a writable folder."
        ) from None
    try:
        yield temp
        if target.exists() and not _in_default_cache(target):
            outputs.mark_file(target, DOWNLOAD)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def replace_into(source: Path, target: Path, temp: Path) -> None:
    """Rename folder `source` to `target`; an old `target` (--force) goes into `temp`, which is
    deleted afterwards, so `target` is never half old, half new."""
    if target.exists() or target.is_symlink():
        target.rename(temp / "previous")
    source.rename(target)


def expected_sha256(value: str | None, key: str = "data.sha256") -> str:
    """`value` as 64 lowercase hexadecimal characters, or a ConfigError saying what is expected."""
    digest = (value or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(
            f"{key} must be the file's SHA-256 as 64 hexadecimal characters (as `sha256sum` "
            f"prints it). Received: {value!r}"
        )
    return digest


def _reason(error: BaseException) -> str:
    """The useful part of a requests/urllib3 error: 'HTTP 404 Not Found', '[Errno 111] ...'."""
    import requests

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}"
    text = str(error)
    match = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return match.group(0).strip() if match else (text or type(error).__name__)


class PlainProgress:
    """Download progress for a pipe or a log: a plain line at each quarter, no bar, no escapes.

    pooch drives it like a tqdm bar: sets `total`, calls `update`, then `reset`, `update(total)`
    and `close` at the end.
    """

    def __init__(self, name: str) -> None:
        self.name, self.total, self.n, self._shown = name, 0, 0, 0

    def update(self, count: int) -> None:
        self.n += count
        if self.total:
            quarter = min(4, self.n * 4 // self.total)
            if quarter > self._shown:
                self._shown = quarter
                megabytes = self.total / 1e6
                print(f"{self.name}: {25 * quarter}% of {megabytes:.1f} MB", file=sys.stderr)

    def reset(self) -> None:
        self.n = 0

    def close(self) -> None:
        if not self.total:
            print(f"{self.name}: {self.n / 1e6:.1f} MB downloaded", file=sys.stderr)
        sys.stderr.flush()


def download_file(
    url: str, sha256: str, folder: Path, name: str, progress: bool, *, what: str, fix: str
) -> Path:
    """Download `url` to `folder/name` with pooch and check its SHA-256; return the file.

    Raises one-line errors: `HashMismatch`, or for a cut-short transfer or an unreachable server
    "Cannot download `what` from `url`: the reason. `fix`". Nothing is left at `folder/name`
    unless the hash matched. `file://` URLs are copied (pooch has no downloader for them) and
    checked the same way.
    """
    try:
        return _retrieve(url, sha256, folder, name, progress)
    except DownloadError as error:
        raise CnnzooError(f"Cannot download {what} from {url}: {error}. {fix}") from None


def _retrieve(url: str, sha256: str, folder: Path, name: str, progress: bool) -> Path:
    import pooch
    import requests

    target = folder / name
    local = urlsplit(url)
    if local.scheme == "file":
        source = Path(unquote(local.path))
        try:
            shutil.copyfile(source, folder / f".{name}.copy")
        except OSError as error:
            raise DownloadError(f"Cannot read {source}: {error.strerror}") from None
        _check_hash(folder / f".{name}.copy", sha256, url)
        os.replace(folder / f".{name}.copy", target)
        return target
    bar = (sys.stderr.isatty() or PlainProgress(name)) if progress else False
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch logs the temporary path it downloads to
    try:
        downloader = pooch.HTTPDownloader(progressbar=bar, timeout=TIMEOUT_SECONDS)
        if local.scheme not in ("http", "https"):
            downloader = pooch.downloaders.choose_downloader(url, progressbar=bar)
        pooch.retrieve(url, f"sha256:{sha256}", fname=name, path=folder, downloader=downloader)
    except ValueError as error:
        match = re.search(r"but got ([0-9a-f]+)", str(error))
        if not match:  # an unsupported URL scheme
            raise DownloadError(str(error)) from None
        raise HashMismatch(url, sha256, match.group(1)) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        raise DownloadError(
            "the transfer was cut short (the server closed the connection mid-file); nothing "
            "was kept. Run the command again"
        ) from None
    except (requests.RequestException, OSError) as error:
        raise DownloadError(_reason(error)) from None
    finally:
        logger.setLevel(level)
    return target


def _check_hash(path: Path, sha256: str, url: str) -> None:
    import pooch

    actual = pooch.file_hash(str(path), alg="sha256")
    if actual != sha256:
        path.unlink()
        raise HashMismatch(url, sha256, actual)


class DownloadError(CnnzooError):
    """A download failed; the message is the reason, which callers wrap with their advice."""


class HashMismatch(CnnzooError):
    """The downloaded file's SHA-256 is not the expected one; the file was deleted."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"The file downloaded from {url} does not have the expected SHA-256 {expected} "
            "(data.sha256 or --sha256), so it was deleted. Check the URL and the hash. "
            f"Received: sha256={actual}"
        )
