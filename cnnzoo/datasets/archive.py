"""A folder of class folders published as a `.zip` or `.tar.gz` at a URL with a known SHA-256.

The archive is fetched by the same code as MNIST (pooch, hash-checked), unpacked safely (absolute
paths, `..`, links and special files are refused) in a hidden `.archive-*.partial-*` folder, its
layout checked, and only then renamed to `archive-<first 16 hex digits of the SHA-256>/` in the
cache: the same content is downloaded once whatever URL serves it.

Layout: class folders at the top (split by a seeded holdout, as `directory`), or `train/` with
`validation/` (or `val/`) and/or `test/` folders of class folders. One wrapping folder is skipped.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import Field

from cnnzoo.datasets.fetch import (
    Fetched,
    data_home,
    download_command,
    download_file,
    expected_sha256,
    replace_into,
    staging,
)
from cnnzoo.datasets.folders import (
    FolderLayout,
    Split,
    check_same_classes,
    folder_split,
    is_data,
    list_class_folders,
)
from cnnzoo.datasets.schema import DatasetDefaults, DownloadableData, Fraction, UserPath
from cnnzoo.utils.errors import CnnzooError, ConfigError

_SYMLINK = 0o120000  # the file type bits of a symbolic link in a zip entry's Unix mode


def _unsafe(name: str) -> bool:
    """True for members that would land outside the destination folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"[A-Za-z]:", name))


def _refuse(source: str, name: str, why: str) -> CnnzooError:
    return CnnzooError(
        f"The archive from {source} holds {why} ({name!r}); it was refused and nothing was "
        "installed. Archives may only hold folders and regular files below their top folder."
    )


def _unzip(archive: Path, destination: Path, source: str) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if _unsafe(member.filename):
                raise _refuse(source, member.filename, "a path outside its folder")
            if (member.external_attr >> 16) & 0o170000 == _SYMLINK:
                raise _refuse(source, member.filename, "a symbolic link")
        bundle.extractall(destination)


def _untar(archive: Path, destination: Path, source: str) -> None:
    with tarfile.open(archive) as bundle:
        for member in bundle.getmembers():
            if _unsafe(member.name):
                raise _refuse(source, member.name, "a path outside its folder")
            if member.issym() or member.islnk():
                raise _refuse(source, member.name, "a link")
            if not (member.isfile() or member.isdir()):
                raise _refuse(source, member.name, "a special file")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: a second safety net
            bundle.extractall(destination, filter="data")
        else:
            bundle.extractall(destination)


def unpack(archive: Path, destination: Path, source: str) -> Path:
    """Extract a zip or tar archive (detected by content) into `destination`; return its root:
    `destination`, or the one folder it holds when everything is wrapped in a folder."""
    destination.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            _unzip(archive, destination, source)
        elif tarfile.is_tarfile(archive):
            _untar(archive, destination, source)
        else:
            raise CnnzooError(
                f"The file from {source} is neither a .zip nor a .tar.gz (or other tar) archive; "
                "nothing was installed."
            )
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as error:
        raise CnnzooError(
            f"The archive from {source} is damaged ({error}); nothing was installed."
        ) from None
    entries = [p for p in destination.iterdir() if is_data(p.name)]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return destination


def archive_layout(root: Path, what: str) -> FolderLayout:
    """`train/` with `validation/` (or `val/`) and/or `test/` under `root`, else class folders."""
    train = root / "train"
    validation = next((root / n for n in ("validation", "val") if (root / n).is_dir()), None)
    test = root / "test" if (root / "test").is_dir() else None
    if not train.is_dir() or (validation is None and test is None):
        return FolderLayout(root, what)
    return FolderLayout(
        train,
        f"{what} train/",
        validation,
        f"{what} {validation.name}/" if validation else "validation",
        test,
        f"{what} test/",
    )


def check_layout(layout: FolderLayout) -> list[str]:
    """Raise the first layout problem; return the class names."""
    classes, _ = list_class_folders(layout.train, layout.train_what)
    for root, what in (
        (layout.validation, layout.validation_what),
        (layout.test, layout.test_what),
    ):
        if root is not None:
            check_same_classes(classes, list_class_folders(root, what)[0], root)
    return classes


class ArchiveData(DownloadableData):
    """`data:` for an archive of class folders: its `url` and `sha256` (required), optionally
    an unpacked copy (`path`), a separate validation folder (`val_path`) or a holdout."""

    dataset: Literal["archive"] = "archive"
    own_validation = True  # its train/ and validation/ (or test/) folders
    url: str = Field(description="the URL of a .zip or .tar.gz of class folders")
    sha256: str = Field(description="the archive's SHA-256 (`sha256sum FILE`)")
    val_path: UserPath | None = None
    validation_split: Fraction = 0.2


def _source(data: ArchiveData) -> tuple[str, str]:
    if not data.url or not data.sha256:
        raise ConfigError(
            "data.url and data.sha256: the archive dataset needs the URL of a .zip or .tar.gz of "
            "class folders and its SHA-256 (`sha256sum FILE`); pass --url and --sha256 to "
            f"`cnnzoo download archive`. Received: url={data.url!r}, sha256={data.sha256!r}"
        )
    return data.url, expected_sha256(data.sha256)


def cache_folder(data: ArchiveData) -> Path:
    """Where the archive named by data.url/data.sha256 is unpacked in the cache."""
    return data_home(data.data_dir) / f"archive-{_source(data)[1][:16]}"


def download_archive(data: ArchiveData, force: bool = False, progress: bool = True) -> Fetched:
    """Download data.url, check data.sha256, unpack and check it, then move it into the cache."""
    url, sha256 = _source(data)
    target = cache_folder(data)
    if target.exists() and not force:
        return Fetched(target, False)
    with staging(target.parent, target.name) as temp:
        downloaded = download_file(
            url,
            sha256,
            temp,
            "download",
            progress,
            what="the archive",
            fix="Check data.url (a file on this machine works as file:///path/to/archive.zip).",
        )
        extracted = temp / "extracted"
        root = unpack(downloaded, extracted, url)
        try:
            check_layout(archive_layout(root, "The archive"))
        except CnnzooError as error:
            # Name folders inside the archive, not inside the temporary folder.
            text = str(error).replace(f"{root}/", "").replace(str(root), "its top folder")
            raise CnnzooError(f"{text} Nothing was installed (from {url}).") from None
        replace_into(root, target, temp)
    return Fetched(target, True)


def archive_root(data: ArchiveData) -> Path:
    """The unpacked archive in the cache, downloaded first if `data.download`."""
    target = cache_folder(data)
    if target.is_dir():
        return target
    if data.download:
        return download_archive(data).path
    command = download_command("archive", data.data_dir, data.url, data.sha256)
    raise CnnzooError(
        f"The archive is not downloaded (looked for {target}). Run `{command}`, or set "
        "data.download: true, or set data.path to the unpacked folder."
    )


class Archive(DatasetDefaults):
    """Class folders from a .zip/.tar.gz URL (data.url, data.sha256), unpacked into the cache."""

    summary = "A .zip or .tar.gz of class folders at data.url, checked against data.sha256"
    schema = ArchiveData

    def fetch(self, data: ArchiveData, *, force: bool = False, progress: bool = True) -> Fetched:
        """Download, check and unpack the archive into the cache."""
        return download_archive(data, force, progress)

    def split(self, data: ArchiveData, seed: int, split: str) -> tuple[Split | None, list[str]]:
        """Like `directory`: a top-level train/validation/test layout, else a seeded holdout."""
        if data.path:
            root = Path(data.path).expanduser()
            if not root.is_dir():
                raise CnnzooError(
                    f"data.path: no folder at {root}. For the archive dataset it is the unpacked "
                    "folder; to unpack an archive on this machine set data.url to "
                    "file:///path/to/it (with data.sha256)."
                )
            layout = archive_layout(root, "data.path")
        else:
            root = archive_root(data)
            layout = archive_layout(root, str(root))
        if data.val_path:
            val_root = Path(data.val_path).expanduser()
            layout = replace(
                layout, validation=val_root, validation_what="data.val_path", test=None
            )
        return folder_split(
            layout,
            split,
            data.validation_split,
            seed,
            "The archive has no validation images to test on: set data.validation_split > 0, "
            "or data.val_path, or put train/ and validation/ (or test/) folders in it.",
        )
