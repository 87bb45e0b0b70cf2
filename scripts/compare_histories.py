"""Train the same seeded, deterministic configs with two cnnzoo source trees; compare histories.

Shows that a refactor left training unchanged: every history.json column but the wall time
(`seconds`) must be equal, epoch by epoch, bit for bit.

    git archive a6603e5 | tar -x -C /tmp/cnnzoo-before   # the code before the change
    .venv/bin/python scripts/compare_histories.py /tmp/cnnzoo-before

The "after" tree is this repository (or the second argument). Both run in this interpreter's
environment with PYTHONPATH pointing at the tree, so only cnnzoo's own code differs. The data is
generated (plumbing, not accuracy): 28x28 digit-like stripes in an mnist.npz-format file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
IGNORED = {"seconds"}  # wall time is the one column that may differ
TRAIN = {"epochs": 3, "batch_size": 32, "learning_rate": 0.01, "steps_per_epoch": 6}
CASES = {
    # Plateau schedule with warm-up and early stopping: the stateful callbacks and the LR column.
    "lenet_plateau": {
        "model": {"name": "lenet", "variant": "modern"},
        "train": {**TRAIN, "schedule": "plateau", "warmup_epochs": 1, "plateau_patience": 1,
                  "early_stopping_patience": 2},
        "augment": {"rotation_range": 10, "width_shift_range": 0.1},
    },
    # Batch norm through cnnzoo's fused training kernel, SGD with momentum.
    "resnet18": {
        "model": {"name": "resnet18"},
        "train": {**TRAIN, "optimizer": "sgd", "momentum": 0.9},
    },
}  # fmt: skip


def write_npz(path: Path, seed: int = 0) -> Path:
    """An mnist.npz-format file: 28x28 uint8 noise with a bright stripe placed by the label."""
    rng = np.random.default_rng(seed)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            images[index, 2 + 2 * label : 5 + 2 * label, 4:24] = 255
        return images, labels

    (x_train, y_train), (x_test, y_test) = split(600), split(100)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def train(source: Path, config: Path, output: Path) -> list[dict]:
    """`python -m cnnzoo train` with `source` first on the path; the run's history rows."""
    env = {**os.environ, "PYTHONPATH": str(source), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "train", "-c", str(config), "-o", str(output)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"training with {source} failed:\n{done.stdout}\n{done.stderr}")
    used = json.loads((output / "environment.json").read_text())
    print(f"  {source}: {used['plan']['description']}")
    rows = json.loads((output / "history.json").read_text())
    return [{k: v for k, v in row.items() if k not in IGNORED} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="source tree of the code before the change")
    parser.add_argument("after", type=Path, nargs="?", default=REPO, help="default: this repo")
    args = parser.parse_args()
    different = 0
    with tempfile.TemporaryDirectory(prefix="cnnzoo-histories-") as tmp:
        folder = Path(tmp)
        data = write_npz(folder / "mnist.npz")
        for name, sections in CASES.items():
            config = {
                "name": name,
                "seed": 7,
                "data": {"dataset": "mnist", "path": str(data)},
                "hardware": {"deterministic": True, "precision": "float32"},
                **sections,
            }
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            print(f"{name}:")
            before = train(args.before.resolve(), path, folder / name / "before")
            after = train(args.after.resolve(), path, folder / name / "after")
            same = before == after
            different += not same
            print(f"  {len(before)} epochs, columns {sorted(before[0])}")
            print(f"  histories {'identical' if same else 'DIFFER'}")
            if not same:
                for old, new in zip(before, after, strict=False):
                    print(f"    before {old}\n    after  {new}")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
