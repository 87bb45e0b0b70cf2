"""cnnzoo: train the classic convolutional networks from a YAML config."""

__version__ = "0.1.0"
