#!/usr/bin/env bash
# Set up a virtual environment with cnnzoo, then train a model from configs/.
# Usage: bash scripts/train.sh [CONFIG] [cnnzoo train options]   (default: configs/mnist_lenet.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CNNZOO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .
config="${1:-configs/mnist_lenet.yaml}"
shift || true
"$VENV/bin/cnnzoo" train --config "$config" --set data.download=true "$@"
