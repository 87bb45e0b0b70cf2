"""Bad input as a user types it: one `error:` line, a non-zero exit, no traceback, no files."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from cnnzoo.datasets.mnist import ImageScaleWarning, load_mnist_arrays
from cnnzoo.datasets.synthetic import make_class_folder, make_mnist_npz
from cnnzoo.utils.errors import CnnzooError

from .helpers import one_error_line, run_cli
from .real_digits import write_digits
from .tiny_runs import finish, start_cli, tiny_config


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- Config files ------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["3e-4", "3E-4", "3.0e-4", "0.0003"])
def test_exponent_floats_in_yaml_are_numbers(tmp_path: Path, written: str) -> None:
    config = write(
        tmp_path / "c.yaml", f"model: {{name: lenet}}\ntrain:\n  learning_rate: {written}\n"
    )
    result = run_cli("config", "show", str(config))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["train"]["learning_rate"] == pytest.approx(3e-4)


def test_exponent_floats_in_set_overrides_are_numbers(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "model: {name: lenet}\n")
    result = run_cli(
        "config", "show", str(config), "--set", "train.learning_rate=1e-4",
        "--set", "train.min_learning_rate=1E-6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    train = yaml.safe_load(result.stdout)["train"]
    assert (train["learning_rate"], train["min_learning_rate"]) == (1e-4, 1e-6)


def test_words_that_look_like_numbers_stay_text(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "model: {name: lenet}\nname: 1e\n")
    result = run_cli("config", "show", str(config))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["name"] == "1e"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "{}\n"])
@pytest.mark.parametrize("command", ["validate", "train"])
def test_an_empty_config_file_is_refused(tmp_path: Path, text: str, command: str) -> None:
    config = write(tmp_path / "empty.yaml", text)
    args = (
        ("config", "validate", str(config))
        if command == "validate"
        else ("train", "-c", str(config))
    )
    line = one_error_line(run_cli(*args, cwd=tmp_path), code=2)
    assert f"{config} is empty" in line
    assert "cnnzoo config show NAME" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.yaml"]  # no run folder
    assert config.read_text(encoding="utf-8") == text


def test_a_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    text = "model: {name: lenet}\ntrain:\n  epochs: 3\n  batch_size: 8\n  epochs: 5\n"
    config = write(tmp_path / "c.yaml", text)
    for args in (("config", "validate", str(config)), ("train", "-c", str(config))):
        line = one_error_line(run_cli(*args, cwd=tmp_path), code=2)
        assert str(config) in line and "'epochs' is set twice" in line
        assert "lines 3 and 5" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_a_section_given_twice_is_refused_too(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "train: {epochs: 3}\nmodel: {name: lenet}\ntrain: {}\n")
    line = one_error_line(run_cli("config", "validate", str(config)), code=2)
    assert "'train' is set twice" in line and "lines 1 and 3" in line


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    text = "model: {name: lenet}\ntrain:\n  <<: {epochs: 3, batch_size: 8}\n  epochs: 5\n"
    result = run_cli("config", "show", str(write(tmp_path / "c.yaml", text)))
    assert result.returncode == 0, result.stderr
    train = yaml.safe_load(result.stdout)["train"]
    assert (train["epochs"], train["batch_size"]) == (5, 8)


# --- One validation phase: refused before any folder exists, for every command ----------------

# The digits config of issue 20 as a user types it; {digits} is filled in per test.
C = ("-c", "mnist_lenet_modern", "--set", "data.path={digits}", "--set", "train.epochs=1")
SPACE = "train.learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"
HOLDOUT_SPACE = "data.validation_split: {type: float, low: 0.0, high: 0.2}\n"
# Each value is fine with the base config; two of them together are not.
CLASH_SPACE = "train.freeze_epochs: {choices: [0, 2]}\ntrain.warmup_epochs: {choices: [0, 3]}\n"
RESNET_WEIGHTS = "model={{name: resnet18, weights: '{}'}}"  # weights: a resnet18 option


def train(setting: str) -> tuple[str, ...]:
    """`cnnzoo train` of the digits config with one more `--set`, into the folder R."""
    return ("train", *C, "--set", setting, "--output", "R")


def validate(setting: str) -> tuple[str, ...]:
    """`cnnzoo config validate` of the digits config with one more `--set`."""
    return ("config", "validate", *C[1:], "--set", setting)


REFUSED = {
    "sweep without validation images": (
        ("sweep", *C, "--set", "data.validation_split=0", "--space", "s.yaml", "--trials", "3"),
        "cnnzoo sweep judges trials on validation accuracy, but this config gives the mnist "
        "dataset no validation images. Set data.validation_split above 0",
    ),
    "sweep whose space reaches no validation images": (
        ("sweep", *C, "--space", "holdout.yaml", "--trials", "3"),
        "holdout.yaml: data.validation_split=0.0: cnnzoo sweep judges trials on validation",
    ),
    "sweep whose values clash together": (
        (
            "sweep",
            *C,
            "--set",
            "train.epochs=4",
            "--set",
            RESNET_WEIGHTS.format("imagenet"),
            "--space",
            "clash.yaml",
        ),
        "clash.yaml: train.freeze_epochs=2, train.warmup_epochs=3: train.warmup_epochs: the "
        "warm-up belongs to the head phase, so it must be at most train.freeze_epochs (2)",
    ),  # fmt: skip
    "sweep trials starting from no run": (
        ("sweep", *C, "--set", "train.init_from=NOT_A_RUN", "--space", "s.yaml"),
        "train.init_from: NOT_A_RUN does not exist; point it at a completed cnnzoo run folder",
    ),
    "train from no run": (
        train("train.init_from=NOT_A_RUN"),
        "train.init_from: NOT_A_RUN does not exist; point it at a completed cnnzoo run folder",
    ),
    "validate a start from no run": (
        validate("train.init_from=NOT_A_RUN"),
        "train.init_from: NOT_A_RUN does not exist",
    ),
    "train from a folder that is not a run": (
        train("train.init_from=notes"),
        "train.init_from: notes has no model.keras",
    ),
    "epochs past int64": (
        train("train.epochs=100000000000000000000"),
        "train.epochs: Input should be less than or equal to 100000. "
        "Received: 100000000000000000000",
    ),
    "a batch no machine holds": (
        train("train.batch_size=10000000"),
        "train.batch_size: Input should be less than or equal to 65536",
    ),
    "images larger than any CNN's": (
        train("data.image_size=[8193, 32]"),
        "data.image_size: image_size must be two integers [height, width] from 1 to 8192",
    ),
    "an infinite learning rate (validate)": (
        validate("train.learning_rate=.inf"),
        "train.learning_rate: Input should be a finite number. Received: inf",
    ),
    "an infinite learning rate (train)": (
        train("train.learning_rate=.inf"),
        "train.learning_rate: Input should be a finite number. Received: inf",
    ),
    "a NaN in a range": (
        validate("augment.brightness_range=[0.8, .nan]"),
        "augment.brightness_range.1: Input should be a finite number. Received: nan",
    ),
    "a Hugging Face handle without a name": (
        validate(RESNET_WEIGHTS.format("hf://")),
        "model.weights: a hf:// KerasHub preset handle has the form hf://OWNER/NAME. "
        "Received: 'hf://'",
    ),
    "a Kaggle handle without its variant": (
        validate(RESNET_WEIGHTS.format("kaggle://keras/resnetv1")),
        "a kaggle:// KerasHub preset handle has the form kaggle://OWNER/MODEL/keras/VARIANT",
    ),
    "explain an empty layer name": (
        ("explain", "R", "digit.png", "--layer", ""),
        "Invalid value for '--layer': expected a layer's name",
    ),
    "feature maps of an empty layer name": (
        ("featuremaps", "R", "digit.png", "--layer", "conv1", "--layer", " "),
        "Invalid value for '--layer': expected a layer's name",
    ),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's digits as a real mnist.npz-format file."""
    return write_digits(tmp_path_factory.mktemp("digits"))


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_input_is_refused_before_any_folder_exists(
    tmp_path: Path, digits: Path, case: str
) -> None:
    args, expected = REFUSED[case]
    write(tmp_path / "s.yaml", SPACE)
    write(tmp_path / "holdout.yaml", HOLDOUT_SPACE)
    write(tmp_path / "clash.yaml", CLASH_SPACE)
    (tmp_path / "notes").mkdir()
    write(tmp_path / "notes" / "todo.txt", "not a run\n")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    before = {path: sha256(path) for path in [digits, *tmp_path.rglob("*")] if path.is_file()}
    args = tuple(arg.replace("{digits}", str(digits)) for arg in args)
    line = one_error_line(run_cli(*args, cwd=tmp_path), code=2)
    assert expected in line, line
    after = {path: sha256(path) for path in [digits, *tmp_path.rglob("*")] if path.is_file()}
    assert after == before  # no run or sweep folder, no file touched
    assert not (tmp_path / "R").exists() and not (tmp_path / "runs").exists()


def test_a_tilde_in_a_config_path_is_the_home_folder(tmp_path: Path, digits: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    args = ("train", *C, "--set", "train.steps_per_epoch=1", "--set", "output_dir=~/x/runs")
    args = tuple(arg.replace("{digits}", str(digits)) for arg in args)
    result = run_cli(*args, cwd=tmp_path, env={"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    runs = home / "x" / "runs" / "mnist_lenet_modern"
    (run_dir,) = runs.iterdir()
    assert f"Run folder: {run_dir}" in result.stdout
    assert (run_dir / "model.keras").is_file()
    assert not (tmp_path / "~").exists()


def test_a_tilde_in_a_path_argument_is_the_home_folder(tmp_path: Path) -> None:
    # A shell expands `~/c.yaml` but not `--config=~/c.yaml` or "~/c.yaml": cnnzoo does.
    home = tmp_path / "home"
    home.mkdir()
    write(home / "c.yaml", "model: {name: lenet}\n")
    env = {"HOME": str(home)}
    result = run_cli("config", "validate", "~/c.yaml", cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (0, f"{home / 'c.yaml'}: ok\n"), result.stderr
    result = run_cli("config", "show", "--set", "data.path=~/d.npz", "~/c.yaml", env=env)
    assert yaml.safe_load(result.stdout)["data"]["path"] == str(home / "d.npz")


# --- mnist.npz-format files (generated arrays: plumbing only) ----------------------------------


def digits_npz(path: Path, **changes: np.ndarray) -> Path:
    """A small mnist.npz-format file of generated digits, with some arrays replaced."""
    make_mnist_npz(path, num_train=64, num_test=16)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


def train_on(tmp_path: Path, npz: Path):
    config = tiny_config(tmp_path, npz, train={"epochs": 1, "steps_per_epoch": 1})
    return run_cli("train", "-c", str(config), cwd=tmp_path)


def test_float_images_in_0_1_are_scaled_with_a_warning(tmp_path: Path) -> None:
    source = make_mnist_npz(tmp_path / "u8.npz", num_train=64, num_test=16)
    with np.load(source) as archive:
        x_train, x_test = archive["x_train"], archive["x_test"]
    npz = digits_npz(
        tmp_path / "floats.npz",
        x_train=x_train.astype(np.float32) / 255,
        x_test=x_test.astype(np.float32) / 255,
    )
    arrays = load_mnist_arrays_quietly(npz)
    assert arrays["x_train"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x_train"], x_train)  # not zeros: the scale is undone
    np.testing.assert_array_equal(arrays["x_test"], x_test)
    result = train_on(tmp_path, npz)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any("x_train holds floats in [0, 1]" in line for line in warned), result.stderr
    assert "Traceback" not in result.stderr


def load_mnist_arrays_quietly(path: Path) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageScaleWarning)
        return load_mnist_arrays(path)


def test_float_images_in_0_255_are_rounded(tmp_path: Path) -> None:
    images = np.full((64, 28, 28), 127.6, dtype=np.float32)
    npz = digits_npz(tmp_path / "floats.npz", x_train=images)
    assert (load_mnist_arrays_quietly(npz)["x_train"] == 128).all()


BAD_FILES = {
    "pixels out of range": (
        {"x_train": np.full((64, 28, 28), -1.0, dtype=np.float32)},
        ["x_train holds pixel values from -1.0 to -1.0", "[0, 1] or [0, 255]"],
    ),
    "labels 5..14": (
        {"y_train": (np.arange(64) % 10 + 5).astype(np.uint8)},
        ["y_train holds labels outside 0..9", "10, 11, 12, 13, 14"],
    ),
    "test labels negative": (
        {"y_test": np.full(16, -3, dtype=np.int64)},
        ["y_test holds labels outside 0..9", "-3"],
    ),
    "lengths differ": (
        {"y_train": np.zeros(60, dtype=np.uint8)},
        ["x_train holds 64 images but y_train 60 labels"],
    ),
    "fractional labels": (
        {"y_train": np.linspace(0, 9, 64).astype(np.float32)},
        ["y_train should hold whole class indices 0..9", "dtype float32"],
    ),
    "one-hot labels": (
        {"y_train": np.eye(10, dtype=np.float32)[np.arange(64) % 10]},
        ["y_train should hold one class index per image", "(64, 10)", "argmax"],
    ),
}


@pytest.mark.parametrize("case", ["labels 5..14", "lengths differ"])
def test_bad_mnist_files_are_refused_before_training(tmp_path: Path, case: str) -> None:
    changes, fragments = BAD_FILES[case]
    npz = digits_npz(tmp_path / "bad.npz", **changes)
    before = npz.read_bytes()
    line = one_error_line(train_on(tmp_path, npz), code=1)
    assert str(npz) in line
    for fragment in fragments:
        assert fragment in line, line
    assert npz.read_bytes() == before
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_mnist_files_name_the_problem(tmp_path: Path, case: str) -> None:
    changes, fragments = BAD_FILES[case]
    npz = digits_npz(tmp_path / "bad.npz", **changes)
    with pytest.raises(CnnzooError) as raised:
        load_mnist_arrays(npz)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{npz}: ")
    for fragment in fragments:
        assert fragment in message, message


# --- stderr: TensorFlow's native lines about a bad file are not shown, cnnzoo's warning is ------


def test_a_truncated_jpeg_gets_our_warning_and_not_libjpegs_lines(tmp_path: Path) -> None:
    root = make_class_folder(tmp_path / "photos", ["cat", "dog"], 6, size=(32, 32))
    broken = root / "cat" / "cat00.jpg"
    broken.write_bytes(broken.read_bytes()[:-300])  # libjpeg: "Premature end of JPEG data"
    config = write(
        tmp_path / "c.yaml",
        yaml.safe_dump(
            {
                "data": {"dataset": "directory", "path": str(root), "image_size": [32, 32]},
                "model": {"name": "lenet", "variant": "modern"},
                "train": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 1},
                "output_dir": str(tmp_path / "runs"),
            }
        ),
    )
    code, _, err = finish(start_cli("train", "-c", str(config)))  # TensorFlow's own log level
    assert code == 0, err
    assert "cat00.jpg" in err  # cnnzoo names the file it skipped
    assert "jpeg_mem.cc" not in err and "E0000" not in err, err


@pytest.mark.parametrize(
    "line",
    [
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        "E0000 00:00:1796082383.167544    5284 jpeg_mem.cc:331] Premature end of JPEG data.\n",
    ],
)
def test_tensorflow_notes_users_cannot_act_on_are_filtered(line: str) -> None:
    from cnnzoo.utils.native_logs import is_noise

    assert is_noise(line, gpu_driver=False)
    assert not is_noise("warning: 1 of 10 train files are not a decodable image\n", False)


# --- Run folders -------------------------------------------------------------------------------


def test_output_into_a_foreign_folder_is_refused_and_its_files_kept(
    tmp_path: Path, mnist_npz: Path
) -> None:
    mine = tmp_path / "my-project"
    mine.mkdir()
    own = write(mine / "config.yaml", "my own notes\n")
    config = tiny_config(tmp_path, mnist_npz)
    line = one_error_line(run_cli("train", "-c", str(config), "-o", str(mine)), code=1)
    assert str(mine) in line and "not a cnnzoo run folder" in line
    assert own.read_text(encoding="utf-8") == "my own notes\n"
    assert sorted(path.name for path in mine.iterdir()) == ["config.yaml"]


def test_output_under_a_file_is_one_line(tmp_path: Path, mnist_npz: Path) -> None:
    blocker = write(tmp_path / "notes.txt", "a file, not a folder\n")
    config = tiny_config(tmp_path, mnist_npz)
    line = one_error_line(run_cli("train", "-c", str(config), "-o", str(blocker / "run")), code=1)
    assert f"{blocker} is a file" in line
    assert blocker.read_text(encoding="utf-8") == "a file, not a folder\n"


def test_output_into_an_empty_folder_trains(tmp_path: Path, mnist_npz: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tiny_config(tmp_path, mnist_npz, train={"epochs": 1, "steps_per_epoch": 1})
    result = run_cli("train", "-c", str(config), "-o", str(empty))
    assert result.returncode == 0, result.stderr
    assert (empty / "model.keras").is_file()


def test_resume_may_change_the_statistics_and_collapse_policy(
    tmp_path: Path, mnist_npz: Path
) -> None:
    from cnnzoo.config.schema import load_config
    from cnnzoo.runs import files as runs
    from cnnzoo.runs.resume import resume_config

    run_dir = tmp_path / "stopped"
    run_dir.mkdir()
    runs.write_config(run_dir, load_config(tiny_config(tmp_path, mnist_npz)))
    runs.write_status(run_dir, "interrupted", epochs=2, epochs_completed=1, precision="float32")
    changes = ["train.batch_norm_stats=running", "train.on_collapse=stop"]
    config = resume_config(run_dir, overrides=changes)
    assert (config.train.batch_norm_stats, config.train.on_collapse) == ("running", "stop")
