"""Grad-CAM and feature maps of a run's model on images."""
