"""Fine-tuning from an earlier run against training from scratch, on real digits, offline.

scikit-learn's 1,797 real handwritten digits (8x8), scaled to 20x20 and centred on a 28x28
canvas as MNIST's are, split 75/25 (stratified, seeded) into a training pool and test images.
A source run learns digits 0-4 from all of their pooled images. The target task is digits 5-9
from only `--per-class` training images each; `--val-per-class` other pooled images each are
the validation split every choice is made on; the test images are scored once, at the end.

At the same epoch budget the target is trained from scratch and fine-tuned from the source run
(`train.init_from`: every layer but the classifier, whose classes differ) with each fine-tuning
schedule below, once per seed. The schedule with the best mean last-epoch validation accuracy
is picked; test accuracy is then reported for every schedule, the pick marked.

    python scripts/finetune_digits.py --out /tmp/finetune_digits --models lenet tutorial_cnn

`--source-npz FILE` makes it a transfer between datasets instead: the source run learns all ten
digits from an mnist.npz-format file (e.g. real MNIST from `scripts/mnist_sample.py`), and the
target is all ten of scikit-learn's digits, `--per-class` training images each. The classes are
the same, so the source's classifier is kept too.

    python scripts/mnist_sample.py /tmp/mnist_sample.npz
    python scripts/finetune_digits.py --out /tmp/mnist_to_digits --source-npz /tmp/mnist_sample.npz

Each run is a whole `cnnzoo train` process; its wall and CPU seconds are printed beside the
accuracy (CPU seconds are steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

SOURCE, TARGET = range(0, 5), range(5, 10)
MODELS = {
    "lenet": {"name": "lenet", "variant": "modern"},
    "tutorial_cnn": {"name": "tutorial_cnn"},
}
# Fine-tuning schedules, as train.* settings beside init_from: every one says its rate after
# the head phase ("same": train.learning_rate, "tenth": a tenth of it) and whether batch norm
# trains, whatever cnnzoo's defaults.
SCHEDULES: dict[str, dict[str, Any]] = {
    "all": {"freeze_batch_norm": False},
    "all, bn frozen": {"freeze_batch_norm": True},
    "head-3, lr/10": {"freeze_epochs": 3, "finetune_learning_rate": "tenth"},
    "head-3, lr/10, bn frozen": {
        "freeze_epochs": 3,
        "finetune_learning_rate": "tenth",
        "freeze_batch_norm": True,
    },
    "head-1": {"freeze_epochs": 1, "finetune_learning_rate": "same"},
    "head-1, lr/10": {"freeze_epochs": 1, "finetune_learning_rate": "tenth"},
    "head-3": {"freeze_epochs": 3, "finetune_learning_rate": "same"},
    "head-1, bn frozen": {
        "freeze_epochs": 1,
        "finetune_learning_rate": "same",
        "freeze_batch_norm": True,
    },
}
RATE = 0.003


def write_digits(
    root: Path, per_class: int, val_per_class: int, seed: int, source: range = SOURCE
) -> None:
    """root/{source,target}/{train,val,test}/<digit>/*.png from scikit-learn's digits (digits in
    `source` for the source task, the others for the target; `source` empty: all are target's)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    pool, test = train_test_split(
        indices, test_size=0.25, stratify=digits.target, random_state=seed
    )
    rng = np.random.default_rng(seed)
    for digit in range(10):
        members = rng.permutation(pool[digits.target[pool] == digit])
        tested = test[digits.target[test] == digit]
        if digit in source:
            splits = {"source/train": members, "source/val": tested}
        else:
            splits = {
                "target/train": members[:per_class],
                "target/val": members[per_class : per_class + val_per_class],
                "target/test": tested,
            }
        for split, chosen in splits.items():
            folder = root / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for index in chosen:
                _digit_image(digits.images[index]).save(folder / f"{index:04d}.png")


def _digit_image(image: np.ndarray) -> Image.Image:
    grey = Image.fromarray(np.uint8(np.round(image * 255.0 / 16.0)))
    canvas = np.zeros((28, 28), np.uint8)
    canvas[4:24, 4:24] = np.asarray(grey.resize((20, 20), Image.Resampling.BILINEAR))
    return Image.fromarray(canvas)


def config(
    root: Path, task: str, name: str, model: str, seed: int, npz: Path | None = None, **train: Any
) -> Path:
    """A config training `model` on one task's train folder, validated on its val folder (or on
    an mnist.npz-format file `npz` with its own validation holdout)."""
    data = {
        "dataset": "directory",
        "path": str(root / task / "train"),
        "val_path": str(root / task / "val"),
        "image_size": [28, 28],
        "channels": 1,
    }
    if npz is not None:
        data = {"dataset": "mnist", "path": str(npz)}
    body = {
        "name": name,
        "seed": seed,
        "data": data,
        "model": MODELS[model],
        "train": {"batch_size": 16, "learning_rate": RATE, **train},
    }
    path = root / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def train(config_path: Path, run_dir: Path, test: Path | None) -> dict[str, Any]:
    """Run `cnnzoo train`; last-epoch validation (and test) accuracy, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "cnnzoo", "train", "-c", str(config_path), "-o", str(run_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    rows = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    loaded = [line for line in result.stdout.splitlines() if line.startswith("Initialised")]
    return {
        "val": rows[-1]["val_accuracy"],
        "curve": [round(row["val_accuracy"], 3) for row in rows],
        "test": _test_accuracy(run_dir, test) if test else None,
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "loaded": loaded[0] if loaded else "",
    }


def _test_accuracy(run_dir: Path, test: Path) -> float:
    """`cnnzoo evaluate RUN --data TEST`'s accuracy, in this process (TensorFlow loaded once)."""
    from cnnzoo.evaluation.evaluate import evaluate_run

    return float(evaluate_run(run_dir, None, test).metrics["accuracy"])


def compare(args: argparse.Namespace, model: str) -> None:
    """Source run, then scratch and every schedule per seed for `model`; print the table."""
    out = args.out
    source_dir = out / "runs" / f"{model}_source"
    source_config = config(
        out, "source", f"{model}_source", model, 0, args.source_npz, epochs=args.source_epochs
    )
    source = train(source_config, source_dir, None)
    described = args.source_npz or "digits 0-4, all pooled images"
    print(
        f"\n{model}: source ({described}): validation accuracy "
        f"{source['val']:.4f}, {source['wall']:.0f} s wall, {source['cpu']:.0f} s CPU"
    )
    starts = {"scratch": None, **{name: SCHEDULES[name] for name in args.schedules}}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in starts}
    for seed in args.seeds:
        for name, schedule in starts.items():
            settings: dict[str, Any] = {"epochs": args.epochs}
            if schedule is not None:
                settings.update(schedule, init_from=str(source_dir))
                settings.setdefault("freeze_batch_norm", False)
                rate = settings.get("finetune_learning_rate")
                if rate in ("same", "tenth"):
                    settings["finetune_learning_rate"] = RATE if rate == "same" else RATE / 10
            tag = "".join(c if c.isalnum() else "_" for c in name)
            path = config(out, "target", f"{model}_{tag}_{seed}", model, seed, **settings)
            results[name].append(train(path, out / "runs" / path.stem, out / "target" / "test"))
            print(f"  {name} seed {seed}: validation by epoch {results[name][-1]['curve']}")
    tuned = [name for name in starts if name != "scratch"]
    pick = max(tuned, key=lambda name: statistics.mean(r["val"] for r in results[name]))
    target = "all ten digits" if args.source_npz else "digits 5-9"
    print(f"\n{model}, target {target}: {args.per_class} training and {args.val_per_class} "
          f"validation images per class, {args.epochs} epochs, seeds {args.seeds}; "
          f"last-epoch accuracy; * = the schedule picked on validation")  # fmt: skip
    print(f"{results[tuned[0]][0]['loaded']}")
    print(f"{'start':<27} {'val mean':>8} {'test per seed':<20} {'test mean':>9} "
          f"{'wall s':>7} {'CPU s':>6}")  # fmt: skip
    for name, runs in results.items():
        tests = [run["test"] for run in runs]
        label = name if name == "scratch" else f"fine-tuned {name}" + (" *" if name == pick else "")
        print(
            f"{label:<27} {statistics.mean(r['val'] for r in runs):>8.3f} "
            f"{' '.join(f'{t:.3f}' for t in tests):<20} {statistics.mean(tests):>9.3f} "
            f"{statistics.mean(r['wall'] for r in runs):>7.0f} "
            f"{statistics.mean(r['cpu'] for r in runs):>6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder for data and runs")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["lenet"])
    parser.add_argument(
        "--schedules", nargs="+", choices=list(SCHEDULES), default=list(SCHEDULES)[:5]
    )
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--source-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--source-npz", type=Path, help="source: an mnist.npz-format file")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"error: {args.out} exists; give a new folder to --out")
    source = range(0) if args.source_npz else SOURCE
    write_digits(args.out, args.per_class, args.val_per_class, seed=0, source=source)
    for model in args.models:
        compare(args, model)


if __name__ == "__main__":
    main()
