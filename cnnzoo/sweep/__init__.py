"""Hyperparameter studies on Optuna: space, trials, storage, the study's files."""
