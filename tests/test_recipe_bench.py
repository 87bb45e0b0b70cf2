"""The recipe benchmark: its variants of real digits, its table, and its quick mode end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnzoo.datasets.monkeys import layout_problems

from .helpers import REPO
from .real_digits import write_digits

sys.path.insert(0, str(REPO / "scripts"))
import recipe_bench  # noqa: E402
import variants  # noqa: E402


def _variants(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "variants.py"), *arguments],
        capture_output=True,
        text=True,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*.jpg")}


def test_a_variant_is_what_it_says_and_the_same_for_the_same_seed(tmp_path: Path) -> None:
    result = _variants(str(tmp_path / "a"), "--variant", "three_classes", "--quick")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "a" / "three_classes-quick-seed0"
    assert str(folder) in result.stdout
    # train/<class>/ and test/<class>/ (3 classes: the directory layout), stratified, disjoint.
    counts = {
        split: {c.name: len(list(c.glob("*.jpg"))) for c in (folder / split).iterdir()}
        for split in ("train", "test")
    }
    assert counts == {
        "train": {"digit_3": 12, "digit_5": 12, "digit_8": 12},
        "test": {"digit_3": 6, "digit_5": 6, "digit_8": 6},
    }
    names = {
        split: {p.stem.split("_")[1] for p in (folder / split).rglob("*.jpg")} for split in counts
    }
    assert not names["train"] & names["test"]
    variant = variants.VARIANTS["three_classes"]
    for path in folder.rglob("*.jpg"):
        with Image.open(path) as image:
            assert image.mode == "RGB"
            assert variant.width[0] <= image.width <= variant.width[1]
            assert variant.height[0] <= image.height <= variant.height[1]
            pixels = np.asarray(image, np.float64)
        # Coloured, and the ink stands out: the brightness spans far more than the background's.
        assert np.abs(pixels[..., 0] - pixels[..., 1]).mean() > 3
        brightness = pixels @ variants.LUMA
        assert np.percentile(brightness, 99) - np.percentile(brightness, 1) > 60
    assert _variants(str(tmp_path / "b"), "--variant", "three_classes", "--quick").returncode == 0
    assert _files(folder) == _files(tmp_path / "b" / "three_classes-quick-seed0")
    other = _variants(str(tmp_path / "c"), "--variant", "three_classes", "--quick", "--seed", "1")
    assert other.returncode == 0
    assert _files(tmp_path / "c" / "three_classes-quick-seed1").keys() != _files(folder).keys()


def test_ten_class_folders_are_in_the_monkeys_layout_and_grey_28s_are_npz(tmp_path: Path) -> None:
    arguments = ["--variant", "monkeys_digits", "--variant", "digits28_shift", "--quick"]
    result = _variants(str(tmp_path), *arguments)
    assert result.returncode == 0, result.stderr
    monkeys = tmp_path / "monkeys_digits-quick-seed0"
    assert layout_problems(monkeys) == []  # cnnzoo's own check of the Kaggle layout
    assert len(list(monkeys.glob("training/training/n*/*.jpg"))) == 120
    assert len(list(monkeys.glob("validation/validation/n*/*.jpg"))) == 60
    with np.load(tmp_path / "digits28_shift-quick-seed0.npz") as arrays:
        assert arrays["x_train"].shape == (300, 28, 28) and arrays["x_train"].dtype == np.uint8
        assert arrays["x_test"].shape == (100, 28, 28)
        assert sorted(set(arrays["y_train"])) == list(range(10))
        # Not centred on black as MNIST is: a textured background under every digit.
        assert (arrays["x_train"][:, :4, :4] > 0).mean() > 0.9


def test_variants_refuse_existing_output_and_unknown_names(tmp_path: Path) -> None:
    assert _variants(str(tmp_path), "--variant", "three_classes", "--quick").returncode == 0
    again = _variants(str(tmp_path), "--variant", "three_classes", "--quick")
    assert again.returncode == 2 and again.stderr.startswith("error: ")
    assert "exists" in again.stderr and "Traceback" not in again.stderr
    unknown = _variants(str(tmp_path), "--variant", "monkey_mnist")
    assert unknown.returncode == 2 and "unknown variant monkey_mnist; known:" in unknown.stderr
    listed = _variants("--list")
    assert listed.returncode == 0
    assert [line.split(":")[0] for line in listed.stdout.splitlines()] == list(variants.VARIANTS)


def _row(variant: str, runner: str, seed: int, test: float, reached: float | None) -> dict:
    time_to_target = None if reached is None else {"epoch": 3, "wall": reached, "cpu": 1.0}
    return {
        "variant": variant, "seed": seed, "runner": runner, "epochs": 5,
        "best_validation": test, "final_validation": test, "test": test,
        "wall": 100.0 + seed, "cpu": 150.0, "target": 0.8, "time_to_target": time_to_target,
    }  # fmt: skip


@pytest.mark.fast
def test_table_gives_mean_and_spread_and_says_which_variants_recipes_were_chosen_on() -> None:
    rows = [
        _row("monkeys_digits", "recipe_monkeys_scratch", 0, 0.9, 40.0),
        _row("monkeys_digits", "recipe_monkeys_scratch", 1, 1.0, None),
        _row("grey_texture", "plain Keras", 0, 0.5, None),
    ]
    table = recipe_bench.format_table(rows, ["monkeys_digits"], markdown=True)
    lines = table.splitlines()
    chosen = next(line for line in lines if "recipe_monkeys_scratch" in line)
    # Two seeds: 90% and 100% -> mean 95.0%, sample standard deviation 7.1 points.
    assert (
        "| monkeys_digits | chosen on | recipe_monkeys_scratch | 2 | 95.0% \u00b1 7.1 |" in chosen
    )
    assert chosen.endswith("| 40 (1/2) |")  # reached by one seed of two, at 40 s
    reported = next(line for line in lines if "plain Keras" in line)
    assert "| grey_texture | reported on |" in reported and "not reached (0/1)" in reported


@pytest.mark.fast
def test_configs_meet_the_variants_they_can_read() -> None:
    folder, npz = variants.VARIANTS["five_classes"], variants.VARIANTS["mnist28"]
    assert recipe_bench.fits(folder, "monkeys") and not recipe_bench.fits(folder, "mnist")
    assert recipe_bench.fits(npz, "mnist") and not recipe_bench.fits(npz, "directory")
    # Five classes are not the monkeys' ten: a monkeys config reads them as class folders.
    assert recipe_bench.data_overrides(folder, Path("/v"), "monkeys") == [
        "data.dataset=directory", "data.path=/v/train", "data.val_path=/v/test",
    ]  # fmt: skip
    ten = variants.VARIANTS["monkeys_mnist"]
    assert recipe_bench.data_overrides(ten, Path("/v"), "monkeys") == ["data.path=/v"]


def test_the_reference_trains_exactly_the_epochs_asked_whatever_the_deadline(
    tmp_path: Path,
) -> None:
    # --reference-epochs: a deadline already past does not stop it, and it learns real digits.
    import time

    started = time.time()
    record = recipe_bench.reference(
        write_digits(tmp_path), "npz", seed=0, deadline=started, launched=started, epochs=2
    )
    assert len(record["epochs"]) == 2
    assert record["epochs"][-1]["val_accuracy"] > 0.5 and record["test"] > 0.5, record


def test_a_failed_run_is_recorded_and_the_benchmark_goes_on(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "recipe_bench.py"), "--quick"]
        + ["--variants", "three_classes", "--configs", "recipe_monkeys_scratch"]
        + ["--set", "train.batch_size=0", "--workdir", str(tmp_path), "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    runs = json.loads(results.read_text(encoding="utf-8"))["runs"]
    assert [run["runner"] for run in runs] == ["recipe_monkeys_scratch", "plain Keras"]
    assert runs[0]["error"].startswith("error: ") and "batch_size" in runs[0]["error"]
    assert runs[1]["error"] == "no budget: recipe_monkeys_scratch failed"
    assert "three_classes seed 0 recipe_monkeys_scratch: failed: error: " in process.stdout
    row = next(line for line in process.stdout.splitlines() if "0 (1 failed)" in line)
    assert "recipe_monkeys_scratch" in row


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--configs", "recipe_monkey"], "error: unknown config recipe_monkey; shipped: "),
        (["--variants", "monkeys"], "error: unknown variant monkeys; known: monkeys_mnist"),
        (["--chosen-on", "mnist"], "error: unknown variant mnist; known: "),
    ],
)
def test_bench_usage_errors_exit_2_before_anything_runs(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "recipe_bench.py"), "--quick", *arguments]
        + ["--workdir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2 and process.stderr.startswith(message), process.stderr
    assert len(process.stderr.splitlines()) == 1 and not (tmp_path / "work").exists()


@pytest.mark.slow
def test_quick_mode_runs_configs_and_the_reference_and_prints_the_table(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "recipe_bench.py"), "--quick"]
        + ["--workdir", str(tmp_path), "--cache", str(tmp_path / "cache"), "--json", str(results)]
        + ["--chosen-on", "digits28_shift"],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=1800,
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    record = json.loads(results.read_text(encoding="utf-8"))
    runs = {(run["variant"], run["runner"]): run for run in record["runs"]}
    assert list(runs) == [
        ("monkeys_mnist", "recipe_monkeys_scratch"),
        ("monkeys_mnist", "plain Keras"),
        ("digits28_shift", "recipe_mnist"),
        ("digits28_shift", "plain Keras"),
    ]
    for (variant, runner), run in runs.items():
        assert run["epochs"] >= 1 and run["wall"] > 0 and run["cpu"] > 0, runner
        assert 0 <= run["test"] <= 1 and len(run["per_epoch"]) == run["epochs"]
        if runner == "plain Keras":  # the budget is the config's whole-process wall time
            config = next(name for v, name in runs if v == variant and name != runner)
            assert run["budget"] == runs[variant, config]["wall"]
    assert (tmp_path / "variants" / "monkeys_mnist-quick-seed0" / "monkey_labels.txt").exists()
    table = [re.split(r"\s{2,}", line.strip()) for line in process.stdout.splitlines()]
    assert ["digits28_shift", "chosen on", "recipe_mnist", "1"] in [row[:4] for row in table]
    assert ["monkeys_mnist", "reported on", "plain Keras", "1"] in [row[:4] for row in table]
