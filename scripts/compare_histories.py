"""Train the same seeded, deterministic configs with two cnnzoo source trees; compare histories.

Shows that a refactor left training unchanged: every history.json column but the wall time
(`seconds`) must be equal, epoch by epoch, bit for bit.

    git archive a6603e5 | tar -x -C /tmp/cnnzoo-before   # the code before the change
    .venv/bin/python scripts/compare_histories.py /tmp/cnnzoo-before \
        --after-set train.batch_norm_stats=running

`--after-set` overrides the config of the "after" tree only: since a6603e5 the default
batch-norm statistics are re-estimated before validation (issue 12), which changes the
validation columns by design; `running` is the earlier behaviour, so the training code is
what gets compared.

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

import yaml

from cnnzoo.datasets.synthetic import make_mnist_npz

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


def train(source: Path, config: Path, output: Path, overrides: list[str]) -> list[dict]:
    """`python -m cnnzoo train` with `source` first on the path; the run's history rows."""
    env = {**os.environ, "PYTHONPATH": str(source), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnzoo",
            "train",
            "-c",
            str(config),
            "-o",
            str(output),
            *(f"--set={override}" for override in overrides),
        ],
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
    parser.add_argument(
        "--after-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for the after tree only (repeatable)",
    )
    args = parser.parse_args()
    different = 0
    with tempfile.TemporaryDirectory(prefix="cnnzoo-histories-") as tmp:
        folder = Path(tmp)
        data = make_mnist_npz(folder / "mnist.npz")
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
            before = train(args.before.resolve(), path, folder / name / "before", [])
            after = train(args.after.resolve(), path, folder / name / "after", args.after_set)
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
