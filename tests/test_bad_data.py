"""Bad image files as a user meets them, on real JPEGs (scikit-learn's digits as class folders):
every split checked, each file named once, nothing dropped silently in any epoch or cache mode,
no Keras "ran out of data", and partial disk caches of killed runs cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from cnnzoo.config.schema import resolve
from cnnzoo.data import bad_files, pipeline
from cnnzoo.utils.errors import CnnzooError

from .helpers import REPO, one_error_line, run_cli
from .real_digits import write_digits
from .tiny_runs import finish, start_cli


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits as JPEG folders train/<digit>/ (200 images) and test/<digit>/ (450), 16x16."""
    folder = tmp_path_factory.mktemp("digits")
    return write_digits(folder, "folders", "--layout", "classes", "--size", "16", "--limit", "200")


@pytest.fixture
def spoiled(digits: Path, tmp_path: Path) -> Path:
    """A copy of the digits with a text file in train/4 and a truncated JPEG in test/5."""
    root = Path(shutil.copytree(digits, tmp_path / "digits"))
    (root / "train" / "4" / "notes.txt").write_text("not a digit\n", encoding="utf-8")
    jpeg = next((root / "test" / "5").iterdir())
    (root / "test" / "5" / "truncated.jpg").write_bytes(jpeg.read_bytes()[:100])
    return root


def config_file(tmp_path: Path, root: Path, **data: object) -> Path:
    """A 1-epoch LeNet config on `root`'s train/ folder, validated on its test/ folder."""
    config = {
        "data": {
            "dataset": "directory",
            "path": str(root / "train"),
            "val_path": str(root / "test"),
            "image_size": [16, 16],
            "channels": 1,
            **data,
        },
        "model": {"name": "lenet", "variant": "modern"},
        "train": {"epochs": 2, "batch_size": 32},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_bad_files_error_names_the_bad_files_of_every_split_before_training(spoiled, tmp_path):
    config = config_file(tmp_path, spoiled, bad_files="error")
    run = tmp_path / "run"
    line = one_error_line(run_cli("train", "-c", str(config), "-o", str(run)))
    assert "1 of 201 train files and 1 of 451 validation files" in line, line
    assert "train/4/notes.txt" in line and "test/5/truncated.jpg" in line
    assert "data.bad_files: skip" in line
    assert not run.exists()


def test_bad_files_error_covers_a_separate_test_folder_before_training(spoiled, tmp_path):
    """An archive's train/ and test/ folders: validation is held out of train/, and the test
    folder, which training never reads, is checked too."""
    (spoiled / "train" / "4" / "notes.txt").unlink()
    data = {"dataset": "archive", "path": str(spoiled), "url": "file:///unused.zip"}
    config = {
        "data": {**data, "sha256": "0" * 64, "image_size": [16, 16], "channels": 1},
        "model": {"name": "lenet", "variant": "modern"},
        "train": {"epochs": 1, "batch_size": 32},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "archive.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli("train", "-c", str(path), "--set", "data.bad_files=error")
    line = one_error_line(result)
    assert "1 of 451 test files are not a decodable image" in line, line
    assert str(spoiled / "test" / "5" / "truncated.jpg") in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_many_bad_files_are_counted_not_all_listed(spoiled, tmp_path):
    for index in range(12):
        (spoiled / "train" / "7" / f"junk{index:02d}.txt").write_text("x", encoding="utf-8")
    config = resolve(
        yaml.safe_load(config_file(tmp_path, spoiled, bad_files="error").read_text()), "digits"
    )
    with pytest.raises(CnnzooError) as raised:
        pipeline.build_datasets(config)
    message = str(raised.value)
    assert "13 of 213 train files and 1 of 451 validation files" in message
    assert message.count(str(spoiled)) == bad_files.SHOWN and "and 4 more" in message


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_each_bad_file_is_warned_once_and_keras_never_runs_out_of_data(spoiled, tmp_path, cache):
    config = config_file(tmp_path, spoiled, cache=cache)
    code, _, err = finish(start_cli("train", "-c", str(config), "-o", str(tmp_path / "run")))
    assert code == 0, err
    for name in ("train/4/notes.txt", "test/5/truncated.jpg"):
        assert err.count(name) == 1, err
    warning = next(line for line in err.splitlines() if "notes.txt" in line)
    assert warning.startswith("warning: ") and "not a decodable image" in warning
    assert "ran out of data" not in err, err
    assert "Traceback" not in err


def test_a_file_failing_in_a_later_epoch_is_named_with_the_epoch(spoiled, tmp_path):
    """`data.cache: none` decodes every epoch: a file that breaks mid-run is warned about (once),
    with the epoch, and the epoch keeps its length (a decoded image of the split stands in)."""
    raw = yaml.safe_load(config_file(tmp_path, spoiled, cache="none").read_text())
    raw["data"].pop("val_path")
    raw["data"].update(path=str(spoiled / "test"), validation_split=0.0)
    config = resolve(raw, "digits")
    with pytest.warns(pipeline.BadFilesWarning, match="truncated.jpg"):
        bundle = pipeline.build_datasets(config)
    batches = sum(1 for _ in bundle.train)
    gone = next((spoiled / "test" / "3").iterdir())
    gone.unlink()
    broken = next((spoiled / "test" / "8").iterdir())
    broken.write_text("overwritten\n", encoding="utf-8")
    bad_files.EpochNote().on_epoch_begin(1)  # as training does: epoch 2 begins
    with pytest.warns(pipeline.BadFilesWarning) as caught:
        again = [labels.shape[0] for _, labels in bundle.train]
    messages = sorted(str(warning.message) for warning in caught)
    assert len(messages) == 2, messages
    by_path = {path: next(m for m in messages if str(path) in m) for path in (gone, broken)}
    assert "in epoch 2" in by_path[gone] and "No such file or directory" in by_path[gone]
    assert "not a decodable image" in by_path[broken]
    assert len(again) == batches and sum(again) == bundle.num_train
    with warnings.catch_warnings():
        warnings.simplefilter("error", pipeline.BadFilesWarning)  # once per file, not per epoch
        assert sum(1 for _ in bundle.train) == batches


def test_every_run_warns_about_its_bad_files_also_in_one_process(spoiled, tmp_path):
    """Scripts, sweeps and notebooks train several runs in one process: none skips silently."""
    from cnnzoo.engine.training import train_from_config

    raw = yaml.safe_load(config_file(tmp_path, spoiled).read_text())
    raw["train"]["epochs"] = 1
    for attempt in range(2):
        config = resolve(raw, "digits")
        with pytest.warns(pipeline.BadFilesWarning, match="notes.txt"):
            train_from_config(config, tmp_path / f"run{attempt}", log=lambda line: None)


def test_a_file_failing_mid_run_is_named_with_its_epoch_by_cnnzoo_train(digits, tmp_path):
    """As a user meets it: a training file deleted while `cnnzoo train` runs (`data.cache:
    none`). One pass over the 200 training images lasts 7 one-batch epochs; the file goes after
    epoch 2, so the second pass (epoch 8) is the first to miss it."""
    root = Path(shutil.copytree(digits, tmp_path / "digits"))
    config = config_file(tmp_path, root, cache="none")
    raw = yaml.safe_load(config.read_text())
    raw["train"].update(epochs=12, steps_per_epoch=1)
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    run = tmp_path / "run"
    process = start_cli("train", "-c", str(config), "-o", str(run))
    history = run / "history.csv"
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) >= 3:  # header + 2
            break
        time.sleep(0.01)
    victim = sorted((root / "train" / "7").iterdir())[0]
    victim.unlink()
    code, _, err = finish(process)
    assert code == 0, err
    lines = [line for line in err.splitlines() if str(victim) in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"warning: The train file {victim} failed in epoch ")
    epoch = int(lines[0].split("failed in epoch ")[1].split()[0])
    assert 3 <= epoch <= 9 and "(cannot be read: No such file or directory)" in lines[0]
    assert len(history.read_text().splitlines()) == 13  # every epoch trained


def _partials(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.partial-*")) if cache.is_dir() else []


def test_a_killed_runs_partial_disk_cache_is_removed_by_the_next_run(digits, tmp_path):
    from PIL import Image

    root = Path(shutil.copytree(digits, tmp_path / "digits"))
    for index in range(8):  # large images slow the caching pass enough to kill it during it
        Image.fromarray(np.full((3000, 3000), index * 30, np.uint8)).save(
            root / "train" / "1" / f"large{index}.png"
        )
    config = config_file(tmp_path, root, cache="disk")
    cache = tmp_path / "runs" / "cache"
    process = start_cli("train", "-c", str(config), "-o", str(tmp_path / "killed"))
    deadline = time.monotonic() + 120
    while not _partials(cache) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    left = _partials(cache)
    assert left, "the run was not killed while writing its cache"
    live = subprocess.Popen(["sleep", "300"])
    try:
        kept = cache / f"other.partial-{socket.gethostname()}-{live.pid}.index"
        elsewhere = cache / f"other.partial-another-host-{process.pid}.index"
        for path in (kept, elsewhere):
            path.write_bytes(b"a live writer's, or another host's")
        code, _, err = finish(start_cli("train", "-c", str(config), "-o", str(tmp_path / "run")))
        assert code == 0, err
        assert _partials(cache) == sorted([kept, elsewhere])
    finally:
        live.kill()
        live.wait()
    assert any(
        path.name.endswith(".index") and "partial" not in path.name for path in cache.iterdir()
    )


# --- Files that cannot be read: an error naming the file, never "not an image" -----------------


def run_cli_unprivileged(*args: str) -> subprocess.CompletedProcess:
    """`python -m cnnzoo ARGS` without root's power to read any file (tests run as root here,
    where `chmod 000` denies nothing): the capabilities that bypass file permissions dropped."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-permission override")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "cnnzoo", *args],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _deny(path: Path) -> str:
    path.chmod(0)
    return "Permission denied"


def _fail_reads(path: Path) -> str:
    path.unlink()
    path.symlink_to("/proc/self/mem")  # a regular file whose first byte is an I/O error
    return "Input/output error"


@pytest.mark.parametrize("spoil", [_deny, _fail_reads], ids=["permission", "io-error"])
def test_a_training_file_that_cannot_be_read_is_an_error_naming_it(digits, tmp_path, spoil):
    root = Path(shutil.copytree(digits, tmp_path / "digits"))
    victim = sorted((root / "test" / "6").iterdir())[0]
    reason = spoil(victim)
    config = config_file(tmp_path, root)
    run = tmp_path / "run"
    line = one_error_line(run_cli_unprivileged("train", "-c", str(config), "-o", str(run)))
    assert line == (
        f"error: 1 dataset file cannot be read ({reason}): {victim}. Fix its permissions or the "
        "disk, or move it out of the dataset folder."
    )
    assert not run.exists()


def test_predict_on_a_file_it_may_not_read_is_one_error_line(mnist, tmp_path):
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(secret)
    _deny(secret)
    result = run_cli_unprivileged("predict", str(mnist), str(secret))
    assert one_error_line(result) == f"error: {secret}: cannot be read: Permission denied"
    assert result.stdout == ""
