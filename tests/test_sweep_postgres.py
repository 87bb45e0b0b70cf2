"""`cnnzoo sweep --storage postgresql://...` on a real PostgreSQL server, shared by two machines.

The second machine is a process under another host name (its own UTS namespace), so the first
cannot tell from a pid whether it is alive: when it is SIGKILLed mid-trial, only its stopped
heartbeat shows it, and the first takes its trial over after its grace (`--heartbeat-grace`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import REPO, one_error_line, run_cli
from .real_digits import write_digits
from .standin_servers import free_port, program
from .test_sweep import sweep_args, write_space
from .tiny_runs import cli_env, finish, start_cli, tiny_config, wait_for, wait_for_checkpoint

OTHER_HOST = "second-machine"
GRACE = 10  # seconds: the default (40) would only make the test wait


def on_another_host(hostname: str) -> list[str]:
    """A command prefix that runs a program under `hostname` (a UTS namespace of its own)."""
    unshare = shutil.which("unshare")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]  # unprivileged: own root
    prefix = [unshare, *user, "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
    works = unshare and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0
    hint = "util-linux's unshare, run as root or with unprivileged user namespaces"
    return program("A second host name", prefix if works else None, hint)


def start_elsewhere(prefix: list[str], *args: str) -> subprocess.Popen:
    """Start `python -m cnnzoo ARGS` under another host name (the same pid: sh execs it)."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "cnnzoo", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_a_checkpoint(trials: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    """The first trial folder under `trials` with an epoch's checkpoint (fail if `process` ends)."""

    def trial() -> Path | None:
        for last in trials.glob("*/checkpoints/last.json"):
            if json.loads(last.read_text())["epoch"] >= 1:
                return last.parent.parent
        return None

    return wait_for(trial, process, timeout, f"a trial checkpoint in {trials}")


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the first markdown table in `markdown`, cells stripped."""
    lines = markdown.split("\n|", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_a_dead_machines_trial_is_taken_over_and_none_is_lost(postgres, tmp_path: Path) -> None:
    elsewhere = on_another_host(OTHER_HOST)
    url = postgres.database("sweeps")
    config = tiny_config(
        tmp_path, write_digits(tmp_path), train={"epochs": 3, "steps_per_epoch": 6}
    )
    space = write_space(tmp_path)

    def args(folder: Path) -> list[str]:  # one study; each machine its own sweep folder
        return [*sweep_args(config, space, folder, 2), "--storage", url, "--study", "digits",
                "--pruner", "none", "--heartbeat-grace", str(GRACE)]  # fmt: skip

    there = start_elsewhere(elsewhere, *args(tmp_path / "there"))
    here = start_cli(*args(tmp_path / "here"))
    killed = wait_for_a_checkpoint(tmp_path / "there" / "trials", there)
    os.kill(there.pid, signal.SIGKILL)
    there.communicate()
    code, out, err = finish(here)
    assert code == 0, out + err
    dead = int(killed.name)  # the number of the trial the second machine was running

    # What the first machine printed: it waited for the other's trial, then retried it.
    assert "Waiting for 1 running trial(s) of other processes" in out, out
    assert f"(retry of trial {dead}, resuming" in out, out
    # Not told by a pid (another host's process): by its heartbeat, silent for GRACE seconds.
    assert f"Trial {dead} was interrupted" not in out
    assert f"Trial {dead} sent no heartbeat for {GRACE} s (its process or" in out, out
    rows = {int(row[0]): row for row in table_rows((tmp_path / "here" / "trials.md").read_text())}
    states = {number: row[1] for number, row in rows.items()}
    # Every trial of the study is in the table: two finished, the dead one failed and retried.
    assert sorted(states) == [0, 1, 2], states
    assert states[dead] == "fail", states
    retry = next(n for n, s in states.items() if s == f"complete (retry of {dead})")
    first = ({0, 1, 2} - {dead, retry}).pop()
    assert states[first] == "complete", states
    assert rows[retry][4:6] == rows[dead][4:6]  # the same parameters, run to the end
    assert rows[retry][3] == "3" and rows[first][3] == "3"  # epochs
    assert rows[retry][-1] == rows[dead][-1] == f"trials/{dead:04d}"  # the retry keeps its folder
    assert "The study has 2 finished trials (budget 2)." in out


OPEN_AT = """
import sys, time
from cnnzoo.sweep.storage import open_storage
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
open_storage(sys.argv[1])
"""


def open_all_at_once(url: str, processes: int) -> list[subprocess.CompletedProcess]:
    """`processes` Python processes opening the study database at `url` at the same moment."""
    at = str(time.time() + 8)  # once every process has imported Optuna
    started = [
        subprocess.Popen([sys.executable, "-c", OPEN_AT, url, at], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(processes)
    ]  # fmt: skip
    finished = []
    for process in started:
        out, err = process.communicate(timeout=120)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return finished


def test_processes_creating_one_study_database_at_once_all_open_it(postgres) -> None:
    # Two machines starting the same sweep at the same moment both create Optuna's tables on an
    # empty database: the ones that lose the race wait and open what the first created.
    for attempt in range(2):
        for done in open_all_at_once(postgres.database(f"race{attempt}"), 4):
            assert done.returncode == 0, done.stderr


def test_a_missing_database_driver_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    if importlib.util.find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed: this test needs a PostgreSQL driver that is not")
    config = tiny_config(tmp_path, tmp_path / "digits.npz")
    url = f"postgresql+pg8000://cnnzoo:secret@127.0.0.1:{free_port()}/sweeps"  # no pg8000 here
    result = run_cli(
        "sweep", "-c", str(config), "--space", str(write_space(tmp_path)), "--storage", url,
        "-o", str(tmp_path / "sweep"),
    )  # fmt: skip
    line = one_error_line(result, 2)
    assert "driver is not installed (No module named 'pg8000')" in line, line
    assert "pip install 'cnnzoo[postgres]'" in line and "secret" not in line
    assert not (tmp_path / "sweep").exists()


def test_a_trial_survives_the_server_dropping_its_connections(postgres, tmp_path: Path) -> None:
    url = postgres.database("dropped")
    config = tiny_config(
        tmp_path, write_digits(tmp_path), train={"epochs": 3, "steps_per_epoch": 6}
    )
    args = sweep_args(config, write_space(tmp_path), tmp_path / "sweep", 1)
    sweep = start_cli(*args, "--storage", url, "--pruner", "none")
    wait_for_checkpoint(tmp_path / "sweep" / "trials" / "0000", 1, sweep)
    postgres.drop_connections("dropped")  # as a server restart or a network cut would
    code, out, err = finish(sweep)
    assert code == 0, out + err
    assert "Trial 0 finished" in out and "failed" not in out, out
    rows = table_rows((tmp_path / "sweep" / "trials.md").read_text())
    assert [row[:2] + row[3:4] for row in rows] == [["0", "complete", "3"]], rows
