"""The run folder: its file layout, records and reading it back; no TensorFlow."""
