"""Downloads for real: the official kaggle client and pooch against loopback servers.

Nothing here reaches the internet or the user's home: HOME, KAGGLE_CONFIG_DIR and CNNZOO_DATA_DIR
point into tmp_path. In-process tests point kagglesdk's endpoint table at the stand-in; the CLI
subprocess tests use KAGGLE_API_ENVIRONMENT=LOCALHOST plus an HTTP proxy, as a user could.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.datasets.mnist import MnistData, mnist_file
from cnnzoo.datasets.monkeys import (
    MONKEYS_KAGGLE_REF,
    MonkeysData,
    download_monkeys,
    extract_monkeys_zip,
    monkeys_root,
    read_monkey_labels,
)
from cnnzoo.datasets.synthetic import make_mnist_npz, make_monkeys_folder, zip_folder
from cnnzoo.utils.errors import CnnzooError

from .standin_servers import (
    DOWNLOAD_PATH,
    INTROSPECT_PATH,
    FileServer,
    KaggleStandIn,
    closed_port_url,
)

REPO = Path(__file__).resolve().parents[1]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
TOKEN_ADVICE = (
    "Create an API token at https://www.kaggle.com/settings/api",
    "save it as ~/.kaggle/access_token or export KAGGLE_API_TOKEN",
    "a legacy kaggle.json goes in",
)


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def monkeys_zip(tmp_path_factory) -> bytes:
    """A small zip in the real Kaggle layout (2 training + 1 validation image per class)."""
    folder = tmp_path_factory.mktemp("monkeys_src")
    make_monkeys_folder(folder, train_per_class=2, val_per_class=1, size=(16, 16))
    return zip_folder(folder, folder.parent / "10-monkey-species.zip").read_bytes()


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, Path]:
    """An isolated HOME, Kaggle config folder and data cache; no credentials and no proxies."""
    for name in list(os.environ):
        if name.startswith("KAGGLE_") or name.lower() in PROXY_VARIABLES:
            monkeypatch.delenv(name)
    paths = {
        "home": tmp_path / "home",
        "kaggle": tmp_path / "kaggle-config",
        "cache": tmp_path / "cache",
    }
    paths["home"].mkdir()
    monkeypatch.setenv("HOME", str(paths["home"]))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(paths["home"] / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(paths["kaggle"]))
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(paths["cache"]))
    return paths


@pytest.fixture
def kaggle(env, monkeypatch, monkeys_zip):
    """The Kaggle stand-in serving the monkeys zip, with kagglesdk's LOCALHOST endpoint on it."""
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    with KaggleStandIn({MONKEYS_KAGGLE_REF: monkeys_zip}) as server:
        monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.LOCAL, server.url)
        yield server


def write_kaggle_json(folder: Path, username: str = "tester", key: str = "secret-key") -> Path:
    """Save credentials as kaggle.com's "Create New Token" does (mode left at 0644 on purpose:
    the kaggle client then prints a warning that must not reach our stdout)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kaggle.json"
    path.write_text(json.dumps({"username": username, "key": key}), encoding="utf-8")
    path.chmod(0o644)
    return path


def invoke(*args: str):
    """Run the real CLI in-process; return the result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, list(args))


def cache_entries(env: dict[str, Path]) -> list[str]:
    """Everything in the data cache, hidden temporary folders included."""
    cache = env["cache"]
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def assert_one_error_line(result, *fragments: str) -> None:
    """The CLI failed with exit 1 and one `error:` line holding every fragment."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "Traceback" not in result.output


def cli_env(env: dict[str, Path], server: KaggleStandIn) -> dict[str, str]:
    """Environment for a `cnnzoo` subprocess reaching the stand-in as http://localhost via proxy."""
    child = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    child.update(
        HOME=str(env["home"]),
        KAGGLE_CONFIG_DIR=str(env["kaggle"]),
        CNNZOO_DATA_DIR=str(env["cache"]),
        KAGGLE_API_ENVIRONMENT="LOCALHOST",
        HTTP_PROXY=server.url,
        http_proxy=server.url,
        NO_PROXY="",
        no_proxy="",
    )
    return child


def zip_names(data: bytes, tmp_path: Path) -> set[str]:
    """File names inside a zip given as bytes."""
    archive = tmp_path / "check.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as bundle:
        return {name for name in bundle.namelist() if not name.endswith("/")}


def tree(root: Path) -> set[str]:
    """Relative paths of all files under root."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# --- Monkeys through the real kaggle client ----------------------------------------------------


def test_cli_subprocess_downloads_monkeys_then_does_nothing(env, kaggle, monkeys_zip, tmp_path):
    write_kaggle_json(env["kaggle"])
    command = [sys.executable, "-m", "cnnzoo", "download", "monkeys"]
    first = subprocess.run(
        command, env=cli_env(env, kaggle), capture_output=True, text=True, cwd=REPO, timeout=120
    )
    target = env["cache"] / "monkeys"
    assert first.returncode == 0, first.stderr
    # Only our line on stdout: the kaggle client's prints (dataset URL, the 0644 warning) are not.
    assert first.stdout == f"Downloaded monkeys to {target}\n"
    # Into a pipe: one plain progress line, no tqdm bar, no "Dataset URL:" from the client.
    assert first.stderr == f"Downloading {MONKEYS_KAGGLE_REF} from Kaggle...\n"
    assert tree(target) == zip_names(monkeys_zip, tmp_path)
    assert read_monkey_labels(target)["n9"] == "nilgiri_langur"
    assert cache_entries(env) == ["monkeys"]
    post = next(r for r in kaggle.requests if r["method"] == "POST")
    assert post["target"] == f"http://localhost{DOWNLOAD_PATH}"  # LOCALHOST endpoint, via proxy
    assert post["body"]["ownerSlug"] == "slothkong"
    assert post["body"]["datasetSlug"] == "10-monkey-species"
    assert post["authorization"].startswith("Basic ")
    assert kaggle.paths("GET") == [f"/storage/{MONKEYS_KAGGLE_REF}.zip"]

    seen = len(kaggle.requests)
    again = subprocess.run(
        command, env=cli_env(env, kaggle), capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout
        == f"monkeys is already at {target}; nothing to do (--force downloads again).\n"
    )
    assert len(kaggle.requests) == seen


def test_monkeys_download_on_a_terminal_shows_the_bar_without_the_dataset_url(env, kaggle):
    write_kaggle_json(env["kaggle"])
    main, terminal = pty.openpty()  # stderr on an 80-column terminal, as in a shell
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", "download", "monkeys"],
        env=cli_env(env, kaggle),
        stdout=subprocess.PIPE,
        stderr=terminal,
        cwd=REPO,
    )
    os.close(terminal)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(main, 4096):
            chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=120) == 0
    shown = b"".join(chunks).decode()
    assert "100%" in shown and "Downloading 10-monkey-species.zip to" in shown  # kaggle's bar
    assert "Dataset URL" not in shown
    assert process.stdout.read() == f"Downloaded monkeys to {env['cache'] / 'monkeys'}\n".encode()
    process.stdout.close()


def test_env_credentials_download_and_dataset_location(env, kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "tester")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key")
    with pytest.raises(CnnzooError, match=r"Run `cnnzoo download monkeys`.*data.download: true"):
        monkeys_root(MonkeysData())

    fetched = download_monkeys(progress=False)
    assert fetched.fetched and fetched.path == env["cache"] / "monkeys"
    assert monkeys_root(MonkeysData()) == fetched.path
    assert list(read_monkey_labels(fetched.path)) == [f"n{i}" for i in range(10)]
    assert download_monkeys(progress=False).fetched is False
    assert len(kaggle.paths("GET")) == 1

    for image in (fetched.path / "training/training/n2").iterdir():
        image.unlink()  # damage the copy, then replace it
    with pytest.raises(CnnzooError, match=r"n2/.*Run `cnnzoo download monkeys --force`"):
        monkeys_root(MonkeysData())
    assert download_monkeys(force=True, progress=False).fetched
    assert (fetched.path / "training/training/n2/n200.jpg").is_file()
    assert cache_entries(env) == ["monkeys"]


def test_access_token_is_introspected_then_sent_as_bearer(env, kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_stand_in_token")
    result = invoke("download", "monkeys", "--quiet")
    assert result.exit_code == 0, result.output
    assert kaggle.paths("POST") == [INTROSPECT_PATH, DOWNLOAD_PATH]
    assert kaggle.requests[-2]["authorization"] == "Bearer KGAT_stand_in_token"


def test_kaggle_json_in_home_is_found_without_kaggle_config_dir(env, kaggle, monkeypatch):
    monkeypatch.delenv("KAGGLE_CONFIG_DIR")
    write_kaggle_json(env["home"] / ".kaggle")
    assert download_monkeys(progress=False).fetched
    assert kaggle.requests[0]["authorization"].startswith("Basic ")


def test_train_config_with_download_true_fetches_monkeys(env, kaggle):
    write_kaggle_json(env["kaggle"])
    root = monkeys_root(MonkeysData(download=True))
    assert root == env["cache"] / "monkeys"
    assert read_monkey_labels(root)["n0"] == "mantled_howler"


@pytest.mark.parametrize(
    ("status", "key", "forbidden"),
    [("HTTP 401", "wrong-key", False), ("HTTP 403", "secret-key", True)],
    ids=["401", "403"],
)
def test_refused_credentials_say_how_to_get_a_token(env, kaggle, status, key, forbidden):
    write_kaggle_json(env["kaggle"], key=key)
    kaggle.forbidden = forbidden
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, status, str(env["kaggle"] / "kaggle.json"), *TOKEN_ADVICE)
    assert cache_entries(env) == []


def test_invalid_access_token_is_refused(env, kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_revoked")
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, "did not accept the credentials from KAGGLE_API_TOKEN")
    assert_one_error_line(result, *TOKEN_ADVICE)
    assert kaggle.paths("GET") == []


def test_missing_credentials_fail_before_any_request(env, kaggle):
    result = invoke("download", "monkeys")
    assert_one_error_line(result, "No Kaggle credentials found", *TOKEN_ADVICE)
    assert f"kaggle.json goes in {env['kaggle']}/." in result.stderr  # $KAGGLE_CONFIG_DIR
    assert len(result.stderr.strip()) - len(str(env["kaggle"])) < 200  # was ~600 characters
    assert kaggle.requests == []
    assert cache_entries(env) == []


@pytest.mark.parametrize("home_kaggle", [False, True], ids=["xdg", "dot-kaggle"])
def test_missing_credentials_name_the_folder_kaggle_reads(env, kaggle, monkeypatch, home_kaggle):
    """Following the message works: kaggle.json saved where it says is what the client reads."""
    monkeypatch.delenv("KAGGLE_CONFIG_DIR")
    if home_kaggle:
        (env["home"] / ".kaggle").mkdir()
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, "No Kaggle credentials found", *TOKEN_ADVICE)
    named = re.search(r"kaggle\.json goes in (\S+)/\.$", result.stderr.strip()).group(1)
    assert named == ("~/.kaggle" if home_kaggle else "~/.config/kaggle")
    # The kaggle client itself, imported fresh in this HOME, reads the same folder.
    probe = "from kaggle.api.kaggle_api_extended import KaggleApi; print(KaggleApi.config_dir)"
    child = {**os.environ, "HOME": str(env["home"])}
    read = subprocess.run([sys.executable, "-c", probe], env=child, capture_output=True, text=True)
    read_dir = read.stdout.strip().splitlines()[-1]  # after the help kaggle prints on import
    assert Path(read_dir) == Path(named.replace("~", str(env["home"]), 1))
    write_kaggle_json(Path(named.replace("~", str(env["home"]), 1)))
    assert invoke("download", "monkeys", "-q").exit_code == 0
    assert kaggle.requests[0]["authorization"].startswith("Basic ")


def test_unknown_dataset_is_a_clear_404(env, kaggle):
    write_kaggle_json(env["kaggle"])
    kaggle.datasets.clear()
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, f'no dataset "{MONKEYS_KAGGLE_REF}" (HTTP 404')
    assert cache_entries(env) == []


def test_refused_connection_says_how_to_provide_the_zip(env, kaggle, monkeypatch):
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    down = closed_port_url()
    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.LOCAL, down)
    write_kaggle_json(env["kaggle"])
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(
        result, f"Cannot reach Kaggle at {down}", "Connection refused", "set data.path"
    )
    assert cache_entries(env) == []


def test_truncated_zip_leaves_nothing_complete_looking(env, kaggle, monkeys_zip):
    write_kaggle_json(env["kaggle"])
    kaggle.datasets[MONKEYS_KAGGLE_REF] = monkeys_zip[: len(monkeys_zip) // 2]
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, "is not a complete zip file", "nothing was installed")
    assert cache_entries(env) == []
    with pytest.raises(CnnzooError, match="not downloaded"):
        monkeys_root(MonkeysData())


def test_zip_missing_a_class_names_it(env, kaggle, tmp_path):
    write_kaggle_json(env["kaggle"])
    folder = make_monkeys_folder(tmp_path / "partial", 1, 1, size=(8, 8))
    for image in (folder / "validation/validation/n4").iterdir():
        image.unlink()
    (folder / "validation/validation/n4").rmdir()
    kaggle.datasets[MONKEYS_KAGGLE_REF] = zip_folder(folder, tmp_path / "bad.zip").read_bytes()
    result = invoke("download", "monkeys", "-q")
    assert_one_error_line(result, "missing validation/validation/n4/", "nothing was installed")
    assert cache_entries(env) == []


def test_killed_download_never_looks_complete(env, kaggle, monkeys_zip):
    write_kaggle_json(env["kaggle"])
    kaggle.stall_after = len(monkeys_zip) // 2
    child = subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", "download", "monkeys", "-q"],
        env=cli_env(env, kaggle),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert kaggle.stalled.wait(timeout=60), "the transfer never started"
    finally:
        child.kill()
        child.wait(timeout=30)
    (leftover,) = cache_entries(env)
    assert leftover.startswith(".monkeys.partial-")  # the half-written zip stays hidden
    with pytest.raises(CnnzooError, match="not downloaded"):
        monkeys_root(MonkeysData())

    kaggle.stall_after = None
    assert download_monkeys(progress=False).fetched
    assert cache_entries(env) == ["monkeys"]  # the leftover was cleaned up


# --- data.path, layout and labels --------------------------------------------------------------


def test_data_path_accepts_an_extracted_folder_or_the_zip(env, tmp_path, monkeys_zip):
    folder = make_monkeys_folder(tmp_path / "extracted", 1, 1, size=(8, 8))
    assert monkeys_root(MonkeysData(path=str(folder))) == folder

    archive = tmp_path / "10-monkey-species.zip"
    archive.write_bytes(monkeys_zip)
    root = monkeys_root(MonkeysData(path=str(archive)))
    assert root == env["cache"] / "monkeys"
    assert tree(root) == zip_names(monkeys_zip, tmp_path)
    assert extract_monkeys_zip(archive).fetched is False  # already unpacked: nothing to do


def test_incomplete_folder_names_what_is_missing(env, tmp_path):
    folder = make_monkeys_folder(tmp_path / "extracted", 1, 1, size=(8, 8))
    (folder / "monkey_labels.txt").unlink()
    (folder / "training/training/n7/n700.jpg").unlink()
    with pytest.raises(CnnzooError) as caught:
        monkeys_root(MonkeysData(path=str(folder)))
    assert "missing images in training/training/n7/, monkey_labels.txt" in str(caught.value)

    with pytest.raises(CnnzooError, match=r"data.path: nothing at .*nowhere"):
        monkeys_root(MonkeysData(path=str(tmp_path / "nowhere")))


def test_monkey_labels_parse_the_real_file_and_reject_a_broken_one(tmp_path):
    folder = make_monkeys_folder(tmp_path / "m", 1, 1, size=(8, 8))
    labels = read_monkey_labels(folder)
    assert labels["n0"] == "mantled_howler" and labels["n5"] == "white_headed_capuchin"
    assert len(labels) == 10

    text = (folder / "monkey_labels.txt").read_text()
    (folder / "monkey_labels.txt").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("n7"))
    )
    with pytest.raises(CnnzooError, match="no common name for n7"):
        read_monkey_labels(folder)


# --- MNIST through keras.utils.get_file --------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_bytes(tmp_path_factory) -> bytes:
    """A small file in mnist.npz format."""
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    return make_mnist_npz(path, num_train=20, num_test=10).read_bytes()


def test_mnist_download_checks_the_hash_and_is_idempotent(env, mnist_bytes):
    digest = hashlib.sha256(mnist_bytes).hexdigest()
    with FileServer({"/mnist.npz": mnist_bytes}) as server:
        args = ("download", "mnist", "--url", f"{server.url}/mnist.npz", "--sha256", digest, "-q")
        first = invoke(*args)
        again = invoke(*args)
    target = env["cache"] / "mnist.npz"
    assert first.exit_code == 0, first.output
    assert first.stdout == f"Downloaded mnist to {target}\n"
    assert target.read_bytes() == mnist_bytes
    assert cache_entries(env) == ["mnist.npz"]
    assert again.exit_code == 0 and "already at" in again.stdout
    assert server.paths("GET") == ["/mnist.npz"]


def test_mnist_download_into_a_pipe_prints_plain_progress_lines(env, mnist_bytes):
    digest = hashlib.sha256(mnist_bytes).hexdigest()
    child = {**os.environ, "CNNZOO_DATA_DIR": str(env["cache"])}
    with FileServer({"/mnist.npz": mnist_bytes}) as server:
        args = ["download", "mnist", "--url", f"{server.url}/mnist.npz", "--sha256", digest]
        result = subprocess.run(
            [sys.executable, "-m", "cnnzoo", *args],
            env=child,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    megabytes = f"{len(mnist_bytes) / 1e6:.1f} MB"
    assert result.stderr.splitlines() == [
        f"mnist.npz: {percent}% of {megabytes}" for percent in (25, 50, 75, 100)
    ]


def test_mnist_hash_mismatch_leaves_no_file(env, mnist_bytes):
    actual = hashlib.sha256(mnist_bytes).hexdigest()
    with FileServer({"/mnist.npz": mnist_bytes}) as server:
        result = invoke("download", "mnist", "--url", f"{server.url}/mnist.npz", "-q")
    # Without --sha256 the catalog's hash of the real file applies, which this file lacks.
    assert_one_error_line(result, "does not have the expected SHA-256", f"sha256={actual}")
    assert cache_entries(env) == []


def test_mnist_server_down_says_how_to_provide_the_file(env):
    down = closed_port_url()
    result = invoke("download", "mnist", "--url", f"{down}/mnist.npz", "-q")
    assert_one_error_line(
        result, f"Cannot download MNIST from {down}", "Connection refused", "set data.path"
    )
    assert cache_entries(env) == []


def test_mnist_missing_file_and_cut_transfer_leave_nothing(env, mnist_bytes):
    digest = hashlib.sha256(mnist_bytes).hexdigest()
    with FileServer({"/mnist.npz": mnist_bytes}) as server:
        missing = invoke("download", "mnist", "--url", f"{server.url}/nope.npz", "-q")
        server.cut_after["/mnist.npz"] = len(mnist_bytes) // 3
        url = f"{server.url}/mnist.npz"
        cut = invoke("download", "mnist", "--url", url, "--sha256", digest, "-q")
    assert_one_error_line(missing, "HTTP 404 Not Found", "set data.path")
    assert_one_error_line(cut, f"Cannot download MNIST from {url}", "cut short", "nothing was kept")
    assert cache_entries(env) == []


def test_download_mnist_does_not_import_tensorflow(env, mnist_bytes):
    digest = hashlib.sha256(mnist_bytes).hexdigest()
    with FileServer({"/mnist.npz": mnist_bytes}) as server:
        script = (
            "import sys\n"
            "from typer.testing import CliRunner\n"
            "from cnnzoo.cli.app import app\n"
            f"args = ['download', 'mnist', '--url', '{server.url}/mnist.npz', '--sha256', "
            f"'{digest}', '-q']\n"
            "result = CliRunner().invoke(app, args)\n"
            "print(result.exit_code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
        )
        child = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
        )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["0", "False", "False"]
    assert (env["cache"] / "mnist.npz").read_bytes() == mnist_bytes


def test_mnist_config_url_and_download_true(env, mnist_bytes, tmp_path):
    digest = hashlib.sha256(mnist_bytes).hexdigest()
    with FileServer({"/mirror/mnist.npz": mnist_bytes}) as server:
        url = f"{server.url}/mirror/mnist.npz"
        data = MnistData(url=url, sha256=digest, data_dir=str(tmp_path / "d"))
        with pytest.raises(CnnzooError, match=r"Run `cnnzoo download mnist --data-dir .* --url"):
            mnist_file(data)
        path = mnist_file(data.model_copy(update={"download": True}))
        config = tmp_path / "mnist.yaml"
        fields = {"dataset": "mnist", "url": url, "sha256": digest, "data_dir": str(tmp_path / "e")}
        config.write_text(json.dumps({"data": fields}))  # JSON is YAML
        result = invoke("download", "--config", str(config), "-q")
    assert path == tmp_path / "d" / "mnist.npz"
    assert path.read_bytes() == mnist_bytes
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e" / "mnist.npz").read_bytes() == mnist_bytes


def test_download_usage_errors_exit_2(env):
    bad_hash = invoke("download", "mnist", "--sha256", "abc123")
    assert bad_hash.exit_code == 2 and "64 hexadecimal characters" in bad_hash.stderr
    not_downloadable = invoke("download", "directory")
    assert (
        not_downloadable.exit_code == 2
        and "Downloadable: mnist, monkeys" in not_downloadable.stderr
    )
    typo = invoke("download", "monkey")
    assert typo.exit_code == 2 and 'Did you mean "monkeys"' in typo.stderr
    url_for_kaggle = invoke("download", "monkeys", "--url", "http://x")
    assert url_for_kaggle.exit_code == 2 and "mnist and archive only" in url_for_kaggle.stderr


def test_train_on_missing_mnist_names_the_download_command(env):
    result = invoke("train", "--config", str(REPO / "configs" / "mnist_lenet.yaml"))
    assert_one_error_line(result, "MNIST is not downloaded", "`cnnzoo download mnist`")
