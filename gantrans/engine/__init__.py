"""Engine: plain typed functions over models and io; no CLI imports (progress via callbacks)."""
