"""Input/output: images, checkpoints, model references."""
