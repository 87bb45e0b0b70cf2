"""Datasets: one plugin module each (catalog.py lists them), fetching, the tf.data pipeline."""
