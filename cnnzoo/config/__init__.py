"""The YAML config: typed schema, files, bases and overrides; no TensorFlow."""
