"""The benchmark and accuracy scripts run at a tiny size and print their tables (untimed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _run(script: str, *arguments: str, cwd: Path) -> str:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CNNZOO_DATA_DIR": str(cwd)}
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _load(script: str):
    spec = importlib.util.spec_from_file_location(script, SCRIPTS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("flags", "vendor", "family", "expected"),
    [
        ("avx2 fma avx512f", "AuthenticAMD", 26, 64),  # Zen 5: two 512-bit FMA pipes
        ("avx2 fma avx512f", "AuthenticAMD", 25, 32),  # Zen 4: AVX-512 on 256-bit pipes
        ("avx2 fma avx512f", "GenuineIntel", 6, 64),
        ("avx avx2 fma", "GenuineIntel", 6, 32),
        ("sse sse2", "GenuineIntel", 6, 8),
    ],
)
def test_peak_flops_per_cycle_follow_the_vector_width(flags, vendor, family, expected):
    bench_peak = _load("bench_peak")
    cpuinfo = (
        f"vendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: X\n"
        f"cpu MHz\t\t: 2000.000\nflags\t\t: {flags}\n\ncpu MHz\t\t: 2500.000\n"
    )
    info = bench_peak.cpu_info(cpuinfo)
    assert info["clock_ghz"] == 2.5
    assert bench_peak.flops_per_cycle(info)[0] == expected


def test_bench_peak_prints_peak_table_and_profile(tmp_path):
    out = _run(
        "bench_peak.py",
        *("--models", "lenet", "--steps", "1", "--repeats", "1", "--matmul-size", "256"),
        *("--profile", "lenet"),
        cwd=tmp_path,
    )
    assert re.search(r"float32 peak: \d+ x [\d.]+ GHz x \d+ FLOPs/cycle", out)
    assert re.search(r"256x256 matmul float32: \d+ GFLOP/s", out)
    row = next(line for line in out.splitlines() if line.startswith("lenet "))
    assert re.search(r"28x28x1\s+64\s+[\d.]+M\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+%", row)
    assert "op group" in out and "convolution, forward" in out


def test_accuracy_table_trains_and_tests_configs(tmp_path):
    out = _run(
        "accuracy_table.py",
        *("--configs", "mnist_lenet", "directory_lenet", "--size", "tiny", "--epochs", "1"),
        *("--workdir", str(tmp_path / "work"), "--json", str(tmp_path / "rows.json")),
        cwd=tmp_path,
    )
    table = out[out.index("config ") :]
    assert re.search(r"mnist_lenet\s+mnist \(gen\)\s+1\s+[\d.]+\*?\s+[\d.]+\s+\d+\s+0\.9905", table)
    assert re.search(r"directory_lenet\s+directory \(gen\)\s+1\s+[\d.]+", table)
    assert "NOT comparable" in table
    assert len((tmp_path / "rows.json").read_text()) > 0
    assert list((tmp_path / "work" / "runs" / "mnist_lenet").glob("*/evaluation-test.json"))


@pytest.mark.slow
def test_bench_tutorial_prints_the_side_by_side_table(tmp_path):
    out = _run(
        "bench_tutorial.py",
        *("--per-class", "4", "--val-per-class", "2", "--size", "48", "64", "--epochs", "2"),
        *("--workdir", str(tmp_path)),
        cwd=tmp_path,
    )
    for label in ("chapter's code", "cnnzoo float32", "cnnzoo auto", "bound float32"):
        assert re.search(rf"^{re.escape(label)}.*\s[\d.]+\s+[\d.]+", out, re.MULTILINE), label
    assert re.search(r"float32: \d+% of its bound in wall time, \d+% in CPU time", out)
    assert re.search(r"auto \(\w+\): [\d.]+x the chapter's code", out)
    assert (tmp_path / "bench_tutorial.json").is_file()
