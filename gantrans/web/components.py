"""Upload components that hand the server the uploaded file itself, undecoded.

Gradio's own image components open uploads with Pillow before our code runs (so a corrupt file fails inside
the UI library, and its pixel limit is not ours). These variants pass the file's path on, and the engine
decodes it exactly as the CLI does: EXIF rotation, explicit mode conversion, `--max-pixels` and the
decompression-bomb refusal; a bad file becomes a message on the page.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class UploadImage(gr.Image):
    """gr.Image whose value reaches the handler as the uploaded file's path (or None)."""

    is_template = True  # the browser side is gr.Image's

    def preprocess(self, payload: Any) -> str | None:
        if payload is None:
            return None
        return str(payload.path) if getattr(payload, "path", None) else None


class MaskPainter(gr.ImageEditor):
    """gr.ImageEditor whose value reaches the handler undecoded: {"background": path or bytes, "layers": [...]}.
    The painted layers (their alpha) are the hole."""

    is_template = True

    def preprocess(self, payload: Any) -> dict[str, Any] | None:
        if payload is None:
            return None
        if payload.id is not None:  # large edits arrive through the component's blob storage
            cached = self.blob_storage.pop(payload.id, None)
            payload = cached if cached is not None else payload

        def data(f: Any) -> str | bytes | None:
            if isinstance(f, (bytes, bytearray)):
                return bytes(f)
            return str(f.path) if getattr(f, "path", None) else None

        return {"background": data(payload.background), "layers": [d for d in map(data, payload.layers or []) if d]}
