"""The tf.data input pipeline: sources, class order, caching, bad files, splits, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnzoo.config.schema import resolve
from cnnzoo.data import pipeline
from cnnzoo.datasets.synthetic import MONKEY_CLASSES, make_class_folder, make_monkeys_folder
from cnnzoo.utils.errors import CnnzooError, ConfigError

COMMON_NAMES = [
    "mantled_howler",
    "patas_monkey",
    "bald_uakari",
    "japanese_macaque",
    "pygmy_marmoset",
    "white_headed_capuchin",
    "silvery_marmoset",
    "common_squirrel_monkey",
    "black_headed_night_monkey",
    "nilgiri_langur",
]
AUGMENT = {
    "rotation_range": 30,
    "width_shift_range": 0.2,
    "zoom_range": 0.2,
    "horizontal_flip": True,
}


@pytest.fixture(scope="module")
def monkeys(tmp_path_factory) -> Path:
    """10 classes x 4 training and 2 validation JPEGs of 40x56; n300.JPG and n301 as in Kaggle."""
    return make_monkeys_folder(tmp_path_factory.mktemp("monkeys"), 4, 2, size=(40, 56))


def make_config(tmp_path: Path, data: dict, **sections):
    """A resolved config at 24x24 with small batches that writes under tmp_path."""
    raw = {
        "data": {"image_size": [24, 24], **data},
        "train": {"batch_size": 8},
        "output_dir": str(tmp_path / "runs"),
        **sections,
    }
    return resolve(raw, "test")


def batches(dataset) -> tuple[np.ndarray, np.ndarray]:
    """All of a stream's images and labels, concatenated."""
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_monkeys_stream_shapes_dtypes_and_class_names(monkeys, tmp_path):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    bundle = pipeline.build_datasets(config)
    assert bundle.class_names == COMMON_NAMES
    assert (bundle.num_train, bundle.num_validation) == (40, 20)
    images, labels = next(iter(bundle.train))
    assert images.dtype.name == "float32" and images.shape == (8, 24, 24, 3)
    assert labels.dtype.name == "float32" and labels.shape == (8, 10)
    assert float(images.numpy().min()) >= 0.0 and float(images.numpy().max()) <= 1.0
    np.testing.assert_array_equal(labels.numpy().sum(axis=1), np.ones(8))
    _, all_labels = batches(bundle.train)
    assert all_labels.sum(axis=0).tolist() == [4] * 10  # every class, odd extensions included


def test_odd_extensions_are_kept_and_labelled(monkeys, tmp_path):
    n3 = monkeys / "training" / "training" / "n3"
    assert {"n300.JPG", "n301"} <= {p.name for p in n3.iterdir()}
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    dataset, _ = pipeline.load_split(config, "train")
    _, labels = batches(dataset)
    assert len(labels) == 40 and labels.argmax(axis=1).tolist().count(3) == 4


def test_same_seed_same_batches_other_seed_differs(monkeys, tmp_path):
    def first_batch(seed: int) -> np.ndarray:
        config = make_config(
            tmp_path, {"dataset": "monkeys", "path": str(monkeys)}, seed=seed, augment=AUGMENT
        )
        return next(iter(pipeline.build_datasets(config).train))[0].numpy()

    np.testing.assert_array_equal(first_batch(3), first_batch(3))
    assert not np.array_equal(first_batch(3), first_batch(4))


def test_each_epoch_reshuffles_and_reaugments(monkeys, tmp_path):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)}, augment=AUGMENT)
    train = pipeline.build_datasets(config).train
    first, second = batches(train), batches(train)
    assert not np.array_equal(first[1], second[1])
    assert sorted(first[1].argmax(1)) == sorted(second[1].argmax(1))


def test_validation_is_not_augmented(monkeys, tmp_path):
    data = {"dataset": "monkeys", "path": str(monkeys)}
    plain = pipeline.build_datasets(make_config(tmp_path, data))
    augmented = pipeline.build_datasets(make_config(tmp_path, data, augment=AUGMENT))
    np.testing.assert_array_equal(batches(plain.validation)[0], batches(augmented.validation)[0])
    plain_train = np.sort(batches(plain.train)[0].reshape(40, -1), axis=0)
    augmented_train = np.sort(batches(augmented.train)[0].reshape(40, -1), axis=0)
    assert not np.allclose(plain_train, augmented_train)


def test_validation_matches_load_images_of_the_same_files(monkeys, tmp_path):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    folder = monkeys / "validation" / "validation"
    paths = sorted(p for name in MONKEY_CLASSES for p in (folder / name).iterdir())
    arrays, bad = pipeline.load_images(paths, config)
    assert bad == []
    images, labels = batches(pipeline.build_datasets(config).validation)
    np.testing.assert_array_equal(images, arrays)
    assert labels.argmax(axis=1).tolist() == [i for i in range(10) for _ in range(2)]


def test_monkeys_test_split_is_the_validation_folder(monkeys, tmp_path):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    dataset, names = pipeline.load_split(config, "test")
    images, labels = batches(dataset)
    assert names == COMMON_NAMES and images.shape == (20, 24, 24, 3)
    assert labels.argmax(axis=1).tolist() == sorted(labels.argmax(axis=1).tolist())
    with pytest.raises(CnnzooError, match="Unknown split"):
        pipeline.load_split(config, "holdout")


def test_load_images_reports_unreadable_files_with_reasons(monkeys, tmp_path):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    good = monkeys / "training" / "training" / "n3" / "n301"
    arrays, bad = pipeline.load_images([text, good, tmp_path / "missing.png"], config)
    assert arrays.shape == (1, 24, 24, 3) and arrays.dtype == np.float32
    assert arrays.min() >= 0.0 and arrays.max() <= 1.0
    assert [path for path, _ in bad] == [text, tmp_path / "missing.png"]
    assert "not a decodable image" in bad[0][1] and "No such file" in bad[1][1]


@pytest.fixture
def with_bad_files(tmp_path) -> Path:
    """A 3-class folder with a truncated JPEG and a text file among the images."""
    root = make_class_folder(tmp_path / "photos", ["cat", "dog", "owl"], 4, size=(30, 30))
    jpeg = (root / "dog" / "dog00.jpg").read_bytes()
    (root / "dog" / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "owl" / "readme.txt").write_text("owls")
    return root


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_bad_files_are_skipped_with_a_warning_naming_them(with_bad_files, tmp_path, cache):
    data = {"dataset": "directory", "path": str(with_bad_files), "validation_split": 0.0}
    config = make_config(tmp_path, {**data, "cache": cache})
    with pytest.warns(pipeline.BadFilesWarning, match="2 of 14 train files") as caught:
        bundle = pipeline.build_datasets(config)
    message = str(caught[0].message)
    assert "broken.jpg" in message and "readme.txt" in message
    assert bundle.num_train == 12 and bundle.validation is None
    _, labels = batches(bundle.train)
    assert labels.sum(axis=0).tolist() == [4, 4, 4]
    assert sorted(p.name for p in bundle.bad_files) == ["broken.jpg", "readme.txt"]


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_batch_norm_sample_from_the_training_images_is_the_one_decoded_from_its_files(
    with_bad_files, tmp_path, cache
):
    # Training takes the batch-norm sample from its in-memory split (no second decode); it is
    # the sample a decode of the sampled files gives: same images, same order, bad ones left out.
    from cnnzoo.engine.batch_norm_stats import training_sample

    data = {"dataset": "directory", "path": str(with_bad_files), "validation_split": 0.0}
    config = make_config(tmp_path, {**data, "cache": cache}, train={"batch_norm_images": 14})
    with pytest.warns(pipeline.BadFilesWarning):
        bundle = pipeline.build_datasets(config)
    assert (bundle.train_images is not None) == (cache == "memory")
    decoded = batches(training_sample(config, labels=True))
    taken = batches(training_sample(config, labels=True, decoded=bundle.train_images))
    assert len(decoded[0]) == 12  # all 14 files drawn, the 2 bad ones left out
    for got, expected in zip(taken, decoded, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_no_stream_runs_the_autotuning_thread(monkeys, tmp_path):
    # Deleting an iterator waits out the sleep of tf.data's autotuning thread: seconds at the
    # end of fit and at each epoch start (docs/benchmarks.md). No stream training reads has it.
    from cnnzoo.engine.batch_norm_stats import training_sample

    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)}, augment=AUGMENT)
    bundle = pipeline.build_datasets(config)
    streams = [bundle.train, bundle.validation, pipeline.load_split(config, "test")[0]]
    streams.append(training_sample(config, decoded=bundle.train_images))
    assert [stream.options().autotune.enabled for stream in streams] == [False] * 4


def test_bad_files_error_mode_refuses_with_one_message(with_bad_files, tmp_path):
    data = {"dataset": "directory", "path": str(with_bad_files), "bad_files": "error"}
    with pytest.raises(CnnzooError, match="broken.jpg.*readme.txt.*data.bad_files: skip"):
        pipeline.build_datasets(make_config(tmp_path, data))


def test_disk_cache_is_written_once_and_reused(with_bad_files, tmp_path):
    data = {"dataset": "directory", "path": str(with_bad_files), "validation_split": 0.0}
    memory = make_config(tmp_path, {**data, "cache": "memory"})
    disk = make_config(tmp_path, {**data, "cache": "disk"})
    with pytest.warns(pipeline.BadFilesWarning):
        expected = batches(pipeline.load_split(memory, "train")[0])
        first = batches(pipeline.build_datasets(disk).train)
    written = sorted(p.name for p in (tmp_path / "runs" / "cache").iterdir())
    assert any(name.endswith(".index") for name in written)
    assert not any("partial" in name for name in written)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pipeline.BadFilesWarning)  # each file is named once
        again = batches(pipeline.build_datasets(disk).train)
    assert sorted(p.name for p in (tmp_path / "runs" / "cache").iterdir()) == written
    for got in (first, again):
        order = np.lexsort(got[0].reshape(len(got[0]), -1).T)
        reference = np.lexsort(expected[0].reshape(len(expected[0]), -1).T)
        np.testing.assert_array_equal(got[0][order], expected[0][reference])


def test_directory_with_val_path(tmp_path):
    train = make_class_folder(tmp_path / "train", ["b", "a", "c"], 3)
    val = make_class_folder(tmp_path / "val", ["a", "b", "c"], 2, seed=5)
    data = {"dataset": "directory", "path": str(train), "val_path": str(val)}
    bundle = pipeline.build_datasets(make_config(tmp_path, data))
    assert bundle.class_names == ["a", "b", "c"]  # sorted folder names
    assert (bundle.num_train, bundle.num_validation) == (9, 6)
    dataset, names = pipeline.load_split(make_config(tmp_path, data), "test")
    assert names == ["a", "b", "c"] and batches(dataset)[1].argmax(1).tolist() == [0, 0, 1, 1, 2, 2]


def test_directory_validation_split_is_stratified_and_seeded(tmp_path):
    root = make_class_folder(tmp_path / "photos", ["x", "y"], 10)
    data = {"dataset": "directory", "path": str(root), "validation_split": 0.3}

    def validation_images(seed: int) -> np.ndarray:
        config = make_config(tmp_path, data, seed=seed)
        bundle = pipeline.build_datasets(config)
        assert (bundle.num_train, bundle.num_validation) == (14, 6)
        images, labels = batches(bundle.validation)
        assert labels.sum(axis=0).tolist() == [3, 3]
        return images

    np.testing.assert_array_equal(validation_images(1), validation_images(1))
    assert not np.array_equal(validation_images(1), validation_images(2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: None, "no folder at"),
        (lambda root: make_class_folder(root, ["only"], 2), "at least 2 class sub-folders"),
        (lambda root: (make_class_folder(root, ["a", "b"], 2), (root / "c").mkdir()), "c\\b"),
    ],
    ids=["missing-root", "one-class", "empty-class"],
)
def test_bad_layouts_give_one_clear_error(tmp_path, make, match):
    root = tmp_path / "photos"
    make(root)
    with pytest.raises(CnnzooError, match=match):
        pipeline.build_datasets(make_config(tmp_path, {"dataset": "directory", "path": str(root)}))


def test_validation_classes_must_match_training(tmp_path):
    train = make_class_folder(tmp_path / "train", ["a", "b"], 2)
    val = make_class_folder(tmp_path / "val", ["a", "z"], 2)
    data = {"dataset": "directory", "path": str(train), "val_path": str(val)}
    with pytest.raises(CnnzooError, match="same class sub-folders"):
        pipeline.build_datasets(make_config(tmp_path, data))


def test_directory_needs_a_path(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        pipeline.build_datasets(make_config(tmp_path, {"dataset": "directory"}))


def test_mnist_resized_to_rgb_and_its_test_split(tmp_path):
    from cnnzoo.datasets.synthetic import make_mnist_npz

    path = make_mnist_npz(tmp_path / "mnist.npz", num_train=100, num_test=30)
    data = {"dataset": "mnist", "path": str(path), "channels": 3, "validation_split": 0.2}
    config = make_config(tmp_path, data)
    bundle = pipeline.build_datasets(config)
    assert (bundle.num_train, bundle.num_validation) == (80, 20)
    images, labels = next(iter(bundle.train))
    assert images.shape == (8, 24, 24, 3) and labels.shape == (8, 10)
    test_images, test_labels = batches(pipeline.load_split(config, "test")[0])
    assert test_images.shape == (30, 24, 24, 3)
    with np.load(path) as arrays:
        assert test_labels.argmax(1).tolist() == arrays["y_test"].tolist()


def test_cnnzoo_train_end_to_end_on_generated_monkeys(monkeys, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"data: {{dataset: monkeys, path: {monkeys}, image_size: [32, 32]}}\n"
        "augment: {rotation_range: 20, horizontal_flip: true}\n"
        "model: {name: lenet, variant: modern}\n"
        "train: {epochs: 1, batch_size: 16}\n",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "train", "-c", str(config), "-o", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((run / "classes.json").read_text()) == COMMON_NAMES
    assert (run / "model.keras").is_file()


def test_any_image_format_is_read_whatever_its_extension(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    paths = []
    for name, kind in [("a.jpg", "PNG"), ("b", "BMP"), ("c.data", "GIF"), ("d.JPEG", "JPEG")]:
        Image.fromarray(pixels).save(tmp_path / name, format=kind)
        paths.append(tmp_path / name)
    config = make_config(tmp_path, {"dataset": "directory", "path": str(tmp_path)})
    arrays, bad = pipeline.load_images(paths, config)
    assert bad == [] and arrays.shape == (4, 24, 24, 3)


def test_large_jpegs_decoded_at_reduced_scale_match_a_full_decode(tmp_path):
    import tensorflow as tf
    from PIL import Image

    rows, cols = np.mgrid[0:400, 0:600]
    pixels = np.stack([rows % 256, cols % 256, (rows + cols) % 256], -1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.jpg", quality=95)
    config = make_config(tmp_path, {"dataset": "directory", "path": str(tmp_path)})
    arrays, _ = pipeline.load_images([tmp_path / "big.jpg"], config)  # 1/8 scale: 50x75
    full = tf.io.decode_jpeg((tmp_path / "big.jpg").read_bytes(), channels=3)
    reference = tf.image.resize(full, (24, 24), antialias=True).numpy() / 255
    assert np.abs(arrays[0] - reference).mean() < 0.01


def test_auto_cache_goes_to_disk_when_the_images_do_not_fit_in_memory(
    monkeys, tmp_path, monkeypatch
):
    config = make_config(tmp_path, {"dataset": "monkeys", "path": str(monkeys)})
    pipeline.build_datasets(config)
    assert not (tmp_path / "runs" / "cache").exists()  # 40 small images: kept in memory
    monkeypatch.setattr(pipeline, "MEMORY_BUDGET", 1000)
    bundle = pipeline.build_datasets(config)
    cached = sorted(p.name for p in (tmp_path / "runs" / "cache").iterdir())
    assert [name.split("-")[1] for name in cached if name.endswith(".index")] == [
        "train",
        "validation",
    ]
    assert batches(bundle.train)[0].shape == (40, 24, 24, 3)
