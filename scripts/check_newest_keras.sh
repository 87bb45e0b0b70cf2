#!/usr/bin/env bash
# Check cnnzoo against the newest Keras 3 release on the package registry (not in the default CI
# path: it downloads packages and takes minutes). Makes a throwaway virtualenv, installs cnnzoo
# with its test tools, upgrades Keras to the newest 3.x, then runs the tests of every private Keras
# name cnnzoo uses (keras_compat, the fused batch norm, the multi-worker patch) and a tiny
# train + resume through the CLI (ResNet-18 with early stopping and the plateau schedule).
# Usage: bash scripts/check_newest_keras.sh [keras requirement, default 'keras>=3,<4']
# Exit 0: that Keras works; widen pyproject.toml's keras range and keras_compat.TESTED to it.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENT="${1:-keras>=3,<4}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cnnzoo-newest-keras.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# Install from a copy, so the build leaves nothing in this checkout.
mkdir "$WORK/src"
cp -r cnnzoo pyproject.toml README.md "$WORK/src/"
"$PY" -m pip install --quiet "$WORK/src[dev]"
# cnnzoo pins the tested Keras range; the newest release may lie outside it, which is the point.
"$PY" -m pip install --quiet --upgrade "$REQUIREMENT" 2>&1 | grep -v "incompatible" || true
KERAS="$("$PY" -c 'import keras; print(keras.__version__)')"
echo "Checking cnnzoo against Keras $KERAS ($REQUIREMENT)"
# Run the tests against the installed copy, not this checkout, from a folder outside the repo.
cp -r tests "$WORK/tests"
# (The pin check is left out: the newest release may lie outside the pinned range.)
(cd "$WORK" && "$PY" -m pytest -q -p no:cacheprovider tests/test_keras_compat.py \
  --deselect tests/test_keras_compat.py::test_the_tested_range_is_the_installable_one \
  tests/test_batch_norm.py \
  "tests/test_distribute.py::test_multi_worker_patch_is_applied_during_the_run_and_undone_after")
"$PY" - "$WORK" <<'PYTHON'
import sys
from pathlib import Path

import numpy as np
import yaml

work = Path(sys.argv[1])
rng = np.random.default_rng(0)
labels = rng.integers(0, 10, 200).astype(np.uint8)
images = rng.integers(0, 60, (200, 28, 28)).astype(np.uint8)
for index, label in enumerate(labels):
    images[index, 2 + 2 * label : 5 + 2 * label, 4:24] = 255
np.savez_compressed(work / "mnist.npz", x_train=images, y_train=labels, x_test=images[:50],
                    y_test=labels[:50])
config = {
    "name": "newest_keras", "seed": 1, "data": {"dataset": "mnist", "path": str(work / "mnist.npz")},
    "model": {"name": "resnet18"},
    "train": {"epochs": 1, "batch_size": 16, "steps_per_epoch": 2, "schedule": "plateau",
              "early_stopping_patience": 3},
}
(work / "tiny.yaml").write_text(yaml.safe_dump(config))
PYTHON
(cd "$WORK" && "$WORK/venv/bin/cnnzoo" train -c tiny.yaml -o run > train.log 2>&1) ||
  { cat "$WORK/train.log"; exit 1; }
(cd "$WORK" && "$WORK/venv/bin/cnnzoo" train --resume run --set train.epochs=2 > resume.log 2>&1) ||
  { cat "$WORK/resume.log"; exit 1; }
"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["status"] == "completed" and r["epochs_completed"] == 2, r' "$WORK/run/run.json"
echo "OK: cnnzoo works with Keras $KERAS"
