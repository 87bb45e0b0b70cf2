"""The test tiers the README documents, and the guard that keeps shared trained runs read-only."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
FAST_CONCERNS = ("test_config", "test_devices", "test_augment", "test_tables", "test_cli")


def _pytest(*arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.fast
def test_the_readme_documents_the_three_tiers() -> None:
    for command in (" --fast", "", " -m slow"):
        assert f"`bash scripts/test.sh{command}`" in README, command
    assert "pytestmark = pytest.mark.fast" in README and "private_run(run_dir)" in README


def test_fast_selects_only_fast_tests_covering_the_quick_concerns() -> None:
    # Three collections at once (each imports TensorFlow with the test modules).
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        selections = [("--fast",), ("-m", "fast"), ("-m", "")]
        collected = pool.map(lambda tier: _pytest(*tier, "--collect-only", "-q"), selections)
        fast, marked, everything = (result.stdout.splitlines() for result in collected)
    tests = [line for line in fast if "::" in line]
    assert tests == [line for line in marked if "::" in line]
    assert 0 < len(tests) < len([line for line in everything if "::" in line])
    for module in FAST_CONCERNS:
        assert any(line.startswith(f"tests/{module}.py::") for line in tests), module
    assert not any("test_training.py" in line or "test_resume.py" in line for line in tests)


GUARDED = """
from pathlib import Path

from tests import trained_runs

ROOT = Path(__file__).parent / "shared"


def test_a_trains_a_shared_run():
    run_dir = ROOT / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    (run_dir / "model.keras").write_text("weights")
    trained_runs.accept(run_dir)


def test_b_only_reads_it():
    assert (ROOT / "runs" / "tiny" / "model.keras").read_text() == "weights"


def test_c_writes_into_it():
    (ROOT / "runs" / "tiny" / "evaluation-test.json").write_text("{}")


def test_d_writes_into_a_private_copy(private_run):
    copy = private_run(ROOT / "runs" / "tiny")
    (copy / "evaluation-test.json").write_text("{}")
    assert copy != ROOT / "runs" / "tiny"
"""


def test_a_test_that_changes_a_shared_run_fails_naming_itself(tmp_path: Path) -> None:
    (tmp_path / "test_guarded.py").write_text(GUARDED, encoding="utf-8")
    result = _pytest(
        str(tmp_path / "test_guarded.py"), "-p", "tests.conftest", "-q", "--rootdir", str(tmp_path)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "4 passed, 1 error" in result.stdout, result.stdout
    assert "test_c_writes_into_it changed the shared trained run" in result.stdout
    assert "runs/tiny/evaluation-test.json" in result.stdout
