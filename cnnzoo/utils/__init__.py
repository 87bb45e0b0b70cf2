"""Leaves every layer may use: errors, atomic writes, processes, registry, Keras."""
