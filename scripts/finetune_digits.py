"""Fine-tuning from an earlier run against training from scratch, on real digits, offline.

scikit-learn's 1,797 real handwritten digits (8x8), scaled to 20x20 and centred on a 28x28
canvas as MNIST's are, split 75/25 (stratified, seeded) into training and test images. A source
run learns digits 0-4 from all of their training images. The target task is digits 5-9 from
only `--per-class` training images each, scored on all of their test images (never used for
any choice: the figure is the last epoch's, not the best). At the same epoch budget, the target
is trained from scratch and fine-tuned from the source run (`train.init_from`: every layer but
the classifier, whose classes differ; `train.freeze_epochs` epochs of the classifier alone,
then everything at a tenth of the learning rate, batch norm frozen), once per seed.

    python scripts/finetune_digits.py --out /tmp/finetune_digits

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

import numpy as np
import yaml
from PIL import Image

SOURCE, TARGET = range(0, 5), range(5, 10)


def write_digits(root: Path, per_class: int, seed: int) -> None:
    """root/{source,target}/{train,test}/<digit>/*.png from scikit-learn's digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, test = train_test_split(
        indices, test_size=0.25, stratify=digits.target, random_state=seed
    )
    rng = np.random.default_rng(seed)
    for task, classes in (("source", SOURCE), ("target", TARGET)):
        for split, chosen in (("train", train), ("test", test)):
            for digit in classes:
                members = chosen[digits.target[chosen] == digit]
                if task == "target" and split == "train":
                    members = rng.choice(members, per_class, replace=False)
                folder = root / task / split / str(digit)
                folder.mkdir(parents=True, exist_ok=True)
                for index in members:
                    _digit_image(digits.images[index]).save(folder / f"{index:04d}.png")


def _digit_image(image: np.ndarray) -> Image.Image:
    grey = Image.fromarray(np.uint8(np.round(image * 255.0 / 16.0)))
    canvas = np.zeros((28, 28), np.uint8)
    canvas[4:24, 4:24] = np.asarray(grey.resize((20, 20), Image.Resampling.BILINEAR))
    return Image.fromarray(canvas)


def config(root: Path, task: str, name: str, seed: int, epochs: int, **train) -> Path:
    """A LeNet (modern) config on one task's folders."""
    data = {
        "dataset": "directory",
        "path": str(root / task / "train"),
        "val_path": str(root / task / "test"),
        "image_size": [28, 28],
        "channels": 1,
    }
    settings = {"epochs": epochs, "batch_size": 16, "learning_rate": 0.003, **train}
    body = {
        "name": name,
        "seed": seed,
        "data": data,
        "model": {"name": "lenet", "variant": "modern"},
        "train": settings,
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def train(config_path: Path, run_dir: Path) -> dict[str, float]:
    """Run `cnnzoo train`; the last epoch's test accuracy, wall and CPU seconds."""
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
        "accuracy": rows[-1]["val_accuracy"],
        "best": max(row["val_accuracy"] for row in rows),
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "loaded": loaded[0] if loaded else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder for data and runs")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--source-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--freeze-epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"error: {args.out} exists; give a new folder to --out")
    write_digits(args.out, args.per_class, seed=0)
    source = train(
        config(args.out, "source", "source", 0, args.source_epochs), args.out / "runs" / "source"
    )
    print(f"source (digits 0-4, all training images): test accuracy {source['accuracy']:.4f}, "
          f"{source['wall']:.0f} s wall, {source['cpu']:.0f} s CPU")  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {"scratch": [], "fine-tuned": []}
    for seed in args.seeds:
        scratch = config(args.out, "target", f"scratch_{seed}", seed, args.epochs)
        tuned = config(
            args.out,
            "target",
            f"finetuned_{seed}",
            seed,
            args.epochs,
            init_from=str(args.out / "runs" / "source"),
            freeze_epochs=args.freeze_epochs,
        )
        results["scratch"].append(train(scratch, args.out / "runs" / scratch.stem))
        results["fine-tuned"].append(train(tuned, args.out / "runs" / tuned.stem))
    print(results["fine-tuned"][0]["loaded"])
    print(
        f"\ntarget: digits 5-9, {args.per_class} training images per class, {args.epochs} "
        f"epochs, seeds {args.seeds}; test accuracy at the last epoch"
    )
    # `best` (the best epoch's, chosen on the test images) only shows how much of the last
    # epoch's figure is lost to the run's end; the comparison is `mean`.
    header = f"{'start':<12} {'per seed':<22} {'mean':>6} {'best':>6} {'wall s':>7} {'CPU s':>6}"
    print(header)
    for name, runs in results.items():
        accuracies = [run["accuracy"] for run in runs]
        each = " ".join(f"{a:.3f}" for a in accuracies)
        best = statistics.mean(run["best"] for run in runs)
        wall = statistics.mean(run["wall"] for run in runs)
        cpu = statistics.mean(run["cpu"] for run in runs)
        mean = statistics.mean(accuracies)
        print(f"{name:<12} {each:<22} {mean:>6.3f} {best:>6.3f} {wall:>7.0f} {cpu:>6.0f}")


if __name__ == "__main__":
    main()
