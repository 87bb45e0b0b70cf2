"""Train and test every shipped config (configs/*.yaml); accuracy beside the published figures.

Two modes:

  --generated (default)  small generated stand-ins for MNIST, the monkeys and a class folder, a
                         few epochs: checks that every config trains and evaluates end to end.
                         Its accuracies say nothing about the real datasets.
  --real                 the real data, as each config names it (download first: `cnnzoo
                         download mnist`, `cnnzoo download monkeys`; `--directory DIR` for
                         directory_lenet) and each config's own epochs unless --epochs is given.

For each config: `train_from_config` (what `cnnzoo train` runs), then `evaluate_run` on the test
split (what `cnnzoo evaluate --split test` runs; the monkeys have no test split, so their "test"
is the validation folder, as is a directory dataset's). Best validation accuracy comes from the
run's metrics.json (training accuracy where a config holds no validation split out, marked *).

    python scripts/accuracy_table.py [--configs mnist_lenet ...] [--epochs 2] [--workdir DIR]
    python scripts/accuracy_table.py --real [--directory DIR] [--json rows.json]
    python scripts/accuracy_table.py --quick   # two configs, tiny data, one epoch (tests)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import warnings
from pathlib import Path

import benchkit

from cnnzoo.config.schema import load_config, starts_from_weights
from cnnzoo.datasets.catalog import DATASETS

# Published test accuracy for the nearest reference, and what it was measured on. d2l: "Dive into
# Deep Learning" 0.17.5, PyTorch notebooks (d2l-ai/d2l-pytorch-colab, commit 3f0c604),
# Fashion-MNIST, 10 epochs, with the hyperparameters the mnist_* configs copy. Fashion-MNIST is
# harder than MNIST: those figures are not like-for-like with an MNIST run.
PUBLISHED = {
    "mnist_lenet": (0.9905, "LeNet-5, LeCun et al. 1998: 0.95% test error (MNIST)"),
    "mnist_lenet_modern": (
        0.9905,
        "LeNet-5 (classic) on MNIST; d2l BN-LeNet 0.838 on Fashion-MNIST",
    ),
    "mnist_tutorial_cnn": (0.992, "keras-io simple MNIST convnet, ~99% (99.2% per issue 8)"),
    "mnist_alexnet": (0.882, "d2l AlexNet, Fashion-MNIST at 224, SGD 0.01"),
    "mnist_googlenet": (0.883, "d2l GoogLeNet, Fashion-MNIST at 96, SGD 0.1"),
    "mnist_resnet18": (0.918, "d2l ResNet-18, Fashion-MNIST at 96, SGD 0.05"),
}
NO_FIGURE = "none published (the chapter shows only a curve)"


def generate(workdir: Path, size: str) -> dict[str, Path]:
    """Small stand-ins for each dataset kind; `size` is "tiny" (tests) or "small" (docs)."""
    from cnnzoo.datasets.synthetic import make_class_folder, make_mnist_npz, make_monkeys_folder

    tiny = size == "tiny"
    mnist = workdir / f"mnist-{size}.npz"
    if not mnist.exists():
        make_mnist_npz(mnist, num_train=256 if tiny else 1000, num_test=64 if tiny else 200)
    monkeys = workdir / f"monkeys-{size}"
    if not (monkeys / "monkey_labels.txt").exists():
        make_monkeys_folder(monkeys, 4 if tiny else 12, 2 if tiny else 4, (64, 80))
    folder = workdir / f"directory-{size}"
    if not folder.exists():
        make_class_folder(folder, ["cat", "dog", "fox"], 10 if tiny else 40, (40, 48))
    return {"mnist": mnist, "monkeys": monkeys, "directory": folder}


def run_config(path: Path, overrides: list[str], output: Path) -> dict:
    """Train and test one config; its dataset, epochs, accuracies and seconds."""
    import keras
    import tensorflow as tf

    from cnnzoo.engine.training import train_from_config
    from cnnzoo.evaluation.evaluate import evaluate_run

    # "triggered tf.function retracing": an artefact of training every config in one process.
    tf.get_logger().setLevel("ERROR")
    config = load_config(path, overrides)
    keras.backend.clear_session()
    output.parent.mkdir(parents=True, exist_ok=True)
    # Keras' per-epoch lines go to a log beside the run, not between the table's progress lines.
    log = open(output.parent / f"{output.name}.log", "w", encoding="utf-8")  # noqa: SIM115
    with (
        log,
        contextlib.redirect_stdout(log),
        warnings.catch_warnings(record=True) as caught,
        benchkit.Timer() as timer,
    ):
        warnings.simplefilter("always")
        run_dir = train_from_config(config, output, log=print)
        for warning in caught:  # the whole warning goes to the log, its gist to the progress line
            print(f"{warning.category.__name__}: {warning.message}")
    assert run_dir is not None
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    held_out = any("val_accuracy" in row for row in history)
    key = "val_accuracy" if held_out else "accuracy"
    best = max(row[key] for row in history)
    test = evaluate_run(run_dir, "test").metrics["accuracy"]
    return {
        "config": path.stem,
        "dataset": config.data.dataset,
        "data": config.data.path or "(cache)",
        "epochs": metrics["epochs"],
        "best_validation": best,
        "validation_held_out": held_out,
        "test": test,
        "seconds": timer.wall,
        "cpu_seconds": timer.cpu,
        # cnnzoo's own warnings (training health), by their gist; all of them are in the log.
        "warnings": sorted(
            {str(w.message).split(":")[0] for w in caught if w.category.__module__[:6] == "cnnzoo"}
        ),
    }


def format_table(rows: list[dict], generated: bool, markdown: bool = False) -> str:
    """The table: config, data, epochs, accuracies, time, published figure; and its notes."""
    headers = ["config", "dataset", "epochs", "best val", "test", "train s", "train CPU s"]
    cells = []
    for row in rows:
        figure, source = PUBLISHED.get(row["config"], (None, NO_FIGURE))
        published = f"{figure:.4f} {source}" if figure else source
        if not DATASETS.get(row["dataset"]).downloadable:
            published = "n/a: your own folder"
        marker = "" if row["validation_held_out"] else "*"
        cells.append(
            [
                row["config"] + ("\u2020" if row.get("without_weights") else ""),
                row["dataset"] + (" (generated)" if generated else ""),
                row["epochs"],
                f"{row['best_validation']:.3f}{marker}",
                f"{row['test']:.3f}",
                f"{row['seconds']:.0f}",
                f"{row['cpu_seconds']:.0f}",
                published,
            ]
        )
    lines = [benchkit.render([*headers, "published (test accuracy)"], cells, markdown), ""]
    lines.append("* no validation split in this config: best training accuracy instead")
    if any(row.get("without_weights") for row in rows):
        lines.append(
            "\u2020 trained from scratch: its pretrained weights cannot be downloaded here "
            "(model.weights=null, no frozen epochs)"
        )
    if generated:
        lines.append(
            "Generated stand-in data (a few images, a few epochs): these accuracies check that "
            "each config runs; they are NOT comparable with the published figures."
        )
    return "\n".join(lines)


def main() -> None:
    """Run the chosen configs and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--generated", action="store_true", help="generated stand-ins (default)")
    mode.add_argument("--real", action="store_true", help="the real datasets")
    parser.add_argument("--configs", nargs="+", default=None, help="config names (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 2 generated, own real")
    parser.add_argument("--size", choices=("tiny", "small"), default="small", help="generated")
    parser.add_argument("--directory", type=Path, default=None, help="folder for directory_lenet")
    parser.add_argument("--workdir", type=Path, default=None, help="runs and data (default: tmp)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = benchkit.arguments(parser).parse_args()
    if args.quick:
        args.configs, args.size, args.epochs = ["mnist_lenet", "directory_lenet"], "tiny", 1

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-accuracy-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    names = args.configs or sorted(path.stem for path in benchkit.config_files())
    data = {} if args.real else generate(workdir, args.size)
    epochs = args.epochs or (None if args.real else 2)
    benchkit.say(
        f"{'real' if args.real else 'generated'} data, {len(names)} configs; "
        f"{benchkit.machine()} at the start",
        args.markdown,
    )
    rows = []
    for name in names:
        path = benchkit.config_file(name)
        config = load_config(path)
        dataset = config.data.dataset
        overrides = [f"output_dir={workdir / 'runs'}"]
        if epochs:
            overrides.append(f"train.epochs={epochs}")
            if config.train.freeze_epochs > epochs:
                overrides.append(f"train.freeze_epochs={epochs}")
        # Generated data checks the plumbing: configs that start from downloaded weights train
        # from scratch here (no model hub is reachable), and say so in the table.
        without_weights = not args.real and starts_from_weights(config)
        if without_weights:
            overrides += ["model.weights=null", "train.init_from=null", "train.freeze_epochs=0"]
        if dataset in data:
            overrides.append(f"data.path={data[dataset]}")
        elif not DATASETS.get(dataset).downloadable:
            if args.directory is None:
                benchkit.say(f"{name}: skipped (give --directory DIR)", args.markdown)
                continue
            overrides.append(f"data.path={args.directory}")
        output = workdir / "runs" / name / time.strftime("%Y%m%d-%H%M%S")
        rows.append({**run_config(path, overrides, output), "without_weights": without_weights})
        warned = "; ".join(rows[-1]["warnings"])
        said = f" (warned: {warned})" if warned else ""
        benchkit.say(f"{name}: done in {rows[-1]['seconds']:.0f} s{said}", args.markdown)
    print("\n" + format_table(rows, not args.real, args.markdown) + "\n")
    benchkit.say(f"{benchkit.machine()} at the end", args.markdown)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
