"""Upload components that hand the server the uploaded file itself, undecoded.

Gradio's own image components open uploads with Pillow before our code runs (so a corrupt file fails inside
the UI library, and its pixel limit is not ours). These variants pass the file on, and the engine decodes it
exactly as the CLI does: EXIF rotation, explicit mode conversion, `--max-pixels` and the decompression-bomb
refusal; a bad file becomes a message on the page.

They are Gradio's components with their `preprocess` replaced on the instance: a subclass would make Gradio's
component metaclass write a .pyi stub beside this file at import time.
"""

from __future__ import annotations

import types
from typing import Any

import gradio as gr


def _raw_image(self: gr.Image, payload: Any) -> str | None:
    if payload is None:
        return None
    return str(payload.path) if getattr(payload, "path", None) else None


def _raw_editor(self: gr.ImageEditor, payload: Any) -> dict[str, Any] | None:
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


def upload_image(**kwargs: Any) -> gr.Image:
    """gr.Image whose value reaches the handler as the uploaded file's path (or None)."""
    c = gr.Image(type="filepath", sources=["upload", "clipboard"], **kwargs)
    c.preprocess = types.MethodType(_raw_image, c)  # type: ignore[method-assign]
    return c


def mask_painter(**kwargs: Any) -> gr.ImageEditor:
    """gr.ImageEditor whose value reaches the handler undecoded: {"background": path or bytes, "layers": [...]};
    the painted layers (their alpha) are the hole."""
    c = gr.ImageEditor(type="filepath", **kwargs)
    c.preprocess = types.MethodType(_raw_editor, c)  # type: ignore[method-assign]
    return c
