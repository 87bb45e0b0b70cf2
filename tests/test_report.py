"""Mistakes from `cnnzoo evaluate`, and the HTML report: its numbers, and opened in Chromium."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.datasets.synthetic import MONKEY_CLASSES, make_monkeys_folder

from .helpers import one_error_line, sha256_tree
from .trained_runs import mnist_run, monkeys_run

runner = CliRunner()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the shared monkeys run, evaluated on relabelled images.

    Each validation class folder holds the next class's images, so the evaluation has mistakes
    however well the run learned. The copy's config points at that data, so it is the run's own
    evaluation (`--data` would write `evaluation-validation-on-relabelled.json` beside it).
    """
    root = tmp_path_factory.mktemp("report")
    copy = root / "monkeys"
    shutil.copytree(monkeys_run(tmp_path_factory), copy)
    data = make_monkeys_folder(root / "relabelled", 1, 3, size=(32, 32), seed=5)
    folders = data / "validation" / "validation"
    for name in MONKEY_CLASSES:
        (folders / name).rename(folders / f"{name}.old")
    for index, name in enumerate(MONKEY_CLASSES):
        (folders / f"{name}.old").rename(folders / MONKEY_CLASSES[(index + 1) % 10])
    config = yaml.safe_load((copy / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = str(data)
    (copy / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(copy)])
    assert result.exit_code == 0, result.output
    return copy


def _read(run: Path, name: str):
    return json.loads((run / name).read_text(encoding="utf-8"))


def test_evaluate_writes_mistakes_that_match_the_confusion_matrix(evaluated: Path) -> None:
    evaluation = _read(evaluated, "evaluation-validation.json")
    mistakes = _read(evaluated, "mistakes-validation.json")
    confusion = np.array(evaluation["confusion_matrix"])
    off_diagonal = confusion.sum() - np.trace(confusion)
    assert mistakes["num_mistakes"] == off_diagonal > 0
    assert mistakes["num_examples"] == evaluation["num_examples"]
    names = evaluation["class_names"]
    counts = [pair["count"] for pair in mistakes["confused_pairs"]]
    assert counts == sorted(counts, reverse=True)
    for pair in mistakes["confused_pairs"]:
        true, predicted = names.index(pair["true"]), names.index(pair["predicted"])
        assert true != predicted and pair["count"] == confusion[true, predicted]
    # The worst mistakes are the most confident wrong predictions of the saved predictions.
    saved = np.load(evaluated / "predictions-validation.npz")
    probabilities, labels = saved["probabilities"], saved["labels"]
    wrong = probabilities.argmax(1) != labels
    assert mistakes["worst"][0]["confidence"] == pytest.approx(probabilities[wrong].max())
    for record in mistakes["worst"]:
        assert names[labels[record["index"]]] == record["true"]
    pixels = np.load(evaluated / "mistakes-validation.npz")["pixels"]
    assert pixels.dtype == np.uint8 and pixels.shape[1:] == (32, 32, 3)
    assert len(pixels) == len(mistakes["worst"]) == min(16, off_diagonal)
    with Image.open(evaluated / "mistakes-validation.png") as grid:
        assert grid.format == "PNG" and 400 <= grid.width <= 1200 and 300 <= grid.height <= 1400


def test_evaluate_lists_the_confused_pairs(tmp_path: Path, evaluated: Path) -> None:
    copy = tmp_path / "again"
    shutil.copytree(evaluated, copy)
    result = runner.invoke(app, ["evaluate", str(copy)])
    assert result.exit_code == 0, result.output
    first = _read(copy, "mistakes-validation.json")["confused_pairs"][0]
    assert "Most confused (true -> predicted)" in result.output
    assert f"{first['true']} -> {first['predicted']}: {first['count']} " in result.output


def _images(page: str) -> list[Image.Image]:
    sources = re.findall(r'<img src="([^"]+)"', page)
    pictures = []
    for source in sources:
        assert source.startswith("data:image/png;base64,"), source[:40]
        picture = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        picture.load()
        pictures.append(picture)
    return pictures


def test_report_is_one_self_contained_page_with_the_runs_numbers(evaluated: Path) -> None:
    result = runner.invoke(app, ["report", str(evaluated)])
    assert result.exit_code == 0, result.output
    page = (evaluated / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from the network
    pictures = _images(page)
    # curves, confusion matrix, mistakes grid, Grad-CAM of the mistakes
    assert len(pictures) == 4 and all(p.width >= 300 and p.height >= 200 for p in pictures)
    evaluation = _read(evaluated, "evaluation-validation.json")
    text = html.unescape(page)
    assert f"{100 * evaluation['accuracy']:.2f}%" in text
    assert f"{evaluation['loss']:.4f}" in text
    for row in evaluation["per_class"]:
        assert f'<td>{row["class"]}</td><td class="num">{row["precision"]:.3f}</td>' in text
    mistakes = _read(evaluated, "mistakes-validation.json")
    assert f"Mistakes: {mistakes['num_mistakes']} of {mistakes['num_examples']}" in text
    assert "Grad-CAM at conv2_relu for the predicted class" in text
    assert "seed: " in text and "<td>tensorflow</td>" in text  # config YAML, environment


def test_training_writes_the_report_and_several_runs_compare(
    tmp_path_factory: pytest.TempPathFactory, evaluated: Path, tmp_path: Path
) -> None:
    mnist = mnist_run(tmp_path_factory)
    page = (mnist / "report.html").read_text(encoding="utf-8")  # written by `cnnzoo train`
    assert "Not evaluated yet" in page and len(_images(page)) == 1
    output = tmp_path / "both.html"
    result = runner.invoke(app, ["report", str(mnist), str(evaluated), "-o", str(output)])
    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    assert "2 runs compared" in page and "mnist_lenet (lenet)" in page
    assert "monkeys_lenet (lenet)" in page and "best val acc" in page


def test_report_never_overwrites_a_users_file(evaluated: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>", encoding="utf-8")
    result = runner.invoke(app, ["report", str(evaluated), "-o", str(mine)])
    assert result.exit_code == 1 and "is not a cnnzoo report" in result.output
    assert mine.read_text(encoding="utf-8") == "<p>my notes</p>"
    missing = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and missing.output.startswith("error: Run folder not found")


def test_report_knows_its_own_page_by_its_generator_tag_not_by_its_words(
    evaluated: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "n.html"
    mine.write_text(
        "<html><head><title>Notes</title></head><body><p>How I use cnnzoo report: "
        "<code>cnnzoo report RUN -o n.html</code></p></body></html>\n",
        encoding="utf-8",
    )
    before = sha256_tree(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "report", str(evaluated), "--no-gradcam", "-o", str(mine)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = one_error_line(result, code=1)
    assert f"--output: {mine} exists and is not a cnnzoo report" in line
    assert sha256_tree(tmp_path) == before
    ours = tmp_path / "ours.html"
    for _ in range(2):  # an earlier cnnzoo page is replaced, as documented
        written = runner.invoke(app, ["report", str(evaluated), "--no-gradcam", "-o", str(ours)])
        assert written.exit_code == 0, written.output
    assert '<meta name="generator" content="cnnzoo report">' in ours.read_text(encoding="utf-8")


# Inserted before the page's Content-Security-Policy, which therefore does not apply to it.
PROBE = """<script>
var problems = [];
addEventListener("error", function (e) {
  problems.push("error: " + (e.message || (e.target && e.target.tagName)));
}, true);
addEventListener("securitypolicyviolation", function (e) {
  problems.push("csp: " + e.blockedURI);
});
console.error = function () { problems.push("console: " + [].join.call(arguments, " ")); };
addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  document.documentElement.setAttribute("data-probe", JSON.stringify({
    images: images.length,
    broken: images.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length,
    problems: problems,
    dark: matchMedia("(prefers-color-scheme: dark)").matches,
    sideways: document.documentElement.scrollWidth > innerWidth,
  }));
});
</script>"""


def chromium(program: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium (no sandbox: tests may run as root in a container)."""
    command = [program, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=True
    )


def browse(program: str, report: Path, folder: Path, width: int, dark: bool) -> tuple[dict, Path]:
    """Open the report at `width`: (what the probe saw after load, a screenshot)."""
    probe = folder / f"probe-{width}-{'dark' if dark else 'light'}.html"
    probe.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    scheme = ["--force-dark-mode"] if dark else []
    size = f"--window-size={width},2400"
    dom = chromium(
        program, *scheme, size, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()
    )
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, dom.stdout[:500]
    shot = probe.with_suffix(".png")
    chromium(program, *scheme, size, f"--screenshot={shot}", report.as_uri())
    return json.loads(html.unescape(found.group(1))), shot


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (1280, True), (390, False)])
def test_report_in_a_real_browser(
    chromium_program: str, evaluated: Path, tmp_path: Path, width: int, dark: bool
) -> None:
    # The evaluated report (training's own report.html has not seen the evaluation yet).
    assert runner.invoke(app, ["report", str(evaluated)]).exit_code == 0
    report = evaluated / "report.html"
    seen, shot = browse(chromium_program, report, tmp_path, width, dark)
    assert seen["problems"] == []
    assert seen["images"] == 4 and seen["broken"] == 0
    assert seen["dark"] is dark
    assert seen["sideways"] is False  # wide tables scroll in their own box, not the page
    with Image.open(shot) as picture:
        assert picture.size == (width, 2400)
        background = picture.convert("L").getpixel((2, 2))
    assert background < 60 if dark else background > 200
