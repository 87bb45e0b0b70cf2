#!/usr/bin/env bash
# Set up a virtual environment with cnnzoo and its test tools, then run the test suite.
# Usage: bash scripts/test.sh [extra pytest arguments]
#   bash scripts/test.sh              the default tier: everything but slow (what CI runs)
#   bash scripts/test.sh --fast       the fast tier, under a minute (same as -m fast)
#   bash scripts/test.sh -m slow      the long tests; -m "" runs every tier
# The tests run in one worker process per core (pytest-xdist, each test file in one worker), since
# much of a test's time is single-threaded (imports, start-up, waiting for a child process);
# CNNZOO_TEST_WORKERS=N sets the number, 0 runs them in this process (as --fast and -n do).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CNNZOO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
set +e
workers=(-n "${CNNZOO_TEST_WORKERS:-auto}" --dist loadfile)
for argument in "$@"; do
  case "$argument" in
    --fast | fast | -n | -n* | --numprocesses*) workers=() ;;  # fast tier: two collections cost more
  esac
done
"$VENV/bin/python" -m pytest "${workers[@]}" "$@"
status=$?
set -e
# pytest exits 5 when no test was collected: treat as failure so an empty suite is never green.
exit "$status"
