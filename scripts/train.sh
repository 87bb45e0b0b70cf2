#!/usr/bin/env bash
# Set up a virtual environment with cnnzoo, then train a model.
# Usage: bash scripts/train.sh [options]          the offline quickstart: configs/quickstart.yaml,
#                                                 real MNIST digits shipped with cnnzoo
#        bash scripts/train.sh CONFIG [options]   any config; its dataset is downloaded if needed
# Options are `cnnzoo train`'s (--set KEY=VALUE, --output DIR). $CNNZOO_VENV: the venv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CNNZOO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .
cnnzoo="$VENV/bin/cnnzoo"

if [ $# -eq 0 ] || [[ $1 == -* ]]; then
  "$cnnzoo" train --config configs/quickstart.yaml "$@"
  cat <<NEXT
Next (RUN: the run folder above; RUN/report.html is its page):
  $cnnzoo evaluate RUN    # accuracy on the sample's 1,000 test digits
  bash scripts/train.sh configs/mnist_lenet.yaml        # all of MNIST (downloads mnist.npz, 11 MB)
  bash scripts/train.sh configs/monkeys_tutorial.yaml   # 10 Monkey Species (Kaggle token: README)
  bash scripts/train.sh configs/directory_lenet.yaml --set data.path=DIR   # DIR/<class>/*.jpg
NEXT
  exit
fi

config="$1"
shift
# Download the dataset first if it is a downloadable one (mnist, monkeys, archive).
download=()
if "$cnnzoo" config show "$config" 2>/dev/null | grep '^  download:' >/dev/null; then
  download=(--set data.download=true)
fi
"$cnnzoo" train --config "$config" ${download[@]+"${download[@]}"} "$@"
