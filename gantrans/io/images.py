"""Image decoding and encoding: EXIF orientation, explicit mode conversion, atomic writes."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gantrans.errors import DataError
from gantrans.io.atomic import write_bytes_atomic

# Pillow's own bomb guard is a warning below 2x its limit; we turn it into one clear error instead.
DEFAULT_MAX_PIXELS = 178_956_970
SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}


class ImageError(DataError):
    """An input could not be decoded; the message says why (the caller adds the path)."""


@dataclass
class Decoded:
    """A decoded image: `pixels` (H, W, C) uint8, or float32 in [0, 1] for >8-bit sources."""

    pixels: np.ndarray
    alpha: np.ndarray | None  # (H, W) same dtype convention as pixels, or None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:  # (width, height)
        return self.pixels.shape[1], self.pixels.shape[0]


def open_image(source: Path | bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, list[str]]:
    """Open, check the declared size, fully decode and EXIF-rotate an image."""
    notes: list[str] = []
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
            try:
                img = Image.open(fp)
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
            w, h = img.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageError(
                    f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels} "
                    "(raise it with --max-pixels)"
                )
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"has {getattr(img, 'n_frames')} frames; using the first")
            img.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a recognised image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot decode image ({e})") from None
    except Image.DecompressionBombError as e:
        raise ImageError(str(e)) from None
    try:
        img = ImageOps.exif_transpose(img)  # type: ignore[assignment]
    except Exception as e:  # a malformed EXIF block must not lose the image
        notes.append(f"EXIF orientation ignored ({e})")
    return img, notes


def _sixteen_bit(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float32)
    return np.clip(arr / 65535.0, 0.0, 1.0)


def decode(img: Image.Image, channels: int) -> Decoded:
    """Convert any Pillow mode to `channels` (1 or 3) plus an optional alpha plane."""
    alpha = None
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = _sixteen_bit(img) if mode != "F" else np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        pixels = grey[..., None] if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
        return Decoded(np.ascontiguousarray(pixels), None)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.array(img.getchannel("A"))
    if mode == "CMYK" or mode not in ("RGB", "L", "RGBA", "LA"):
        img = img.convert("RGBA" if alpha is not None else "RGB")
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        img = img.convert(target)
    pixels = np.array(img)  # a writable copy: torch.from_numpy needs one
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return Decoded(np.ascontiguousarray(pixels), alpha)


def as_uint8(pixels: np.ndarray) -> np.ndarray:
    """Decoded pixels (uint8, or float in [0, 1] from >8-bit sources) as uint8."""
    return pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0, 1) * 255.0).round().astype(np.uint8)


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    if min(w, h) == size:
        return img
    scale = size / min(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(new, Image.Resampling.BICUBIC)


def to_pil(pixels: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    """(H, W, C) uint8 (+ optional alpha) -> PIL image in L, RGB, LA or RGBA."""
    img = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if alpha is not None:
        a = alpha if alpha.dtype == np.uint8 else (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8)
        img.putalpha(Image.fromarray(a))
    return img


def encode(img: Image.Image, fmt: str) -> bytes:
    """Encode to PNG/JPEG/WEBP bytes; JPEG has no alpha, so alpha is dropped there."""
    fmt = SAVE_FORMATS[fmt.lower()]
    if fmt == "JPEG" and img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    buf = io.BytesIO()
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {"compress_level": 1}
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write an output image atomically; without `overwrite` an existing file is kept (FileExistsError)."""
    write_bytes_atomic(path, data, overwrite)
