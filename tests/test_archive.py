"""The `archive` dataset end to end: a .zip or .tar.gz of class folders from a stand-in HTTP server
on 127.0.0.1, fetched, hash-checked, unpacked safely and atomically into the cache, then read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.config.schema import resolve
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.sources import split_source
from cnnzoo.datasets.synthetic import make_class_folder, zip_folder
from cnnzoo.utils.errors import CnnzooError, ConfigError

from .standin_servers import FileServer, closed_port_url

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "owl"]
PER_CLASS = 5


def sha256(data: bytes) -> str:
    """The hex SHA-256 of `data`, as `sha256sum` prints it."""
    return hashlib.sha256(data).hexdigest()


def tar_gz(folder: Path, top: str = "") -> bytes:
    """`folder`'s contents as a .tar.gz, wrapped in a `top/` folder when given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.add(path, arcname=f"{top}{path.relative_to(folder).as_posix()}", recursive=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    """Three class folders of five 16x16 JPEGs each."""
    return make_class_folder(tmp_path_factory.mktemp("pets"), CLASSES, PER_CLASS, size=(16, 16))


@pytest.fixture(scope="module")
def archives(pets, tmp_path_factory) -> dict[str, bytes]:
    """The same class folders as a flat .zip and as a .tar.gz wrapped in a `pets/` folder."""
    folder = tmp_path_factory.mktemp("archives")
    return {
        "/pets.zip": zip_folder(pets, folder / "pets.zip").read_bytes(),
        "/pets.tar.gz": tar_gz(pets, top="pets/"),
    }


@pytest.fixture
def cache(tmp_path) -> Path:
    """The download cache conftest points CNNZOO_DATA_DIR at."""
    return Path(os.environ["CNNZOO_DATA_DIR"])


def invoke(*args: str):
    """Run the real CLI in-process; return the result (exit_code, stdout, stderr).

    `download` gets -q unless given: the progress bar goes to stderr, which these tests read."""
    args = (*args, "-q") if args[0] == "download" and "-q" not in args else args
    return CliRunner().invoke(app, list(args))


def entries(cache: Path) -> list[str]:
    """Everything in the cache, hidden temporary folders included."""
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def tree(root: Path) -> set[str]:
    """Relative paths of all files under root."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def assert_one_error_line(result, *fragments: str, exit_code: int = 1) -> None:
    """The CLI failed with `exit_code` and one `error:` line holding every fragment."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", ["/pets.zip", "/pets.tar.gz"])
def test_download_unpacks_into_the_cache_then_does_nothing(archives, pets, cache, path):
    digest = sha256(archives[path])
    with FileServer(archives) as server:
        args = ("download", "archive", "--url", server.url + path, "--sha256", digest, "-q")
        first = invoke(*args)
        again = invoke(*args)
    target = cache / f"archive-{digest[:16]}"
    assert first.exit_code == 0, first.output
    assert first.stdout == f"Downloaded archive to {target}\n"
    assert tree(target) == tree(pets)  # the wrapping pets/ folder of the tar.gz is skipped
    assert entries(cache) == [target.name]  # no download file, no staging folder left
    assert again.exit_code == 0
    assert again.stdout == (
        f"archive is already at {target}; nothing to do (--force downloads again).\n"
    )
    assert server.paths("GET") == [path]


def test_training_config_with_download_true_fetches_and_splits(archives, cache, tmp_path):
    data = archives["/pets.zip"]
    with FileServer(archives) as server:
        url = f"{server.url}/pets.zip"
        fields = {"dataset": "archive", "url": url, "sha256": sha256(data)}
        with pytest.raises(CnnzooError, match=r"Run `cnnzoo download archive --url .* --sha256"):
            split_source(resolve({"data": fields}, "test").data, 7, "train")
        config = resolve({"data": {**fields, "download": True}}, "test")
        train, classes = split_source(config.data, config.seed, "train")
        validation, _ = split_source(config.data, config.seed, "validation")
        test, _ = split_source(config.data, config.seed, "test")
    assert classes == CLASSES
    # The directory dataset's default holdout of 0.2: one of five images per class.
    assert (len(train), len(validation)) == (12, 3)
    assert sorted(validation.paths) == sorted(test.paths)
    assert not set(train.paths) & set(validation.paths)
    assert all(cache in path.parents for path in train.paths)
    assert DATASETS.get("archive").evaluation_split == "validation"
    assert server.paths("GET") == ["/pets.zip"]


def test_train_validation_test_folders_are_used_as_the_splits(tmp_path, cache):
    root = tmp_path / "split"
    make_class_folder(root / "train", CLASSES, 4, size=(8, 8))
    make_class_folder(root / "val", CLASSES, 2, size=(8, 8), seed=1)
    make_class_folder(root / "test", CLASSES, 1, size=(8, 8), seed=2)
    data = tar_gz(root)
    with FileServer({"/split.tgz": data}) as server:
        fields = {"url": f"{server.url}/split.tgz", "sha256": sha256(data), "download": True}
        config = resolve({"data": {"dataset": "archive", **fields}}, "test")
        counts = [
            len(split_source(config.data, config.seed, split)[0])
            for split in ("train", "validation", "test")
        ]
    assert counts == [12, 6, 3]


def test_cnnzoo_train_downloads_the_archive_and_trains(archives, tmp_path):
    data = archives["/pets.tar.gz"]
    with FileServer(archives) as server:
        config = tmp_path / "pets.yaml"
        fields = {
            "dataset": "archive",
            "url": f"{server.url}/pets.tar.gz",
            "sha256": sha256(data),
            "download": True,
            "image_size": [32, 32],
        }
        train = {"epochs": 1, "batch_size": 4}
        config.write_text(json.dumps({"data": fields, "model": {"name": "lenet"}, "train": train}))
        result = subprocess.run(
            [sys.executable, "-m", "cnnzoo", "train", "-c", str(config), "-o", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**os.environ, "CNNZOO_DATA_DIR": str(tmp_path / "cache")},
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "r" / "classes.json").read_text()) == CLASSES
    assert (tmp_path / "r" / "model.keras").is_file()


def test_wrong_sha256_leaves_nothing_behind(archives, cache):
    data = archives["/pets.zip"]
    wrong = sha256(b"something else")
    with FileServer(archives) as server:
        result = invoke("download", "archive", "--url", f"{server.url}/pets.zip", "--sha256", wrong)
    assert_one_error_line(
        result, "does not have the expected SHA-256", wrong, f"Received: sha256={sha256(data)}"
    )
    assert entries(cache) == []


@pytest.mark.parametrize("path", ["/pets.zip", "/pets.tar.gz"])
def test_interrupted_transfer_leaves_nothing_complete_looking(archives, cache, path):
    with FileServer(archives) as server:
        server.cut_after[path] = len(archives[path]) // 2
        url = server.url + path
        result = invoke("download", "archive", "--url", url, "--sha256", sha256(archives[path]))
        assert_one_error_line(result, f"Cannot download the archive from {url}", "cut short")
        assert entries(cache) == []
        config = resolve({"data": {"dataset": "archive", "url": url, "sha256": "0" * 64}}, "t")
        with pytest.raises(CnnzooError, match="is not downloaded"):
            split_source(config.data, config.seed, "train")

        del server.cut_after[path]  # the server is back: the same command now works
        again = invoke("download", "archive", "--url", url, "--sha256", sha256(archives[path]))
    assert again.exit_code == 0, again.output
    assert entries(cache) == [f"archive-{sha256(archives[path])[:16]}"]


def unsafe_zip(member: str, symlink: bool = False) -> bytes:
    """A zip holding two good class folders plus one dangerous entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("a/1.jpg", b"x")
        bundle.writestr("b/1.jpg", b"x")
        info = zipfile.ZipInfo(member)
        if symlink:
            info.external_attr = (0o120777 << 16) | 0
        bundle.writestr(info, "/etc/passwd" if symlink else b"owned")
    return buffer.getvalue()


def unsafe_tar(member: str, kind: bytes = tarfile.REGTYPE) -> bytes:
    """A .tar.gz holding two good class folders plus one dangerous entry."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name in ("a/1.jpg", "b/1.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 1
            bundle.addfile(info, io.BytesIO(b"x"))
        info = tarfile.TarInfo(member)
        info.type = kind
        if kind == tarfile.REGTYPE:
            info.size = 5
            bundle.addfile(info, io.BytesIO(b"owned"))
        else:
            info.linkname = "/etc/passwd"
            bundle.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (unsafe_zip("../escaped.txt"), "a path outside its folder"),
        (unsafe_zip("/tmp/escaped.txt"), "a path outside its folder"),
        (unsafe_zip("a/link.jpg", symlink=True), "a symbolic link"),
        (unsafe_tar("../escaped.txt"), "a path outside its folder"),
        (unsafe_tar("/tmp/escaped.txt"), "a path outside its folder"),
        (unsafe_tar("a/link.jpg", tarfile.SYMTYPE), "a link"),
        (unsafe_tar("a/hard.jpg", tarfile.LNKTYPE), "a link"),
    ],
    ids=[
        "zip-dotdot",
        "zip-absolute",
        "zip-symlink",
        "tar-dotdot",
        "tar-absolute",
        "tar-symlink",
        "tar-hardlink",
    ],
)
def test_unsafe_archives_are_refused(data, why, cache, tmp_path):
    with FileServer({"/evil": data}) as server:
        result = invoke(
            "download", "archive", "--url", f"{server.url}/evil", "--sha256", sha256(data)
        )
    assert_one_error_line(result, why, "refused", "nothing was installed")
    assert entries(cache) == []
    assert not (cache.parent / "escaped.txt").exists()
    assert not Path("/tmp/escaped.txt").exists()


def test_archive_without_class_folders_is_refused(tmp_path, cache):
    make_class_folder(tmp_path / "one", ["only"], 2, size=(8, 8))
    data = zip_folder(tmp_path / "one", tmp_path / "one.zip").read_bytes()
    with FileServer({"/one.zip": data}) as server:
        result = invoke(
            "download", "archive", "--url", f"{server.url}/one.zip", "--sha256", sha256(data)
        )
    assert_one_error_line(result, "needs at least 2 class sub-folders", "Nothing was installed")
    assert str(cache) not in result.stderr  # names folders in the archive, not temporary ones
    assert entries(cache) == []


def test_not_an_archive_and_file_urls(tmp_path, cache, archives):
    text = b"<html>a login page</html>"
    with FileServer({"/page": text}) as server:
        result = invoke(
            "download", "archive", "--url", f"{server.url}/page", "--sha256", sha256(text)
        )
    assert_one_error_line(result, "neither a .zip nor a .tar.gz", "nothing was installed")
    assert entries(cache) == []

    local = tmp_path / "pets.zip"
    local.write_bytes(archives["/pets.zip"])
    ok = invoke(
        "download", "archive", "--url", local.as_uri(), "--sha256", sha256(local.read_bytes())
    )
    assert ok.exit_code == 0, ok.output
    target = cache / f"archive-{sha256(local.read_bytes())[:16]}"
    (target / "cat" / "cat00.jpg").unlink()  # damage the copy, then replace it
    forced = invoke(
        "download",
        "archive",
        "--url",
        local.as_uri(),
        "--sha256",
        sha256(local.read_bytes()),
        "--force",
    )
    assert forced.exit_code == 0 and forced.stdout.startswith("Downloaded archive"), forced.output
    assert (target / "cat" / "cat00.jpg").is_file()
    assert entries(cache) == [target.name]


def test_evaluate_data_holds_out_a_whole_folder(pets):
    from cnnzoo.evaluation.evaluate import with_data_path

    fields = {"dataset": "archive", "url": "http://x/a.zip", "sha256": "0" * 64}
    config = with_data_path(resolve({"data": fields}, "test"), pets)
    validation, classes = split_source(config.data, config.seed, "validation")
    assert classes == CLASSES
    assert len(validation) == len(CLASSES) * PER_CLASS


def test_usage_errors_exit_2_and_unreachable_servers_exit_1(cache):
    missing = invoke("download", "archive")
    assert_one_error_line(missing, "data.url and data.sha256", "--url", exit_code=2)
    bad_hash = invoke("download", "archive", "--url", "http://x/a.zip", "--sha256", "abc")
    assert_one_error_line(bad_hash, "64 hexadecimal characters", exit_code=2)
    down = closed_port_url()
    refused = invoke("download", "archive", "--url", f"{down}/a.zip", "--sha256", "0" * 64)
    assert_one_error_line(refused, f"Cannot download the archive from {down}", "refused")
    with FileServer({}) as server:
        missing_file = invoke(
            "download", "archive", "--url", f"{server.url}/a.zip", "--sha256", "0" * 64
        )
    assert_one_error_line(missing_file, "HTTP 404 Not Found")
    assert entries(cache) == []
    # In a config the two keys are required: validation says so, before any data is read.
    with pytest.raises(ConfigError, match=r"data\.url: the archive dataset needs this key"):
        resolve({"data": {"dataset": "archive"}}, "test")


def test_cli_subprocess_as_a_user_runs_it(archives, tmp_path):
    data = archives["/pets.tar.gz"]
    env = {**os.environ, "CNNZOO_DATA_DIR": str(tmp_path / "cache")}
    with FileServer(archives) as server:
        command = [sys.executable, "-m", "cnnzoo", "download", "archive", "-q"]
        url = ["--url", f"{server.url}/pets.tar.gz"]
        ok = subprocess.run(
            [*command, *url, "--sha256", sha256(data)], env=env, capture_output=True, text=True
        )
        bad = subprocess.run(
            [*command, *url, "--sha256", "f" * 64], env=env, capture_output=True, text=True
        )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("Downloaded archive to ")
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: "), bad.stderr
    assert "does not have the expected SHA-256" in bad.stderr


def test_a_macos_zip_with_loose_images_trains_on_its_class_folders_and_names_the_loose_ones(
    pets, tmp_path, cache
):
    # What Finder's "Compress" makes: a __MACOSX/ side folder of resource forks beside the class
    # folders; and 20 images someone left at the top, outside every class folder.
    root = tmp_path / "mac"
    shutil.copytree(pets, root)
    for name in CLASSES:
        fork = root / "__MACOSX" / name / f"._{name}.jpg"
        fork.parent.mkdir(parents=True)
        fork.write_bytes(b"\x00\x05\x16\x07resource fork")
    first = next((root / CLASSES[0]).iterdir())
    for i in range(20):
        shutil.copy(first, root / f"loose-{i:02d}.jpg")
    (root / "README.txt").write_text("notes beside the data are expected", encoding="utf-8")
    data = zip_folder(root, tmp_path / "mac.zip").read_bytes()
    with FileServer({"/mac.zip": data}) as server:
        result = invoke(
            "download", "archive", "--url", f"{server.url}/mac.zip", "--sha256", sha256(data)
        )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "20 file(s) at the top of" in warnings[0]
    assert "loose-00.jpg, loose-01.jpg" in warnings[0] and "and 15 more" in warnings[0]
    assert "README.txt" not in warnings[0] and "__MACOSX" not in result.stderr

    config = resolve({"data": {"dataset": "directory", "path": str(root)}}, "test")
    with pytest.warns(UserWarning, match="20 file"):
        train, classes = split_source(config.data, config.seed, "train")
    assert classes == CLASSES  # no __MACOSX class
    assert not [p for p in train.paths if "__MACOSX" in p.parts or p.parent == root]
