"""Dataset files on disk: atomic downloads into the cache folder, and finding what is already there.

Every download lands in a temporary folder beside its destination (`.<name>.partial-*`), is checked
(hash for MNIST, folder layout for the monkeys) and only then renamed into place, so an interrupted
or corrupt download never looks complete. Leftover temporary folders are removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from cnnzoo.config import DataConfig
from cnnzoo.data.catalog import (
    DATASETS,
    MNIST_SHA256,
    MNIST_URL,
    MONKEYS_KAGGLE_REF,
    data_home,
)
from cnnzoo.data.monkeys import (  # read_monkey_labels is part of this module's interface
    check_monkeys_layout,
    install_zip,
    layout_problems,
    read_monkey_labels,
)
from cnnzoo.errors import CnnzooError, ConfigError

__all__ = [
    "Fetched",
    "check_monkeys_layout",
    "download_dataset",
    "download_mnist",
    "download_monkeys",
    "extract_monkeys_zip",
    "mnist_file",
    "monkeys_root",
    "read_monkey_labels",
]

MNIST_FILE = "mnist.npz"
MONKEYS_FOLDER = "monkeys"


class Fetched(NamedTuple):
    """Where a dataset is, and whether this call put it there (False: it was already there)."""

    path: Path
    fetched: bool


@contextlib.contextmanager
def _staging(parent: Path, name: str) -> Iterator[Path]:
    """A fresh temporary folder beside the destination, removed afterwards whatever happens."""
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
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _option(flag: str, value: str | None) -> str:
    return f" {flag} {shlex.quote(value)}" if value else ""


# --- MNIST -------------------------------------------------------------------------------------


def _expected_sha256(value: str | None) -> str:
    digest = (value or MNIST_SHA256).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(
            "data.sha256 must be the file's SHA-256 as 64 hexadecimal characters (as `sha256sum` "
            f"prints it). Received: {value!r}"
        )
    return digest


def _fetch_failure(text: str) -> str:
    # keras.utils.get_file reports "URL fetch failure on <url>: <code or errno> -- <reason>".
    match = re.search(r": (\S+) -- (.*)$", text)
    if not match:
        return text
    code, reason = match.groups()
    return f"HTTP {code} {reason}" if code.isdigit() else reason


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Fetched:
    """Download `mnist.npz` with keras.utils.get_file into the cache, checking its SHA-256."""
    expected = _expected_sha256(sha256)
    target = data_home(data_dir) / MNIST_FILE
    if target.is_file() and not force:
        return Fetched(target, False)
    url = url or MNIST_URL
    from cnnzoo.devices import quiet_native_logs

    with quiet_native_logs():
        import keras

    with _staging(target.parent, MNIST_FILE) as temp:
        output = contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO())
        try:
            with output:
                # An absolute cache_subdir makes get_file write straight into `temp`.
                fetched = keras.utils.get_file(
                    MNIST_FILE,
                    origin=url,
                    file_hash=expected,
                    hash_algorithm="sha256",
                    cache_dir=str(temp),
                    cache_subdir=str(temp),
                )
        except ValueError:
            actual = hashlib.sha256((temp / MNIST_FILE).read_bytes()).hexdigest()
            raise CnnzooError(
                f"The file downloaded from {url} does not have the expected SHA-256 {expected} "
                "(data.sha256 or --sha256), so it was deleted. Check the URL and the hash. "
                f"Received: sha256={actual}"
            ) from None
        except Exception as error:  # get_file raises a bare Exception for fetch failures
            raise CnnzooError(
                f"Cannot download MNIST from {url}: {_fetch_failure(str(error))}. Download "
                f"mnist.npz on a machine with access (e.g. `curl -O {MNIST_URL}`) and set "
                f"data.path to it, or copy it to {target}."
            ) from None
        os.replace(fetched, target)
    return Fetched(target, True)


def mnist_file(data: DataConfig) -> Path:
    """The `mnist.npz` to read: `data.path`, else the cache (downloaded if `data.download`)."""
    if data.path:
        path = Path(data.path).expanduser()
        if not path.is_file():
            raise CnnzooError(
                f"data.path: no MNIST file at {path}. Point it at an mnist.npz-format file "
                "(keys x_train, y_train, x_test, y_test)."
            )
        return path
    path = data_home(data.data_dir) / MNIST_FILE
    if path.is_file():
        return path
    if data.download:
        return download_mnist(data.data_dir, data.url, data.sha256).path
    command = (
        "cnnzoo download mnist"
        + _option("--data-dir", data.data_dir)
        + _option("--url", data.url)
        + _option("--sha256", data.sha256)
    )
    raise CnnzooError(
        f"MNIST is not downloaded (looked for {path}). Run `{command}`, or set "
        "data.download: true, or set data.path to a local mnist.npz-format file."
    )


# --- 10 Monkey Species -------------------------------------------------------------------------


def _existing_monkeys(target: Path, command: str) -> Path:
    problems = layout_problems(target)
    if problems:
        raise CnnzooError(
            f"{target} is not a complete 10 Monkey Species folder: missing {', '.join(problems)}. "
            f"Run `{command} --force` to replace it."
        )
    return target


def download_monkeys(
    data_dir: str | os.PathLike[str] | None = None, force: bool = False, progress: bool = True
) -> Fetched:
    """Download Kaggle's 10 Monkey Species with the official client and unpack it atomically."""
    from cnnzoo.data import kaggle

    target = data_home(data_dir) / MONKEYS_FOLDER
    command = "cnnzoo download monkeys" + _option("--data-dir", data_dir and str(data_dir))
    if target.exists() and not force:
        return Fetched(_existing_monkeys(target, command), False)
    kaggle.find_credentials()  # before creating anything or touching the network
    with _staging(target.parent, MONKEYS_FOLDER) as temp:
        archive = kaggle.download_dataset_zip(MONKEYS_KAGGLE_REF, temp, progress=progress)
        install_zip(archive, f"The Kaggle download of {MONKEYS_KAGGLE_REF}", temp, target)
    return Fetched(target, True)


def extract_monkeys_zip(
    archive: Path, data_dir: str | os.PathLike[str] | None = None, force: bool = False
) -> Fetched:
    """Unpack a downloaded 10-monkey-species.zip into the cache folder atomically."""
    target = data_home(data_dir) / MONKEYS_FOLDER
    if target.exists() and not force:
        command = "cnnzoo download monkeys" + _option("--data-dir", data_dir and str(data_dir))
        return Fetched(_existing_monkeys(target, command), False)
    with _staging(target.parent, MONKEYS_FOLDER) as temp:
        install_zip(Path(archive), str(archive), temp, target)
    return Fetched(target, True)


def monkeys_root(data: DataConfig) -> Path:
    """The extracted 10 Monkey Species folder (`training/training`, `validation/validation`,
    `monkey_labels.txt`): `data.path` (a folder or the Kaggle zip), else the cached download."""
    command = "cnnzoo download monkeys" + _option("--data-dir", data.data_dir)
    if data.path:
        path = Path(data.path).expanduser()
        if path.is_dir():
            check_monkeys_layout(path)
            return path
        if path.is_file():
            return extract_monkeys_zip(path, data.data_dir).path
        raise CnnzooError(
            f"data.path: nothing at {path}. Point it at the extracted 10 Monkey Species folder or "
            f"at the Kaggle zip, or remove data.path and run `{command}`."
        )
    target = data_home(data.data_dir) / MONKEYS_FOLDER
    if target.exists():
        return _existing_monkeys(target, command)
    if data.download:
        return download_monkeys(data.data_dir).path
    raise CnnzooError(
        f"The monkeys dataset is not downloaded (looked for {target}). Run `{command}` (needs a "
        "Kaggle token), or set data.download: true, or set data.path to the Kaggle zip or its "
        "extracted folder."
    )


# --- Command-line entry ------------------------------------------------------------------------


def download_dataset(
    name: str,
    data: DataConfig | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Fetched:
    """Download dataset `name`; arguments override `data.data_dir`, `data.url`, `data.sha256`."""
    DATASETS.get(name)  # unknown names: ConfigError listing the known ones
    data = data or DataConfig(dataset=name)
    data_dir = data_dir or data.data_dir
    if name == "mnist":
        return download_mnist(data_dir, url or data.url, sha256 or data.sha256, force, progress)
    if name == "monkeys":
        if url or sha256:
            raise ConfigError(
                "--url and --sha256 apply to mnist only; the monkeys come from Kaggle. "
                f"Received: url={url!r}, sha256={sha256!r}"
            )
        return download_monkeys(data_dir, force, progress)
    downloadable = ", ".join(n for n in DATASETS.names() if DATASETS.get(n).download_command)
    raise ConfigError(
        f'Dataset "{name}" has nothing to download: it reads the folder data.path names. '
        f"Downloadable: {downloadable}."
    )
