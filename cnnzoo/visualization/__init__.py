"""Pictures: arrays in, image files out."""
