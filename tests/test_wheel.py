"""A cnnzoo installed from a wheel, with no clone around it, trains a shipped config by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from cnnzoo.config.files import shipped_configs

from .helpers import REPO

BUNDLED = ("mnist_sample.npz", "mnist_sample.LICENSE.md")  # the quickstart's real MNIST sample


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with cnnzoo installed from a wheel built from the repository.

    Built offline: from a copy of the sources (so the checkout gets no build/ folder), without
    build isolation; the dependencies come from this test environment's site-packages.
    """
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(
        REPO / "cnnzoo", source / "cnnzoo", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = _run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        root,
        source,
        cwd=root,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = root.glob("cnnzoo-*.whl")
    shipped = {f"cnnzoo/configs/{name}.yaml" for name in shipped_configs()}
    shipped |= {f"cnnzoo/datasets/bundled/{name}" for name in BUNDLED}
    assert shipped <= set(zipfile.ZipFile(wheel).namelist())

    venv = root / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root).returncode == 0
    python = venv / "bin" / "python"
    install = _run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=root)
    assert install.returncode == 0, install.stderr
    # The dependencies (TensorFlow, Keras, ...) of this environment, without its editable cnnzoo:
    # a path in a .pth file is added to sys.path, but the .pth files inside it are not run.
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=root)
    deps = Path(sysconfig.get_path("purelib"))
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    return venv


def test_wheel_installed_cnnzoo_trains_a_shipped_config_by_name(
    installed: Path, mnist_npz: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        installed / "bin" / "python", "-c", "import cnnzoo; print(cnnzoo.__file__)", cwd=empty
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr

    listing = _run(installed / "bin" / "cnnzoo", "config", "list", cwd=empty)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list(shipped_configs())

    # mnist_lenet_modern extends mnist_lenet.yaml: `extends:` works inside the installed package.
    train = _run(
        installed / "bin" / "cnnzoo",
        "train",
        "-c",
        "mnist_lenet_modern",
        "--set",
        "train.epochs=1",
        "--set",
        "train.steps_per_epoch=2",
        "--set",
        f"data.path={mnist_npz}",
        cwd=empty,
    )
    assert train.returncode == 0, train.stderr
    run_dir = empty / train.stdout.strip().splitlines()[-1].removeprefix("Run folder: ")
    assert run_dir.parent == empty / "runs" / "mnist_lenet_modern", train.stdout
    assert (run_dir / "model.keras").is_file() and (run_dir / "metrics.json").is_file()
    saved = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert "variant: modern" in saved and "batch_size: 128" in saved

    # The quickstart's data is inside the installed package: its test split is the sample's.
    quickstart = _run(
        installed / "bin" / "python",
        "-c",
        "from cnnzoo.config.schema import load_config; "
        "from cnnzoo.datasets.sources import split_source; "
        "from cnnzoo.datasets.mnist_sample import SAMPLE_FILE; "
        "config = load_config('quickstart'); "
        "print(len(split_source(config.data, config.seed, 'test')[0]), SAMPLE_FILE)",
        cwd=empty,
    )
    assert quickstart.returncode == 0, quickstart.stderr
    count, path = quickstart.stdout.split()
    assert count == "1000" and Path(path).is_relative_to(installed), quickstart.stdout

    unknown = _run(installed / "bin" / "cnnzoo", "train", "-c", "mnist_lenett", cwd=empty)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and 'Did you mean "mnist_lenet"?' in unknown.stderr
