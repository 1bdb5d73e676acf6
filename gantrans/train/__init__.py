"""Training engine: config, datasets, losses, and the resumable (optionally distributed) loop."""
