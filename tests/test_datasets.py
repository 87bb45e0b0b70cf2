"""The dataset plugins: every registered dataset is complete, and nothing else names datasets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnzoo.config import DataConfig, resolve
from cnnzoo.data.catalog import DATASETS
from cnnzoo.data.folders import SPLITS

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
    # Its defaults are what a config naming it resolves to.
    data = resolve({"data": {"dataset": name}}, "test").data
    assert (tuple(data.image_size), data.channels) == (dataset.image_size, dataset.channels)
    assert data.validation_split == dataset.validation_split
    moved = dataset.with_data_path(DataConfig(dataset=name), Path("/elsewhere"))
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
