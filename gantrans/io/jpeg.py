"""JPEG decoding and encoding on the model's device (`--codec device`): nvJPEG on CUDA, libjpeg-turbo on the CPU.

The host path (Pillow, one image at a time in threads or processes) leaves a fast GPU waiting for the host's
one interpreter (benchmarks/RESULTS.md, issue 21). Here the host only reads the file and its header; a whole
batch is decoded by one call onto the device, and JPEG outputs are encoded there, so only the encoded bytes
cross the bus. torchvision.io's codecs are deprecated since torchvision 0.29 in favour of TorchCodec's, with
the same calls; they are what the supported torchvision range ships, so they are used here, warning hushed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from gantrans.io.images import _WARN_LOCK, JPEG_QUALITY

JPEG_MAGIC = b"\xff\xd8\xff"
ORIENTATION = 0x0112  # the EXIF tag


@dataclass
class JpegInput:
    """An undecoded JPEG the device codec can take: its bytes, and what its header says."""

    data: bytes
    size: tuple[int, int]  # (width, height) once EXIF-rotated
    orientation: int  # EXIF orientation 1..8 (1: as stored)


@dataclass
class Encoded:
    """An output already encoded (JPEG bytes from the device codec), written as it is."""

    data: bytes
    size: tuple[int, int]  # (width, height)


def peek_jpeg(source: Path | bytes, max_pixels: int | None) -> JpegInput | None:
    """Read a file's bytes and header only. None: anything the device codec should not take (not a JPEG,
    CMYK or other modes, several frames, a size over the limit, an unreadable header) — the host path then
    decodes it, with its own notes and error messages."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError:
        return None
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        with _WARN_LOCK, warnings.catch_warnings():  # process-wide state: one thread at a time (as images.open_image)
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))  # parses the header; no pixels are decoded
            if img.format != "JPEG" or img.mode not in ("RGB", "L") or getattr(img, "n_frames", 1) != 1:
                return None
            orientation = img.getexif().get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a header Pillow cannot read is the host path's to report
        return None
    if orientation not in range(1, 9):
        return None  # the host path notes a malformed tag
    w, h = img.size
    if max_pixels is not None and w * h > max_pixels:
        return None
    return JpegInput(data, (h, w) if orientation >= 5 else (w, h), orientation)


def orient(t: Any, orientation: int) -> Any:
    """(C, H, W) -> the image as EXIF orientation `orientation` says to show it (as Pillow's exif_transpose)."""
    import torch

    if orientation == 2:
        return t.flip(2)
    if orientation == 3:
        return t.flip(1, 2)
    if orientation == 4:
        return t.flip(1)
    if orientation == 5:
        return t.transpose(1, 2)
    if orientation == 6:
        return torch.rot90(t, -1, (1, 2))  # 90° clockwise
    if orientation == 7:
        return t.transpose(1, 2).flip(1, 2)
    if orientation == 8:
        return torch.rot90(t, 1, (1, 2))  # 90° counter-clockwise
    return t


def codec_problem(device: Any) -> str | None:
    """Why the device codec cannot run on `device` (None: it can)."""
    import torch

    try:
        import torchvision.io  # noqa: F401

        torch.ops.image.decode_jpeg  # noqa: B018 - raises when torchvision's image ops are missing
    except Exception as e:  # noqa: BLE001
        return f"torchvision's image codecs are not available ({e})"
    kind = getattr(device, "type", str(device))
    if kind == "cuda" and not hasattr(torch.ops.image, "decode_jpegs_cuda"):
        return "this torchvision has no batched CUDA JPEG codec (torchvision >= 0.19 has)"
    if kind not in ("cpu", "cuda"):
        return f"JPEG codecs run on cpu and cuda only, not {kind}"
    return None


def decode_jpegs(inputs: Sequence[JpegInput], device: Any, channels: int) -> list[Any]:
    """One call for the batch -> a (C, H, W) uint8 tensor per input on `device`, EXIF-rotated, C = `channels`."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    raw = [torch.frombuffer(bytearray(j.data), dtype=torch.uint8) for j in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        out = decode_jpeg(raw, mode=mode, device=device)
    return [orient(t, j.orientation) for t, j in zip(out, inputs)]


def encode_jpegs(images: Sequence[Any], quality: int = JPEG_QUALITY) -> list[bytes]:
    """(C, H, W) uint8 tensors (C 1 or 3, all on one device) -> JPEG bytes each, encoded on that device."""
    from torchvision.io import encode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        out = encode_jpeg([t.contiguous() for t in images], quality=quality)
    return [bytes(t.cpu().numpy()) for t in out]
