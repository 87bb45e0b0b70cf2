"""One output guard for every command that writes (cnnzoo/utils/outputs.py), as a user meets it.

Each writing command is run against the same hostile destinations: a folder or file of the
user's, a run folder and a file inside one, and cnnzoo's own output of another kind. Each is
refused with one `error:` line and exit code 1, and every file there is byte for byte what it
was. A command's own earlier output of its kind is accepted where the command documents
replacing it (export and download with --force). `evaluate` writes into the run it evaluates,
at its documented names: there a folder or cnnzoo's output of another kind is refused. A full
disk that cuts a picture off leaves nothing under the picture's name. One tiny run on real
digits is trained for the module; the commands run in this process, so TensorFlow starts once.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli.app import app

from .helpers import sha256_tree
from .real_digits import write_digits
from .tiny_runs import tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


def refused(result) -> str:
    """The one `error:` line of a refused command (exit code 1, no traceback)."""
    return refused_with(result, code=1)


def refused_with(result, code: int) -> str:
    """The one `error:` line of a command that failed with `code` (no traceback)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


@dataclass(frozen=True)
class World:
    """The module's run, a copy of it (another run), and what the commands take."""

    root: Path
    run: Path
    other_run: Path
    config: Path
    space: Path
    image: Path
    digits: Path
    digits_sha256: str
    tflite: Path  # `cnnzoo export --format tflite` of the run
    report: Path  # `cnnzoo report` of the run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("outputs")
    digits = write_digits(root)
    config = tiny_config(root, digits, train={"epochs": 1, "steps_per_epoch": 3})
    run = root / "run"
    result = invoke("train", "-c", config, "-o", run)
    assert result.exit_code == 0, result.output
    other_run = root / "other-run"
    shutil.copytree(run, other_run)
    space = root / "space.yaml"
    space.write_text(
        yaml.safe_dump({"train.learning_rate": {"type": "float", "low": 0.001, "high": 0.01}})
    )
    with np.load(digits) as data:
        image = root / "digit.png"
        Image.fromarray(data["x_test"][0]).save(image)
    sha256 = hashlib.sha256(digits.read_bytes()).hexdigest()
    tflite, report = root / "made" / "model.tflite", root / "made" / "page.html"
    assert invoke("export", run, "--format", "tflite", "-o", tflite).exit_code == 0
    assert invoke("report", run, "--no-gradcam", "-o", report).exit_code == 0
    return World(root, run, other_run, config, space, image, digits, sha256, tflite, report)


@dataclass(frozen=True)
class Command:
    """A writing command: its arguments for a destination, and what it writes there."""

    args: Callable[[World, Path], list]
    folder: bool  # writes a folder (else one file)
    name: str  # the file name it writes, for file commands
    replaces: list | None = None  # extra arguments that replace its own earlier output


def _download(world: World, path: Path) -> list:
    url = world.digits.absolute().as_uri()
    return ["download", "mnist", "--data-dir", path.parent, "--force", "--url", url,
            "--sha256", world.digits_sha256, "-q"]  # fmt: skip


COMMANDS = {
    "train": Command(lambda w, d: ["train", "-c", w.config, "-o", d], folder=True, name=""),
    "sweep": Command(
        lambda w, d: ["sweep", "-c", w.config, "--space", w.space, "--trials", "1", "-o", d],
        folder=True,
        name="",
        replaces=[],
    ),
    "export savedmodel": Command(
        lambda w, d: ["export", w.run, "--format", "savedmodel", "-o", d],
        folder=True,
        name="",
        replaces=["--force"],
    ),
    "export tflite": Command(
        lambda w, d: ["export", w.run, "--format", "tflite", "-o", d],
        folder=False,
        name="model.tflite",
        replaces=["--force"],
    ),
    "explain": Command(
        lambda w, d: ["explain", w.run, w.image, "-o", d], folder=True, name="", replaces=[]
    ),
    "featuremaps": Command(
        lambda w, d: ["featuremaps", w.run, w.image, "-o", d], folder=True, name="", replaces=[]
    ),
    "report": Command(
        lambda w, d: ["report", w.run, "--no-gradcam", "-o", d],
        folder=False,
        name="page.html",
        replaces=[],
    ),
    "plot": Command(
        lambda w, d: ["plot", w.run, "-o", d], folder=False, name="curves.png", replaces=[]
    ),
    "download": Command(_download, folder=False, name="mnist.npz", replaces=[]),
    "augment preview": Command(
        lambda w, d: ["augment", "preview", "-c", w.config, "-n", "2", "-o", d],
        folder=False,
        name="augment_preview.png",
        replaces=[],
    ),
}


def _user_folder(world: World, command: Command, base: Path) -> Path:
    """A folder of the user's files (a file command gets one of its files at its name)."""
    folder = base / "mine"
    (folder / "trials" / "0000").mkdir(parents=True)
    for name in ("notes.txt", "best.yaml", "history.png", "trials/0000/notes.txt"):
        (folder / name).write_text(f"the user's {name}\n")
    if command.folder:
        return folder
    (folder / command.name).write_text("the user's own file, which mentions cnnzoo report\n")
    return folder / command.name


def _user_file(world: World, command: Command, base: Path) -> Path:
    """A file of the user's where a folder goes (a file command: a folder at its name)."""
    if command.folder:
        path = base / "notes.txt"
        path.write_text("the user's notes\n")
        return path
    path = base / command.name
    path.mkdir()
    (path / "notes.txt").write_text("the user's notes\n")
    if command.name.endswith(".html"):  # report writes into a folder: there is the user's page
        (path / "report.html").write_text("<p>my page about cnnzoo report</p>\n")
    return path


def _run_folder(world: World, command: Command, base: Path) -> Path:
    """Another run: the run folder itself, or a file of that run at the command's name."""
    if command.folder:
        return world.other_run
    own = {"model.tflite": "model.keras", "page.html": "report.html", "curves.png": "history.png"}
    own["augment_preview.png"] = "history.png"
    return world.other_run / own.get(command.name, command.name)


def _inside_a_run(world: World, command: Command, base: Path) -> Path:
    """A new path inside another run."""
    return world.other_run / "checkpoints" / (command.name or "new")


def _other_kind(world: World, command: Command, base: Path) -> Path:
    """cnnzoo's own output of another kind: featuremaps' folder (explain's for featuremaps), a
    report page for the tflite export, a tflite export (a copy, with its record) for the rest."""
    if command.folder:
        made = base / "made"
        kind = "explain" if command.args(world, made)[0] == "featuremaps" else "featuremaps"
        result = invoke(kind, world.run, world.image, "-o", made)
        assert result.exit_code == 0, result.output
        return made
    source = world.report if command.name.endswith(".tflite") else world.tflite
    made = base / (source.name if source == world.report else command.name)
    shutil.copy(source, made)
    record = source.with_name(source.name + ".cnnzoo.json")
    if record.exists():
        shutil.copy(record, made.with_name(made.name + ".cnnzoo.json"))
    return made


HOSTILE = {
    "user folder": _user_folder,
    "user file": _user_file,
    "run folder": _run_folder,
    "inside a run": _inside_a_run,
    "other kind": _other_kind,
}


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_writing_command_refuses_what_is_not_its_own(
    world: World, tmp_path: Path, name: str, hostile: str
) -> None:
    command = COMMANDS[name]
    destination = HOSTILE[hostile](world, command, tmp_path)
    watched = [tmp_path, world.other_run]
    before = sha256_tree(*watched)
    line = refused(invoke(*command.args(world, destination)))
    assert str(destination) in line, line
    assert sha256_tree(*watched) == before


@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if c.replaces is not None])
def test_each_command_replaces_its_own_earlier_output(
    world: World, tmp_path: Path, name: str
) -> None:
    command = COMMANDS[name]
    destination = tmp_path / (command.name or "out")
    first = invoke(*command.args(world, destination))
    assert first.exit_code == 0, first.output
    again = invoke(*command.args(world, destination), *command.replaces)
    assert again.exit_code == 0, again.output
    assert destination.exists()


def test_train_never_replaces_a_run(world: World) -> None:
    before = sha256_tree(world.other_run)
    line = refused(invoke("train", "-c", world.config, "-o", world.other_run))
    assert f"cnnzoo train --resume {world.other_run}" in line
    assert sha256_tree(world.other_run) == before


def test_augment_preview_is_a_picture_that_records_its_writer(world: World, tmp_path: Path) -> None:
    # Only PNG and SVG carry the record by which a later preview knows it may replace this one.
    photo = tmp_path / "preview.jpg"
    line = refused(invoke(*COMMANDS["augment preview"].args(world, photo)))
    assert "must end in .png or .svg" in line and str(photo) in line, line
    assert list(tmp_path.iterdir()) == []


def _folder_at_a_file_name(world: World, run: Path, base: Path) -> Path:
    """A folder of the user's where evaluate writes its confusion heatmap."""
    folder = run / "confusion-test.png"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's notes\n")
    return folder


def _export_at_a_file_name(world: World, run: Path, base: Path) -> Path:
    """A tflite export (with its record) where evaluate saves its predictions."""
    made = run / "predictions-test.npz"
    shutil.copy(world.tflite, made)
    record = world.tflite.with_name(world.tflite.name + ".cnnzoo.json")
    shutil.copy(record, made.with_name(made.name + ".cnnzoo.json"))
    return made


def _feature_map_at_a_file_name(world: World, run: Path, base: Path) -> Path:
    """A featuremaps picture where evaluate draws its worst mistakes."""
    assert invoke("featuremaps", world.run, world.image, "-o", base / "maps").exit_code == 0
    made = run / "mistakes-test.png"
    shutil.copy(sorted((base / "maps").glob("*.png"))[0], made)
    return made


IN_THE_RUN = {
    "user folder": _folder_at_a_file_name,
    "other kind": _export_at_a_file_name,
    "other kind picture": _feature_map_at_a_file_name,
}


@pytest.mark.parametrize("hostile", list(IN_THE_RUN))
def test_evaluate_refuses_what_is_not_an_evaluation_in_its_run(
    world: World, tmp_path: Path, hostile: str
) -> None:
    # evaluate writes into the run it evaluates, at its documented names: there an earlier
    # evaluation is its own, but a folder or cnnzoo's output of another kind is not.
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    destination = IN_THE_RUN[hostile](world, run, tmp_path)
    before = sha256_tree(run)
    line = refused(invoke("evaluate", run))
    assert str(destination) in line and "Move it out of the run folder" in line, line
    assert sha256_tree(run) == before


@pytest.mark.parametrize("hostile", ["user folder", "other kind picture"])
def test_plot_refuses_what_is_not_its_heatmap_in_the_run(
    world: World, tmp_path: Path, hostile: str
) -> None:
    # plot redraws each evaluation's confusion heatmap beside it, in the run: an earlier heatmap
    # is its own, a folder or another command's picture at that name is not.
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    assert invoke("evaluate", run).exit_code == 0
    (run / "confusion-test.png").unlink()
    if hostile == "user folder":
        destination = _folder_at_a_file_name(world, run, tmp_path)
    else:
        assert invoke("featuremaps", world.run, world.image, "-o", tmp_path / "maps").exit_code == 0
        destination = run / "confusion-test.png"
        shutil.copy(sorted((tmp_path / "maps").glob("*.png"))[0], destination)
    before = sha256_tree(run)
    line = refused(invoke("plot", run))
    assert str(destination) in line and "Move it out of the run folder" in line, line
    assert sha256_tree(run) == before


def test_evaluate_replaces_a_link_in_its_run_never_the_file_it_points_to(
    world: World, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    mine = tmp_path / "mine.npz"
    mine.write_bytes(b"the user's own predictions")
    (run / "predictions-test.npz").symlink_to(mine)
    result = invoke("evaluate", run)
    assert result.exit_code == 0, result.output
    assert mine.read_bytes() == b"the user's own predictions"
    with np.load(run / "predictions-test.npz") as saved:
        assert len(saved["labels"]) > 0


def _disk_fills_up(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Every picture whose file name holds `where` is cut off halfway by a full disk."""
    import errno
    import io

    from matplotlib.figure import Figure

    real = Figure.savefig

    def savefig(self, fname, **options):
        if where not in Path(fname).name:
            return real(self, fname, **options)
        picture = io.BytesIO()
        real(self, picture, **{"format": "png", **options})
        Path(fname).write_bytes(picture.getvalue()[: len(picture.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(fname))

    monkeypatch.setattr(Figure, "savefig", savefig)


INTERRUPTED = {  # a command (given a folder with a copy of the run), the pictures cut off
    "explain": (lambda w, d: ["explain", w.run, w.image, "-o", d / "out"], ""),
    "featuremaps": (lambda w, d: ["featuremaps", w.run, w.image, "-o", d / "out"], ""),
    "augment preview": (lambda w, d: COMMANDS["augment preview"].args(w, d / "p.png"), ""),
    "evaluate": (lambda w, d: ["evaluate", d / "run"], "mistakes"),
}


@pytest.mark.parametrize("name", list(INTERRUPTED))
def test_a_picture_cut_off_by_a_full_disk_leaves_nothing_under_its_name(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    args, where = INTERRUPTED[name]
    shutil.copytree(world.run, tmp_path / "run")
    before = set(tmp_path.rglob("*.png"))
    _disk_fills_up(monkeypatch, where)
    line = refused(invoke(*args(world, tmp_path)))
    assert "No space left on device" in line and ".partial-" not in line, line
    new = set(tmp_path.rglob("*.png")) - before
    assert not [path for path in new if where in path.name], new
    assert not [path for path in tmp_path.rglob("*") if ".partial-" in path.name]


def test_older_outputs_without_a_record_are_still_cnnzoo_s(world: World, tmp_path: Path) -> None:
    # A sweep folder of an older cnnzoo: its study.db, no cnnzoo-output.json.
    sweep = tmp_path / "sweep"
    args = COMMANDS["sweep"].args(world, sweep)
    assert invoke(*args).exit_code == 0
    (sweep / "cnnzoo-output.json").unlink()
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "The study has 1 finished trials" in again.output
    assert (sweep / "cnnzoo-output.json").is_file()  # adopted: recorded now
    (sweep / "cnnzoo-output.json").unlink()
    before = sha256_tree(sweep)
    line = refused_with(invoke(*args, "--study", "another"), code=2)
    assert "holds the sweep of study 'tiny-space'" in line and "--study tiny-space" in line
    assert sha256_tree(sweep) == before
    # A SavedModel an older cnnzoo exported at the run's default place: replaced with --force,
    # unless something else has been put into it.
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    export = ["export", run, "--format", "savedmodel"]
    assert invoke(*export).exit_code == 0
    folder = run / "export" / "savedmodel"
    (folder / "cnnzoo-output.json").unlink()
    (folder / "notes.txt").write_text("mine\n")
    before = sha256_tree(folder)
    assert str(folder) in refused(invoke(*export, "--force"))
    assert sha256_tree(folder) == before
    (folder / "notes.txt").unlink()
    replaced = invoke(*export, "--force")
    assert replaced.exit_code == 0, replaced.output


@pytest.mark.fast
def test_a_page_is_a_report_by_its_generator_tag_not_by_its_words(tmp_path: Path) -> None:
    from cnnzoo.report.html import page
    from cnnzoo.utils.outputs import recorded_kind

    words = tmp_path / "words.html"
    words.write_text("<html><head><title>cnnzoo report</title></head><body>cnnzoo report</body>")
    ours = tmp_path / "ours.html"
    ours.write_text(page("a run: cnnzoo report", "<p>body</p>"))
    assert recorded_kind(words) is None and recorded_kind(ours) == "report"


@pytest.mark.fast
def test_a_recorded_file_changed_since_is_no_longer_cnnzoo_s(tmp_path: Path) -> None:
    from cnnzoo.utils.outputs import mark_file, recorded_kind

    model = tmp_path / "model.tflite"
    model.write_bytes(b"what cnnzoo wrote")
    mark_file(model, "tflite export")
    assert recorded_kind(model) == "tflite export"
    model.write_bytes(b"what the user wrote over it")
    assert recorded_kind(model) is None
