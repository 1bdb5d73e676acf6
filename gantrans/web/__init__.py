"""The web page of `gantrans serve` (needs the ui extra: gradio)."""
