"""Where images come from: one plugin per dataset; no Config, no TensorFlow."""
