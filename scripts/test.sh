#!/usr/bin/env bash
# Set up a virtual environment with cnnzoo and its test tools, then run the test suite.
# Usage: bash scripts/test.sh [extra pytest arguments]   (e.g. -m slow for the long tests)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CNNZOO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
# pytest exits 5 when no test was collected: treat as failure so an empty suite is never green.
exit "$status"
