"""How much of the CPU's float32 peak each architecture's training step reaches, and where it goes.

Peak: cores x clock x float32 FLOPs per cycle per core for the widest vector unit /proc/cpuinfo
lists (2 FMA pipes x lanes x 2 FLOPs; see `flops_per_cycle`), beside a measured large matmul as
the practical peak. The clock is measured (a dependent-add loop in C, where a compiler exists):
in a virtual machine /proc/cpuinfo shows the nominal clock, not the boost the cores run at.
Achieved: each registered model at its default input trains on one in-memory batch repeated
through `model.fit`, compiled exactly as `cnnzoo train` compiles it in float32 (so XLA off on a
CPU, as training runs), best of `--repeats`.

FLOP convention: training FLOPs per image = 3 x forward multiply-adds x 2 FLOPs per multiply-add
(forward, gradient of the input, gradient of the weights), with multiply-adds counted by
cnnzoo.evaluation.inspection (convolution and dense kernels only: batch norm, pooling, activations
and the optimizer are work too, but not counted as useful FLOPs). The first layer's input
gradient is not computed, so this slightly overstates the work of models with a costly first
convolution.

`--profile MODEL` also runs the TensorFlow profiler over a few steps of MODEL and prints where
the step's time goes, by op group and per convolution (scripts/bench_profile.py).
`--batch-norm` times the tutorial CNN with Keras' BatchNormalization and with cnnzoo's fused one,
in float32 and mixed_bfloat16.

    python scripts/bench_peak.py [--models tutorial_cnn lenet ...] [--profile tutorial_cnn]
                                 [--batch-norm] [--markdown] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import benchkit

# Batch per model: the tutorial config's 64, and 32 for the 224x224 ImageNet-sized models so that
# a step stays a few seconds on two cores.
BATCH = {"tutorial_cnn": 64, "lenet": 64}
LARGE_BATCH = 32
# One dependent integer add per iteration: one iteration per cycle on any out-of-order core, so
# iterations per second measure the clock the core really runs at (turbo included), which a
# virtual machine's /proc/cpuinfo does not show. Per second of the loop's own CPU time, so that
# other jobs sharing the core do not slow the measured clock.
CLOCK_LOOP = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
  struct timespec a, b;
  unsigned long x = 0, n = 1000000000UL;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  for (unsigned long i = 0; i < n; i++) { __asm__ volatile("" : "+r"(x)); x += 1; }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  printf("%f\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9) / 1e9);
  return x != n;
}
"""


def cpu_info(text: str) -> dict:
    """Model name, family, flags and the highest clock (GHz) from /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    clocks = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        fields.setdefault(key, value)
        if key == "cpu MHz":
            clocks.append(float(value))
    return {
        "model": fields.get("model name", "unknown"),
        "vendor": fields.get("vendor_id", ""),
        "family": int(fields.get("cpu family", "0") or 0),
        "flags": set(fields.get("flags", "").split()),
        "clock_ghz": max(clocks) / 1000 if clocks else 0.0,
    }


def measured_clock_ghz() -> float | None:
    """The running clock in GHz from `CLOCK_LOOP` (best of 3), or None without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        source, binary = Path(folder) / "clock.c", Path(folder) / "clock"
        source.write_text(CLOCK_LOOP, encoding="utf-8")
        built = subprocess.run([compiler, "-O2", str(source), "-o", str(binary)], check=False)
        if built.returncode:
            return None
        runs = [subprocess.run([binary], capture_output=True, text=True) for _ in range(3)]
        return max(float(run.stdout) for run in runs if run.returncode == 0)


def flops_per_cycle(info: dict) -> tuple[int, str]:
    """float32 FLOPs per cycle per core, and how that figure was reached.

    Two FMA pipes per core (every x86 server core since Haswell; Zen 4 and 5 included), each doing
    lanes x 2 FLOPs per cycle, lanes = vector bits / 32. Zen 4 (AMD family 25) runs AVX-512 on
    256-bit pipes, so it counts as 256 bits; Zen 5 (family 26) has full 512-bit pipes.
    """
    flags = info["flags"]
    if "avx512f" in flags and not (info["vendor"] == "AuthenticAMD" and info["family"] == 25):
        bits, unit = 512, "AVX-512"
    elif "avx512f" in flags:
        bits, unit = 256, "AVX-512 on 256-bit pipes (Zen 4)"
    elif "fma" in flags and "avx2" in flags:
        bits, unit = 256, "AVX2 + FMA"
    else:
        return 8, "SSE (one 4-lane multiply and one 4-lane add per cycle)"
    lanes = bits // 32
    return 2 * lanes * 2, f"{unit}: 2 FMA pipes x {lanes} float32 lanes x 2 FLOPs"


def matmul_rate(dtype_name: str, size: int = 4096, repeats: int = 3) -> float:
    """Best FLOP/s of a [size, size] x [size, size] matmul in `dtype_name`."""
    import tensorflow as tf

    dtype = tf.as_dtype(dtype_name)
    a = tf.cast(tf.random.uniform((size, size), seed=1), dtype)
    b = tf.cast(tf.random.uniform((size, size), seed=2), dtype)
    product = tf.function(tf.linalg.matmul)
    product(a, b).numpy()
    best = 0.0
    for _ in range(repeats):
        with benchkit.Timer() as timer:
            for _ in range(4):
                result = product(a, b)
            result.numpy()
        best = max(best, 4 * 2 * size**3 / timer.wall)
    return best


def setup(name: str, **hardware: str):
    """(model, data, batch) for `name` at its default input, compiled as `cnnzoo train` would."""
    from cnnzoo.models import MODELS

    spec = MODELS.get(name)
    batch = BATCH.get(name, LARGE_BATCH)
    config = benchkit.model_config(name, spec.default_input_shape, batch, **hardware)
    model, _ = benchkit.compiled_model(config, spec.default_num_classes, 1)
    data = benchkit.in_memory_batches(spec.default_input_shape, spec.default_num_classes, batch)
    return model, data, batch


def measure(name: str, steps: int, repeats: int) -> dict:
    """Training-step rate and FLOP/s of one model at its default input."""
    from cnnzoo.evaluation.inspection import model_stats

    model, data, batch = setup(name)
    multiply_adds = model_stats(model).multiply_adds
    timer = benchkit.best_step_seconds(model, data, steps, repeats)
    seconds = timer.wall / steps
    return {
        "name": name,
        "input": "x".join(map(str, model.input_shape[1:])),
        "batch": batch,
        "multiply_adds": multiply_adds,
        "step_seconds": seconds,
        "step_cpu_seconds": timer.cpu / steps,
        "images_per_s": batch / seconds,
        "flops": 6 * multiply_adds * batch / seconds,
    }


BATCH_NORMS = ("keras.layers.BatchNormalization", "cnnzoo fused_batch_norm")


def batch_norm_step(label: str, precision: str, steps: int) -> benchkit.Timer:
    """The tutorial CNN's best step time with the batch norm `label`, in this process."""
    import keras

    import cnnzoo.models.blocks as blocks

    if label == BATCH_NORMS[0]:  # the builder looks the layer up in blocks when it builds
        blocks.fused_batch_norm = lambda name, **options: keras.layers.BatchNormalization(
            name=name, **options
        )
    model, data, _ = setup("tutorial_cnn", precision=precision)
    return benchkit.best_step_seconds(model, data, steps, 1)


def batch_norm_comparison(steps: int, repeats: int, markdown: bool) -> str:
    """The tutorial CNN's step with Keras' BatchNormalization and with cnnzoo's fused one.

    Each measurement runs in a fresh process: in one process, after other models, the fused
    float32 step ran on one core (images/s = images/CPU-s) and read 0.73-0.82x Keras' layer while
    training with it runs 1.37x faster per epoch (docs/benchmarks.md).
    """
    import json
    import sys

    best: dict[tuple[str, str], benchkit.Timer] = {}
    for _ in range(repeats):  # in rotation, so that a busy moment hits every variant alike
        for precision in ("float32", "mixed_bfloat16"):
            for label in BATCH_NORMS:
                worker = [sys.executable, __file__, "--batch-norm-worker", label, precision]
                result = subprocess.run(
                    [*worker, "--steps", str(steps)], capture_output=True, text=True, check=True
                )
                timer = benchkit.Timer()
                timer.wall, timer.cpu = json.loads(result.stdout.strip().splitlines()[-1])
                if (precision, label) not in best or timer.wall < best[precision, label].wall:
                    best[precision, label] = timer
    batch = BATCH["tutorial_cnn"]
    cells = []
    for (precision, label), timer in best.items():
        keras_layer = best[precision, BATCH_NORMS[0]]
        cells.append(
            [
                label,
                precision,
                f"{timer.wall / steps:.3f}",
                f"{batch * steps / timer.wall:.1f}",
                f"{batch * steps / timer.cpu:.1f}",
                benchkit.times(keras_layer.wall / timer.wall),
            ]
        )
    headers = ["tutorial_cnn batch norm", "precision", "s/step", "images/s", "images/CPU-s"]
    return benchkit.render([*headers, "vs Keras' layer"], cells, markdown)


def main() -> None:
    """Print the CPU's peak, each model's share of it, and the profile asked for."""
    import sys

    if sys.argv[1:2] == ["--batch-norm-worker"]:  # one batch_norm_comparison measurement
        import json

        label, precision, _, steps = sys.argv[2:6]
        timer = batch_norm_step(label, precision, int(steps))
        print(json.dumps([timer.wall, timer.cpu]))
        return
    from cnnzoo.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="registered names")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--clock-ghz", type=float, default=None, help="skip the clock measurement")
    parser.add_argument("--profile", default=None, help="model to profile after the table")
    parser.add_argument(
        "--batch-norm", action="store_true", help="also time Keras' against cnnzoo's batch norm"
    )
    args = benchkit.arguments(parser).parse_args()
    if args.quick:
        args.models, args.steps, args.repeats, args.matmul_size = ["lenet"], 1, 1, 256
        args.profile = args.profile and "lenet"

    say = lambda text: benchkit.say(text, args.markdown)  # noqa: E731
    info = cpu_info(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    cores = len(os.sched_getaffinity(0))
    per_cycle, how = flops_per_cycle(info)
    measured = None if args.clock_ghz else measured_clock_ghz()
    clock = args.clock_ghz or measured or info["clock_ghz"]
    source = "given" if args.clock_ghz else "measured" if measured else "from /proc/cpuinfo"
    peak = cores * clock * 1e9 * per_cycle
    nominal = cores * info["clock_ghz"] * 1e9 * per_cycle
    matmul = matmul_rate("float32", args.matmul_size)
    matmul_bf16 = matmul_rate("bfloat16", args.matmul_size)
    size = args.matmul_size
    say(f"CPU: {info['model']} (family {info['family']}); {benchkit.machine()} at the start")
    say(f"clock: {clock:.3f} GHz {source}; /proc/cpuinfo says {info['clock_ghz']:.3f} GHz")
    say(
        f"float32 peak: {cores} x {clock:.3f} GHz x {per_cycle} FLOPs/cycle ({how}) = "
        f"{peak / 1e9:.0f} GFLOP/s ({nominal / 1e9:.0f} at the /proc/cpuinfo clock)"
    )
    say(f"{size}x{size} matmul float32: {matmul / 1e9:.0f} GFLOP/s ({matmul / peak:.0%} of peak)")
    say(f"{size}x{size} matmul bfloat16: {matmul_bf16 / 1e9:.0f} GFLOP/s")
    say("training step: FLOPs = 3 x forward multiply-adds x 2 per image; best of repeats")
    cells = []
    for name in args.models:
        row = measure(name, args.steps, args.repeats)
        cells.append(
            [
                row["name"],
                row["input"],
                row["batch"],
                f"{row['multiply_adds'] / 1e6:.1f}M",
                f"{row['step_seconds']:.3f}",
                f"{row['step_cpu_seconds']:.3f}",
                f"{row['images_per_s']:.1f}",
                f"{row['flops'] / 1e9:.1f}",
                f"{row['flops'] / peak:.1%}",
                f"{row['flops'] / nominal:.1%}",
                f"{row['flops'] / matmul:.1%}",
            ]
        )
    headers = ["model", "input", "batch", "forward MACs", "s/step", "CPU s/step", "images/s"]
    headers += ["GFLOP/s", "of peak", "of peak (nominal)", "of matmul"]
    print("\n" + benchkit.render(headers, cells, args.markdown) + "\n", flush=True)
    if args.batch_norm:
        repeats = args.repeats if args.quick else max(args.repeats, 3)
        print(batch_norm_comparison(args.steps, repeats, args.markdown) + "\n")
    if args.profile:
        from bench_profile import profile

        print(profile(args.profile, args.steps, args.markdown) + "\n")
    say(f"{benchkit.machine()} at the end")


if __name__ == "__main__":
    main()
