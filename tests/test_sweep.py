"""`cnnzoo sweep`: bad input refused up front, shared studies, killed sweeps, best.yaml."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from pathlib import Path

import pytest
import yaml

from .helpers import REPO, one_error_line, run_cli, sha256_tree
from .tiny_runs import finish, start_cli, tiny_config, wait_for_checkpoint

SPACE = {
    "train.learning_rate": {"type": "float", "low": 0.001, "high": 0.05, "log": True},
    "train.batch_size": {"choices": [16, 32]},
}


def write_space(folder: Path, space: dict | None = None, name: str = "space.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(SPACE if space is None else space), encoding="utf-8")
    return path


def study_trials(folder: Path) -> list[tuple[int, str, str]]:
    """(number, state, params JSON) of every trial in the sweep's SQLite study, read directly."""
    with sqlite3.connect(folder / "study.db") as db:
        rows = db.execute("SELECT number, state, trial_id FROM trials ORDER BY number").fetchall()
        params = {
            trial_id: tuple(
                db.execute(
                    "SELECT param_name, param_value FROM trial_params WHERE trial_id = ? "
                    "ORDER BY param_name",
                    (trial_id,),
                ).fetchall()
            )
            for _, _, trial_id in rows
        }
    return [(number, state, params[trial_id]) for number, state, trial_id in rows]


def finished(trials: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    return [t for t in trials if t[1] in ("COMPLETE", "PRUNED")]


ENDED = re.compile(r"^Trial (\d+) (?:finished|pruned)", re.MULTILINE)

BAD_SPACES = {
    "unknown key": (
        {"train.learning_rat": {"type": "float", "low": 0.001, "high": 0.1}},
        'unknown key "learning_rat". Did you mean "learning_rate"?',
    ),
    "unknown model option": (
        {"model.varaint": {"choices": ["classic", "modern"]}},
        'unknown option "varaint" for model "lenet". Did you mean "variant"?',
    ),
    "value the schema refuses": (
        {"train.optimizer": {"choices": ["adam", "adagrad"]}},
        "train.optimizer=",
    ),
    "int range with float ends": (
        {"train.batch_size": {"type": "int", "low": 8.5, "high": 64}},
        "low must be an integer for type int. Received: 8.5",
    ),
    "low above high": (
        {"train.learning_rate": {"type": "float", "low": 0.1, "high": 0.01}},
        "low must not exceed high",
    ),
    "log range from zero": (
        {"train.learning_rate": {"type": "float", "low": 0, "high": 0.01, "log": True}},
        "a log range needs low > 0",
    ),
    "unknown type": (
        {"train.epochs": {"type": "integer", "low": 1, "high": 3}},
        'Did you mean "int"?',
    ),
    "empty space": ({}, "the search space is empty"),
}


@pytest.mark.parametrize("case", list(BAD_SPACES))
def test_bad_space_is_one_line_and_starts_nothing(case, tmp_path, mnist_npz):
    space, expected = BAD_SPACES[case]
    config = tiny_config(tmp_path, mnist_npz)
    result = run_cli(
        "sweep", "-c", str(config), "--space", str(write_space(tmp_path, space)),
        "-o", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "sweep").exists()


def test_unreachable_database_is_one_line_and_starts_nothing(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz)
    url = f"sqlite:///{tmp_path}/no/such/folder/study.db"
    result = run_cli(
        "sweep", "-c", str(config), "--space", str(write_space(tmp_path)),
        "--storage", url, "-o", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Cannot open the study database" in lines[0], result.stderr
    assert not (tmp_path / "sweep").exists()


def test_grid_needs_finite_values(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz)
    result = run_cli(
        "sweep", "-c", str(config), "--space", str(write_space(tmp_path)), "--sampler", "grid",
        "-o", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "grid needs a finite set of values" in result.stderr


def test_a_heartbeat_grace_under_four_seconds_is_refused(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz)
    result = run_cli(
        "sweep", "-c", str(config), "--space", str(write_space(tmp_path)),
        "--heartbeat-grace", "1", "-o", str(tmp_path / "sweep"),
    )  # fmt: skip
    line = one_error_line(result, 2)
    assert "--heartbeat-grace" in line and "4" in line, line
    assert not (tmp_path / "sweep").exists()


def sweep_args(config: Path, space: Path, folder: Path, trials: int) -> list[str]:
    return ["sweep", "-c", str(config), "--space", str(space), "--trials", str(trials),
            "-o", str(folder)]  # fmt: skip


@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz, train={"epochs": 2, "steps_per_epoch": 10})
    args = sweep_args(config, write_space(tmp_path), tmp_path / "sweep", 4)
    processes = [start_cli(*args) for _ in range(2)]
    results = [finish(process) for process in processes]
    for code, out, err in results:
        assert code == 0, out + err
    trials = study_trials(tmp_path / "sweep")
    done = finished(trials)
    assert len(done) == 4, trials
    assert len({number for number, _, _ in trials}) == len(trials)
    # Each process ran trials of its own (its output names them), none ran the same.
    ran = [{int(number) for number in ENDED.findall(out)} for _, out, _ in results]
    assert ran[0] and ran[1] and not ran[0] & ran[1], ran
    assert ran[0] | ran[1] == {number for number, _, _ in done}
    assert sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) == [
        f"{number:04d}" for number, _, _ in done
    ]


@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory, mnist_npz) -> tuple[Path, Path, str]:
    """A sweep SIGKILLed in the middle of its first trial, then run again to the end."""
    tmp_path = tmp_path_factory.mktemp("killed")
    config = tiny_config(tmp_path, mnist_npz, train={"epochs": 3, "steps_per_epoch": 30})
    args = sweep_args(config, write_space(tmp_path), tmp_path / "sweep", 3)
    first = start_cli(*args)
    run_dir = tmp_path / "sweep" / "trials" / "0000"
    wait_for_checkpoint(run_dir, 1, first)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    status = yaml.safe_load((run_dir / "run.json").read_text())
    assert status["status"] == "running" and status["epochs_completed"] < 3, status
    # Run again with a changed base config: refused, as `train --resume` refuses it.
    before = sha256_tree(tmp_path / "sweep")
    changed = run_cli(*args, "--set", "train.steps_per_epoch=5")
    changes = (changed, before == sha256_tree(tmp_path / "sweep"))
    code, out, err = finish(start_cli(*args))
    assert code == 0, out + err
    return tmp_path / "sweep", config, out, changes


def test_killed_sweep_continues_to_exactly_the_budget(killed_sweep):
    folder, _, out, _ = killed_sweep
    trials = study_trials(folder)
    done = finished(trials)
    assert len(done) == 3, trials
    assert len({params for _, _, params in done}) == 3, "a finished trial was repeated"
    # The killed trial 0 was failed, retried with its parameters, and resumed its folder.
    assert trials[0][1] == "FAIL"
    retry = next(t for t in done if t[2] == trials[0][2])
    assert "Trial 0 was interrupted" in out
    assert f"Trial {retry[0]} (retry of trial 0, resuming" in out
    environment = yaml.safe_load((folder / "trials" / "0000" / "environment.json").read_text())
    assert environment["resumed"][0]["from_epoch"] >= 1
    assert len(list((folder / "trials").iterdir())) == 3


def test_sweep_report_and_best_config_trains(killed_sweep, tmp_path):
    folder, _, out, _ = killed_sweep
    for name in ("trials.md", "history.png", "parallel.png", "importances.png", "best.yaml"):
        assert (folder / name).is_file(), name
    assert "Leaderboard" in out and "best val acc" in out
    header = (folder / "best.yaml").read_text().splitlines()[0]
    best_run = Path(header.split("(")[-1].split(")")[0])
    assert best_run.parent == folder / "trials", header
    best = yaml.safe_load((folder / "best.yaml").read_text())
    saved = yaml.safe_load((best_run / "config.yaml").read_text())
    assert best["train"] == saved["train"] and best["model"] == saved["model"]
    # The test split was evaluated once, for the best trial only.
    evaluated = [p.parent for p in folder.glob("trials/*/evaluation-test.json")]
    assert evaluated == [best_run]
    result = run_cli(
        "train", "-c", str(folder / "best.yaml"), "--set", "train.epochs=1",
        "-o", str(tmp_path / "best"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "best" / "model.keras").is_file()


def test_a_killed_trial_is_not_resumed_with_a_changed_base_config(killed_sweep):
    _, _, _, (changed, unchanged) = killed_sweep
    line = one_error_line(changed, code=2)
    assert "config train.steps_per_epoch: 30 -> 5" in line and "Run the study as it was" in line
    assert unchanged, "the refused run changed the sweep folder"


def test_the_sweep_names_the_true_paths_it_wrote(killed_sweep):
    folder, _, out, _ = killed_sweep
    wrote = next(line for line in out.splitlines() if line.startswith("Wrote: "))
    paths = [Path(name) for name in wrote.removeprefix("Wrote: ").split(", ")]
    assert folder / "best.yaml" in paths and folder / "trials.md" in paths
    assert any(path.name == "evaluation-test.json" for path in paths)
    for path in paths:
        assert path.is_file(), wrote


def test_a_sweep_folder_belongs_to_its_study(killed_sweep, tmp_path, mnist_npz):
    folder, config, _, _ = killed_sweep
    other_space = write_space(
        tmp_path, {"train.learning_rate": {"type": "float", "low": 0.01, "high": 0.1}}, "lr.yaml"
    )
    other_config = tiny_config(tmp_path, mnist_npz, name="tiny", model={"variant": "classic"})
    same_space = folder.parent / "space.yaml"
    before = sha256_tree(folder)
    cases = {
        "space train.batch_size: {'choices': [16, 32]} -> None": sweep_args(
            config, other_space, folder, 1
        ),
        "study: 'tiny-space' -> 'mine'": [*sweep_args(config, same_space, folder, 1), "--study",
                                         "mine"],
        "config model.variant: 'modern' -> 'classic'": sweep_args(
            other_config, same_space, folder, 1
        ),
    }  # fmt: skip
    for difference, args in cases.items():
        line = one_error_line(run_cli(*args), code=2)
        assert f"{folder} holds the sweep of study 'tiny-space'" in line, line
        assert difference in line, line
    assert sha256_tree(folder) == before


def test_a_folder_that_is_not_a_sweep_is_refused_before_anything_runs(tmp_path, mnist_npz, mnist):
    config = tiny_config(tmp_path, mnist_npz)
    mine = tmp_path / "u"
    (mine / "trials" / "0000").mkdir(parents=True)
    for name in ("notes.txt", "best.yaml", "trials.md", "history.png", "trials/0000/notes.txt"):
        (mine / name).write_text(f"my {name}\n")
    before = sha256_tree(mine, mnist)
    for target in (mine, mnist):
        result = run_cli(*sweep_args(config, write_space(tmp_path), target, 1))
        line = one_error_line(result, code=1)
        assert f"--output: {target} " in line and "it is left as it is" in line, line
        assert "Sweep folder:" not in result.stdout
    assert sha256_tree(mine, mnist) == before


def test_shipped_spaces_fit_their_configs():
    from cnnzoo.sweep.space import check_space, load_space

    spaces = sorted((REPO / "configs" / "spaces").glob("*.yaml"))
    assert spaces
    for space in spaces:
        check_space(load_space(space), REPO / "configs" / space.name)
        assert load_space(space.stem).path.samefile(space)  # shipped spaces go by name


def test_sampler_and_pruner_choices_are_the_librarys():
    from cnnzoo.cli import sweep as cli_sweep
    from cnnzoo.sweep import settings as sweep_settings

    assert [m.value for m in cli_sweep.Sampler] == list(sweep_settings.SAMPLERS)
    assert [m.value for m in cli_sweep.Pruner] == list(sweep_settings.PRUNERS)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_the_same_command_resumes_the_trial(tmp_path, mnist_npz):
    config = tiny_config(tmp_path, mnist_npz, train={"epochs": 3, "steps_per_epoch": 30})
    args = sweep_args(config, write_space(tmp_path), tmp_path / "sweep", 2)
    first = start_cli(*args)
    run_dir = tmp_path / "sweep" / "trials" / "0000"
    wait_for_checkpoint(run_dir, 1, first)
    first.send_signal(signal.SIGINT)
    code, _, err = finish(first)
    assert code == 130 and "Run the same command again" in err, err
    assert yaml.safe_load((run_dir / "run.json").read_text())["status"] == "interrupted"
    code, out, err = finish(start_cli(*args))
    assert code == 0, out + err
    assert "Trial 1 (retry of trial 0, resuming" in out
    assert len(finished(study_trials(tmp_path / "sweep"))) == 2
