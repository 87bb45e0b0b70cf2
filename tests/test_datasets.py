"""The dataset plugins: every registered dataset is complete with its own `data:` schema, and
nothing else names datasets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnzoo.config.schema import DataConfig, resolve
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.datasets.folders import SPLITS
from cnnzoo.utils.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "cnnzoo"
PLUGIN_FILES = {PACKAGE / "data" / f"{name}.py" for name in DATASETS.names()}

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_plugin_is_complete(name: str) -> None:
    dataset = DATASETS.get(name)
    assert dataset.name == name
    assert dataset.summary
    assert len(dataset.image_size) == 2 and min(dataset.image_size) > 0
    assert dataset.channels in (1, 3)
    assert 0.0 <= dataset.validation_split < 1.0
    assert dataset.evaluation_split in SPLITS
    for method in ("fetch", "split", "with_data_path"):
        assert callable(getattr(dataset, method))
    # Its schema's defaults are what a config naming it (and its required keys) resolves to.
    required = {
        key: "x"
        for key in dataset.schema.accepted_keys()
        if dataset.schema.model_fields[key].is_required()
    }
    data = resolve({"data": {"dataset": name, **required}}, "test").data
    assert type(data) is dataset.schema and issubclass(dataset.schema, DataConfig)
    assert (tuple(data.image_size), data.channels) == (dataset.image_size, dataset.channels)
    assert getattr(data, "validation_split", 0.0) == dataset.validation_split
    assert dataset.takes_url == hasattr(data, "url") == hasattr(data, "sha256")
    assert dataset.downloadable == hasattr(data, "download") == hasattr(data, "data_dir")
    moved = dataset.with_data_path(data, Path("/elsewhere"))
    assert moved.path == "/elsewhere" and moved.dataset == name


def test_no_module_outside_a_plugin_compares_dataset_names() -> None:
    names = "|".join(DATASETS.names())
    compared = re.compile(rf"(==|!=|\bin)\s*\(?[\"']({names})[\"']|[\"']({names})[\"']\s*(==|!=)")
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in PLUGIN_FILES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if compared.search(line)
    ]
    assert offenders == []


# What each dataset's `data:` takes: the keys every dataset has, plus its own.
TAKES = {
    "mnist": {"data_dir", "download", "url", "sha256", "validation_split"},
    "mnist_sample": {"validation_split"},
    "monkeys": {"data_dir", "download"},
    "directory": {"val_path", "validation_split"},
    "archive": {"data_dir", "download", "url", "sha256", "val_path", "validation_split"},
}
COMMON = ["path", "image_size", "channels", "cache", "bad_files"]


def test_each_dataset_takes_its_own_keys_only() -> None:
    assert sorted(TAKES) == sorted(DATASETS.names())
    for name, own in TAKES.items():
        assert set(DATASETS.get(name).schema.accepted_keys()) == {*COMMON, *own}, name


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"dataset": "mnist", "val_path": "/v"},
            r'data: unknown key "val_path" for dataset "mnist"\. Did you mean "path"\? '
            r"Keys it takes: path, .*validation_split\. Received: val_path='/v'",
        ),
        (
            {"dataset": "monkeys", "validation_split": 0.2},
            r'unknown key "validation_split" for dataset "monkeys"\..* Keys it takes: path, ',
        ),
        (
            {"dataset": "directory", "path": "/p", "url": "http://x"},
            r'"url" for dataset "directory"',
        ),
        ({"dataset": "directory", "path": "/p", "download": True}, r'"download" for dataset'),
        ({"dataset": "directory"}, r"data\.path: the directory dataset needs this key: the folder"),
    ],
    ids=[
        "mnist-val_path",
        "monkeys-validation_split",
        "directory-url",
        "directory-download",
        "directory-no-path",
    ],
)
def test_a_key_wrong_for_the_dataset_is_an_error_naming_the_keys_it_takes(data, message) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        resolve({"data": data}, "c.yaml")
    assert len(str(raised.value).splitlines()) == 1


def test_archive_needs_url_and_sha256_reported_with_the_other_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve({"data": {"dataset": "archive"}, "train": {"epochs": 0}}, "c.yaml")
    lines = str(raised.value).splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("c.yaml: data.url: the archive dataset needs this key: the URL")
    assert lines[1].startswith("c.yaml: data.sha256: the archive dataset needs this key")
    assert lines[2].startswith("c.yaml: train.epochs: Input should be greater than or equal to 1")


def test_download_with_a_config_of_another_dataset_takes_only_its_cache(tmp_path: Path) -> None:
    from cnnzoo.datasets.download import download_dataset

    photos = {"dataset": "directory", "path": str(tmp_path)}
    data = resolve({"data": photos}, "c.yaml").data
    with pytest.raises(ConfigError, match=r"data\.url and data\.sha256: the archive dataset needs"):
        download_dataset("archive", data)
    assert list(tmp_path.iterdir()) == []
