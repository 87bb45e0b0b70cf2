"""Names the sweep and its trials share (kept apart so that neither imports the other)."""

from __future__ import annotations

from optuna.trial import TrialState

TRIALS_DIR = "trials"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SKIPPED = "not run: other processes had already started the last trials of the budget"
