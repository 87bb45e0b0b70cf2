"""Shared fixtures, the test tiers, and the guard that keeps the shared trained runs read-only.

Tiers (README, "Development"):
- fast: `bash scripts/test.sh --fast` (= `-m fast`), under a minute, what to run while editing:
  config, registries, the devices decision, augmentation maths, tables, CLI parsing; nothing
  trains. A module joins it with `pytestmark = pytest.mark.fast` at its top; one test of a slower
  module with `@pytest.mark.fast`. Keep each fast test well under a second.
- default: `bash scripts/test.sh`, everything not marked `slow`; what CI runs.
- slow: `bash scripts/test.sh -m slow`, the long runs (`@pytest.mark.slow`).
A new test file starts in the default tier; mark it fast only if it trains nothing and is quick.

`--cpu-flags "avx2 fma"` (or avx512_bf16) runs the suite with `precision: auto` decided as on
that CPU: a test whose verdict depends on the numerics pins `hardware.precision: float32`.

The trained runs of tests/trained_runs.py (`mnist`, `monkeys`, `directory_run`) are shared by
the whole session and must stay as trained: a test that changes one fails at teardown. A test
that writes into a run (evaluate, export, plot into its folder) takes `private_run(run_dir)`,
its own copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.datasets.synthetic import make_mnist_npz
from cnnzoo.engine.devices import CPU_FLAGS_ENV

from . import standin_servers, trained_runs
from .trained_runs import mnist_run, monkeys_run


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", help="run only the fast tier (= -m fast)")
    parser.addoption(
        "--cpu-flags",
        metavar="FLAGS",
        help='decide `hardware.precision: auto` as on a CPU with these flags: "avx2 fma" (an '
        "AVX2-only CPU: float32) or avx512_bf16 (mixed_bfloat16), for every test that does "
        "not pin a precision ($CNNZOO_CPU_FLAGS, read by cnnzoo.engine.devices)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fast"):
        config.option.markexpr = "fast"
    flags = config.getoption("--cpu-flags")
    if flags is not None:  # inherited by every CLI the tests start
        os.environ[CPU_FLAGS_ENV] = flags


def pytest_report_header(config: pytest.Config) -> str:
    flags = os.environ.get(CPU_FLAGS_ENV)
    return f"precision auto decided from: {'CPU flags ' + repr(flags) if flags else 'this CPU'}"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the fast tier, skip importing test files that mark nothing fast (TensorFlow and all)."""
    if config.option.markexpr != "fast" or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix == ".py" and "mark.fast" not in collection_path.read_text("utf-8"):
        return True
    return None


@pytest.fixture(scope="session")
def mnist_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small mnist.npz-format file: 600 training and 100 test digits-like images."""
    return make_mnist_npz(tmp_path_factory.mktemp("mnist") / "mnist.npz")


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's download cache."""
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path / "data-home"))


@pytest.fixture(scope="session")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a LeNet trained once per session on generated MNIST (read-only)."""
    return mnist_run(tmp_path_factory)


@pytest.fixture(scope="session")
def monkeys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a model trained once per session on a generated monkeys folder."""
    return monkeys_run(tmp_path_factory)


@pytest.fixture(scope="session")
def chromium_program() -> str:
    """The path of headless Chromium (skips, or fails under CNNZOO_REQUIRE_SERVERS=1, if none)."""
    return standin_servers.chromium()


@pytest.fixture(scope="session")
def postgres() -> Iterator[standin_servers.PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the session, started when first asked for."""
    with standin_servers.PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def private_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """`private_run(run_dir)`: a copy of a shared run (with its data beside it) to write into."""

    def copy(run_dir: Path) -> Path:
        root = trained_runs.root_of(run_dir)
        target = tmp_path_factory.mktemp(f"private-{run_dir.name}") / root.name
        shutil.copytree(root, target)
        return target / run_dir.relative_to(root)

    return copy


@pytest.fixture(scope="session")
def evaluated_copy(private_run: Callable[[Path], Path]) -> Callable[[Path], tuple[Path, str]]:
    """`evaluated_copy(run_dir)`: a private copy of a shared run after `cnnzoo evaluate` (on its
    default split), and what the command printed."""

    def evaluate(run_dir: Path) -> tuple[Path, str]:
        copy = private_run(run_dir)
        result = CliRunner().invoke(app, ["evaluate", str(copy)])
        assert result.exit_code == 0, result.output
        return copy, result.output

    return evaluate


@pytest.fixture(autouse=True)
def _shared_runs_stay_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that added, changed or removed a file of a shared trained run."""
    yield
    for run_dir, before in trained_runs.snapshots().items():
        after = trained_runs.snapshot(run_dir)
        if after != before:
            changed = sorted(
                name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
            )
            trained_runs.accept(run_dir)  # blame only the first test that changed it
            pytest.fail(
                f"{request.node.nodeid} changed the shared trained run {run_dir}: "
                f"{', '.join(changed[:5])}. Shared runs are read-only; write into "
                "`private_run(run_dir)` (a copy) instead.",
                pytrace=False,
            )
