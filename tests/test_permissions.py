"""Folders the user may not write into, tested as an unprivileged user (issue 14).

The tests run as root here, and root may write anywhere whatever the mode bits say, so each
command runs as uid/gid 65534 ("nobody"): through `setpriv` (util-linux), or by switching the
child process's ids before it starts. As a non-root user the commands run as that user. Each case
must be refused with one `error:` line before the data is read or the model evaluated, leaving
the files as they were.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import REPO, run_cli
from .tiny_runs import tiny_config

NOBODY = 65534


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


class Unprivileged:
    """Runs `python -m cnnzoo` as a user without write access to root-owned folders."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.switch = os.geteuid() == 0
        self.setpriv = shutil.which("setpriv") if self.switch else None

    def run(self, *args: str, python: str = "") -> subprocess.CompletedProcess:
        command = [sys.executable, *(["-c", python] if python else ["-m", "cnnzoo", *args])]
        if self.setpriv:
            ids = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            command = [self.setpriv, *ids, *command]
        env = {
            **os.environ,
            "HOME": str(self.home),
            "MPLCONFIGDIR": str(self.home / "matplotlib"),
            "KERAS_HOME": str(self.home / "keras"),
            "CNNZOO_DATA_DIR": str(self.home / "data"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        return subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=_become_nobody if self.switch and not self.setpriv else None,
        )


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """A folder every user may read (pytest's own temporary folders are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="cnnzoo-permissions-"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def user(workspace: Path) -> Unprivileged:
    """The unprivileged user, or a skip saying why there cannot be one here."""
    user = Unprivileged(workspace / "home")
    probe = user.run(python="import cnnzoo.cli.app, tensorflow")
    if probe.returncode != 0:
        pytest.skip(
            f"uid {NOBODY} cannot run cnnzoo from {REPO} (the virtualenv or the repository is "
            f"not readable by other users): {probe.stderr.strip().splitlines()[-1:]}"
        )
    locked = workspace / "locked"
    locked.mkdir(mode=0o755, exist_ok=True)
    if os.geteuid() != 0:
        locked.chmod(0o555)
    denied = user.run(python=f"open({str(locked / 'probe')!r}, 'w')")
    if denied.returncode == 0:
        pytest.skip(f"writing into a read-only folder was not refused for uid {os.geteuid()}")
    return user


def readable_by_all(path: Path, writable: bool = False) -> None:
    """Let every user read (and, for the owner only, write) everything under `path`."""
    for item in [path, *path.rglob("*")]:
        mode = item.stat().st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if item.is_dir():
            mode |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        if os.geteuid() != 0 and not writable:  # a non-root user locks their own files
            mode &= ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        item.chmod(mode)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def read_only_run(mnist: Path, workspace: Path) -> Path:
    """A copy of the shared mnist run, evaluated, that the unprivileged user may only read.

    Its data is not copied: a command that read the data before refusing would fail on that.
    """
    run_dir = workspace / "runs" / "mnist"
    shutil.copytree(mnist, run_dir)
    result = run_cli("evaluate", str(run_dir))  # as the owner: its evaluation files exist
    assert result.returncode == 0, result.stderr
    readable_by_all(workspace / "runs")
    return run_dir


def test_train_into_a_read_only_folder_is_refused_before_the_data_loads(
    user: Unprivileged, workspace: Path, mnist_npz: Path
) -> None:
    data = shutil.copy(mnist_npz, workspace / "mnist.npz")
    config = tiny_config(workspace, Path(data))
    readonly = workspace / "readonly"
    readonly.mkdir(exist_ok=True)
    readable_by_all(workspace / "mnist.npz")
    readable_by_all(config)
    readable_by_all(readonly)
    result = user.run("train", "-c", str(config), "--output", str(readonly / "run"))
    line = one_error_line(result)
    assert f"--output: {readonly} is not writable" in line
    assert "Found " not in result.stdout  # the device plan, printed before the data is read
    assert list(readonly.iterdir()) == []


def test_evaluate_on_a_read_only_run_is_refused_before_it_evaluates(
    user: Unprivileged, read_only_run: Path
) -> None:
    before = snapshot(read_only_run)
    result = user.run("evaluate", str(read_only_run))
    line = one_error_line(result)
    assert f"{read_only_run} is not writable" in line and "evaluate saves" in line
    assert "Split:" not in result.stdout
    assert snapshot(read_only_run) == before


def test_plot_on_a_read_only_run(user: Unprivileged, read_only_run: Path, workspace: Path) -> None:
    before = snapshot(read_only_run)
    line = one_error_line(user.run("plot", str(read_only_run)))
    assert f"{read_only_run} is not writable" in line and "--output FILE" in line
    # Curves elsewhere are drawn; the heatmaps it cannot redraw are named in a warning.
    curves = user.home / "curves.png"
    result = user.run("plot", str(read_only_run), "-o", str(curves))
    assert result.returncode == 0, result.stderr
    assert curves.is_file()
    assert f"warning: {read_only_run} is not writable" in result.stderr
    assert snapshot(read_only_run) == before


def test_export_into_a_read_only_run_is_refused_before_it_converts(
    user: Unprivileged, read_only_run: Path
) -> None:
    before = snapshot(read_only_run)
    line = one_error_line(user.run("export", str(read_only_run), "--format", "tflite"))
    assert f"export: {read_only_run} is not writable" in line
    assert snapshot(read_only_run) == before


@pytest.mark.parametrize("command", ["export", "plot"])
def test_an_output_under_a_regular_file_is_one_line(
    user: Unprivileged, read_only_run: Path, command: str
) -> None:
    notes = user.home / "notes.txt"
    notes.write_text("mine\n")
    readable_by_all(notes, writable=True)
    target = notes / "x"
    extra = ["--format", "tflite"] if command == "export" else []
    line = one_error_line(user.run(command, str(read_only_run), *extra, "-o", str(target)))
    assert f"--output: {notes} is a file" in line
    assert notes.read_text() == "mine\n"
