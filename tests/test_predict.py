"""`cnnzoo predict`: probabilities for image files match the model's own outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.data.bad_files import UNREADABLE
from cnnzoo.evaluation.predict import expand_images

from .helpers import run_cli


@pytest.fixture(scope="session")
def digits(mnist, tmp_path_factory):
    """Five MNIST test digits saved as PNG files, and their pixel arrays."""
    folder = tmp_path_factory.mktemp("digits")
    with np.load(mnist.parent.parent / "mnist.npz") as data:
        pixels = data["x_test"][:5]
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"digit{index}.png")
    return folder, pixels


def test_json_probabilities_match_model_predict(mnist, digits):
    folder, pixels = digits
    files = [str(folder / f"digit{i}.png") for i in range(5)]
    result = CliRunner().invoke(app, ["predict", str(mnist), *files, "--json", "--top-k", "10"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["failures"] == []
    assert [p["path"] for p in report["predictions"]] == files

    model = keras.saving.load_model(mnist / "model.keras")
    expected = model.predict(pixels[..., None].astype("float32") / 255.0, verbose=0)
    for prediction, row in zip(report["predictions"], expected, strict=True):
        probabilities = {int(top["class"]): top["probability"] for top in prediction["top"]}
        assert len(probabilities) == 10
        np.testing.assert_allclose([probabilities[d] for d in range(10)], row, atol=1e-5)
        ranked = [top["probability"] for top in prediction["top"]]
        assert ranked == sorted(ranked, reverse=True)


def test_a_folder_expands_to_its_images_in_text_output(mnist, digits):
    folder, _ = digits
    result = CliRunner().invoke(app, ["predict", str(mnist), str(folder)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"{folder / 'digit0.png'}: ")
    assert len(lines[0].split(": ", 1)[1].split(", ")) == 3  # default --top-k 3


def test_unreadable_file_is_reported_and_the_others_still_predicted(mnist, digits, tmp_path):
    folder, _ = digits
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "predict", str(mnist), str(folder / "digit1.png")]
        + [str(broken), str(tmp_path / "missing.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout.startswith(f"{folder / 'digit1.png'}: ")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert any(str(broken) in line and "not a decodable image" in line for line in errors)
    assert any("missing.png: no such file or directory" in line for line in errors)
    assert "Traceback" not in result.stderr


def test_monkey_predictions_use_common_names_on_real_jpegs(monkeys):
    images = monkeys.parent.parent / "monkeys" / "validation" / "validation" / "n8"
    result = CliRunner().invoke(app, ["predict", str(monkeys), str(images), "--top-k", "1"])
    assert result.exit_code == 0, result.output
    names = {line.split(": ", 1)[1].rsplit(" ", 1)[0] for line in result.output.splitlines()}
    classes = json.loads((monkeys / "classes.json").read_text())
    assert names <= set(classes) and "n8" not in names


def test_expand_images_keeps_named_files_and_takes_a_folders_files_as_training_does(tmp_path):
    (tmp_path / "a.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.png").write_bytes(b"x")
    named = tmp_path / "notes.txt"
    files, found, failures = expand_images([tmp_path, named, tmp_path / "empty"])
    assert files == [tmp_path / "a.JPG", named, tmp_path / "sub" / "b", named]
    assert found == {tmp_path / "a.JPG", named, tmp_path / "sub" / "b"}
    assert failures == [(tmp_path / "empty", "no such file or directory")]


def test_predict_and_training_read_the_same_files_of_a_folder(monkeys, tmp_path):
    """An extensionless JPEG is predicted (training reads it too); a folder's text file is
    skipped with a warning naming it and why, and the command succeeds."""
    from cnnzoo.datasets.folders import candidate_images

    source = monkeys.parent.parent / "monkeys" / "validation" / "validation" / "n8"
    folder = Path(shutil.copytree(source, tmp_path / "n8"))
    jpeg = next(folder.iterdir())
    (folder / "no_extension").write_bytes(jpeg.read_bytes())
    (folder / "notes.txt").write_text("a note, not a monkey\n")
    result = run_cli("predict", str(monkeys), str(folder))
    assert result.returncode == 0, result.stderr
    predicted = {line.split(": ", 1)[0] for line in result.stdout.splitlines()}
    assert predicted == {str(p) for p in candidate_images(folder)} - {str(folder / "notes.txt")}
    assert str(folder / "no_extension") in predicted
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"warning: {folder / 'notes.txt'}: skipped, {UNREADABLE}"], result.stderr


def test_named_paths_that_cannot_be_read_are_one_error_line_each(mnist, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("x\n")
    (tmp_path / "empty").mkdir()
    expected = {
        tmp_path / "missing.jpg": "no such file or directory",
        notes / "digit.png": "not a directory",
        tmp_path / "empty": "no files in this folder",
    }
    result = run_cli("predict", str(mnist), *map(str, expected))
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr and "Usage" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {path}: {why}" for path, why in expected.items()]
    assert notes.read_text() == "x\n"


def test_predict_needs_a_finished_run(mnist, tmp_path):
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    for name in ("config.yaml", "classes.json", "history.json"):
        (unfinished / name).write_bytes((mnist / name).read_bytes())
    result = CliRunner().invoke(app, ["predict", str(unfinished), str(tmp_path)])
    assert result.exit_code == 1
    assert "has no model.keras yet" in result.output
