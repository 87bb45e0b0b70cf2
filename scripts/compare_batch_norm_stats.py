"""Validation accuracy in inference mode against the same weights with exact batch-norm statistics.

For each model config and each way of keeping batch-norm statistics, train on an mnist.npz-format
file (e.g. scikit-learn's real digits from scripts/make_digits.py) and, at every epoch end, set
beside the validation accuracy cnnzoo reports the accuracy of the same weights whose statistics
were set from scratch from the whole training split in one training-mode pass (`fresh`):
- `running`: the moving average alone (`batch_norm_stats: running`) with the architecture's own
  momentum (Keras' default 0.99 for LeNet and the tutorial CNN; torchvision's 0.9 for ResNet-18);
- `running 0.9`: the moving average with torchvision's momentum 0.1 (Keras' 0.9) everywhere;
- `reestimate`: cnnzoo's default, re-estimated from training batches at each epoch end.
Training is the same in every mode (same seed, same weights): only the statistics differ.

    python scripts/make_digits.py npz data/digits.npz
    python scripts/compare_batch_norm_stats.py --data data/digits.npz --epochs 6 \
        --config mnist_lenet_modern --config mnist_tutorial_cnn
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from cnnzoo.engine.batch_norm_stats import batch_norm_layers

MODES = {
    "running": ("running", None),
    "running 0.9": ("running", 0.9),
    "reestimate": ("reestimate", None),
}


def exact_statistics(model: keras.Model, images: np.ndarray) -> None:
    """Set every batch-norm layer's statistics to its inputs' moments over `images`, one pass."""
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0  # the moving statistics become this one batch's moments
    model(images, training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


class FreshStatistics(keras.callbacks.Callback):
    """At each epoch end: the reported val_accuracy and the same weights' with exact statistics."""

    def __init__(self, train_images, val_images, val_labels, momentum: float | None) -> None:
        super().__init__()
        self.train_images, self.val_images, self.val_labels = train_images, val_images, val_labels
        self.momentum = momentum
        self.rows: list[dict[str, float]] = []

    def on_train_begin(self, logs=None) -> None:
        if self.momentum is not None:  # before the first step is traced
            for layer in batch_norm_layers(self.model):
                layer.momentum = self.momentum

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.rows.append(
            {
                "epoch": epoch + 1,
                "train": float(logs["accuracy"]),
                "reported": float(logs["val_accuracy"]),
                "fresh": fresh_accuracy(self.model, *self._data()),
            }
        )

    def _data(self):
        return self.train_images, self.val_images, self.val_labels


def fresh_accuracy(model, train_images, val_images, val_labels) -> float:
    """Accuracy of a float32 copy of `model`'s weights with exact training-set statistics."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clone = keras.models.clone_model(model)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    clone.set_weights(model.get_weights())
    exact_statistics(clone, train_images)
    scores = clone.predict(val_images, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(scores, axis=1) == val_labels))


def split_arrays(config):
    """Training images and validation images/labels exactly as cnnzoo feeds them."""
    from cnnzoo.data.pipeline import load_split

    def arrays(split):
        dataset, _ = load_split(config, split)
        images, labels = zip(*dataset.as_numpy_iterator(), strict=True)
        return np.concatenate(images), np.argmax(np.concatenate(labels), axis=1)

    train_images, _ = arrays("train")
    val_images, val_labels = arrays("validation")
    return train_images, val_images, val_labels


def run(name: str, data: Path, epochs: int, overrides: list[str], out: Path) -> dict:
    from cnnzoo.config.schema import load_config
    from cnnzoo.engine.training import train_from_config

    table = {}
    for mode, (stats, momentum) in MODES.items():
        sets = [f"data.path={data}", f"train.epochs={epochs}", f"output_dir={out}", *overrides]
        config = load_config(name, [*sets, f"train.batch_norm_stats={stats}"])
        fresh = FreshStatistics(*split_arrays(config), momentum)
        start = time.perf_counter()
        train_from_config(config, log=lambda line: None, callbacks=[fresh])
        table[mode] = (fresh.rows, time.perf_counter() - start)
    return table


def report(name: str, table: dict) -> float:
    """Print one config's per-epoch table; return the largest |reported - fresh| of reestimate."""
    print(f"\n### {name}\n")
    modes = list(table)
    header = ["epoch", "train acc"] + [f"{m}: val / fresh" for m in modes]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for index, row in enumerate(table[modes[0]][0]):
        cells = [str(row["epoch"]), f"{row['train']:.1%}"]
        for mode in modes:
            other = table[mode][0][index]
            cells.append(f"{other['reported']:.1%} / {other['fresh']:.1%}")
        print("| " + " | ".join(cells) + " |")
    for mode in modes:
        rows, seconds = table[mode]
        gap = max(abs(r["reported"] - r["fresh"]) for r in rows)
        print(f"- {mode}: largest |val - fresh| {gap:.1%}; {seconds:.0f} s wall")
    return max(abs(r["reported"] - r["fresh"]) for r in table["reestimate"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="an mnist.npz-format file")
    parser.add_argument("--config", action="append", default=[], help="config name or path")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--set", action="append", default=[], help="extra KEY=VALUE overrides")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} does not exist; write it with scripts/make_digits.py npz")
        return 2
    names = args.config or ["mnist_lenet_modern", "mnist_tutorial_cnn"]
    with tempfile.TemporaryDirectory(prefix="cnnzoo-bnstats-") as out:
        for name in names:
            report(name, run(name, args.data, args.epochs, args.set, Path(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
