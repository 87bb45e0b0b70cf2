#!/usr/bin/env bash
# Set up a virtual environment with cnnzoo and its test tools, then run the test suite.
# Usage: bash scripts/test.sh [extra pytest arguments]
#   bash scripts/test.sh              the default tier: everything but slow (what CI runs)
#   bash scripts/test.sh --fast       the fast tier, under a minute (same as -m fast)
#   bash scripts/test.sh -m slow      the long tests; -m "" runs every tier
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
