"""Training: devices, the fit loop and its callbacks, checkpoints, export."""
