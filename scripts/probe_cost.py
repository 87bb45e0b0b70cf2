"""What the training-health probes cost: the same training run with them and without them.

For each config, trains twice in fresh processes on an mnist.npz-format file (e.g. scikit-learn's
real digits from scripts/make_digits.py): once as `cnnzoo train` runs (the health monitor probes
dead ReLUs and the gradient norm on a fixed batch when fitting starts and at each epoch end),
once with the probes switched off (the loss checks still run). Prints whole-process wall and CPU
seconds, the steady-state epoch (median of epochs 2..n, from history.json) as steps per second,
the seconds spent inside the probe itself, and what it saw: the gradient norm when fitting
started and at each epoch end, and the largest share of dead units in any ReLU layer.

    python scripts/make_digits.py npz data/digits.npz
    python scripts/probe_cost.py --data data/digits.npz --epochs 4 \
        --config mnist_tutorial_cnn --config mnist_lenet_modern --config mnist_resnet18
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchkit


def worker(args: argparse.Namespace) -> None:
    """Train one config with the probes on or off; write timings to args.result."""
    from cnnzoo.config.schema import load_config
    from cnnzoo.engine import health, probes
    from cnnzoo.engine.training import train_from_config
    from cnnzoo.runs import files as runs

    spent = {"calls": 0, "cpu": 0.0, "wall": 0.0, "seen": []}
    if args.worker == "off":
        monitor = health.monitor
        health.monitor = lambda *a, **k: monitor(*a[:4])  # no sample: no probe
    else:
        measure = probes.NetworkProbe.__call__

        def timed(self, model):
            start, wall = time.process_time(), time.perf_counter()
            try:
                probe = measure(self, model)
                spent["seen"].append([probe.gradient_norm, max(probe.dead.values(), default=0.0)])
                return probe
            finally:
                spent["calls"] += 1
                spent["cpu"] += time.process_time() - start
                spent["wall"] += time.perf_counter() - wall

        probes.NetworkProbe.__call__ = timed
    import keras

    class Steps(keras.callbacks.Callback):
        count = 0

        def on_train_batch_end(self, batch, logs=None):
            Steps.count = max(Steps.count, batch + 1)

    overrides = [f"data.path={args.data}", f"train.epochs={args.epochs}", *args.set]
    config = load_config(benchkit.config_file(args.config[0]), overrides)
    with tempfile.TemporaryDirectory() as folder, benchkit.Timer() as timer:
        run_dir = train_from_config(
            config, Path(folder) / "run", log=lambda line: None, callbacks=[Steps()]
        )
        rows = runs.read_history(run_dir)
        record = runs.read_status(run_dir)
    seconds = [row["seconds"] for row in rows[1:]] or [rows[0]["seconds"]]
    benchkit.write_result(
        args.result,
        {
            "train_wall": timer.wall,
            "train_cpu": timer.cpu,
            "epoch_seconds": statistics.median(seconds),
            "steps_per_epoch": Steps.count,
            "probe_calls": spent["calls"],
            "probe_cpu": spent["cpu"],
            "probe_wall": spent["wall"],
            "seen": spent["seen"],
            "health": getattr(record, "health", None),
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = benchkit.arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--data", type=Path, required=True, help="an mnist.npz-format file")
    parser.add_argument("--config", action="append", default=[], help="config name or path")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--set", action="append", default=[], help="extra KEY=VALUE overrides")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    rows = []
    for config in args.config or ["mnist_tutorial_cnn"]:
        extra = [f"--set={value}" for value in args.set]
        common = ["--data", str(args.data), "--config", config, "--epochs", str(args.epochs)]
        for mode in ("off", "on"):
            result, process = benchkit.run_worker(__file__, mode, *common, *extra)
            batches = result["steps_per_epoch"]
            rows.append(
                [
                    config,
                    mode,
                    f"{process.wall:.1f}",
                    f"{process.cpu:.1f}",
                    f"{result['epoch_seconds']:.2f}",
                    f"{batches / result['epoch_seconds']:.1f}" if batches else "-",
                    str(result["probe_calls"]),
                    f"{result['probe_wall']:.2f}",
                    f"{result['probe_cpu']:.2f}",
                    " -> ".join(f"{norm:.3g}" for norm, _ in result["seen"]) or "-",
                    f"{max((dead for _, dead in result['seen']), default=0):.0%}",
                    (result["health"] or {}).get("kind", "-"),
                ]
            )
    headers = [
        "config",
        "probes",
        "wall s",
        "CPU s",
        "epoch s",
        "steps/s",
        "probes",
        "probe wall s",
        "probe CPU s",
    ]
    seen = ["gradient norm (start, each epoch)", "most dead in a layer", "finding"]
    print(benchkit.render([*headers, *seen], rows, args.markdown))
    print(benchkit.machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
