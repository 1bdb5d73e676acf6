"""Images: finding input files, decoding (EXIF orientation, explicit mode conversion), encoding, atomic writes."""

from __future__ import annotations

import glob
import io
import os
import stat
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gantrans.errors import DataError, UsageError
from gantrans.io.atomic import atomic_target, write_bytes_atomic

# Pillow's own bomb guard is a warning below 2x its limit; we turn it into one clear error instead.
DEFAULT_MAX_PIXELS = 178_956_970
SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
JPEG_QUALITY = 95  # JPEG and WebP outputs, on the host and on the device
IMAGE_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".tif", ".tiff", ".gif",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2",
}  # fmt: skip


class ImageError(DataError):
    """An input could not be decoded; the message says why (the caller adds the path)."""


@dataclass
class Decoded:
    """A decoded image: `pixels` (H, W, C) uint8, or float32 in [0, 1] for >8-bit sources."""

    pixels: np.ndarray
    alpha: np.ndarray | None  # (H, W) same dtype convention as pixels, or None
    notes: list[str] = field(default_factory=list)
    # a JpegInput not decoded yet (`--codec device`: the task decodes its batch on the device); pixels is then
    # a read-only zero-stride placeholder of the image's shape, holding no memory
    jpeg: Any = field(default=None, kw_only=True)

    @property
    def size(self) -> tuple[int, int]:  # (width, height)
        return self.pixels.shape[1], self.pixels.shape[0]


# Pillow's warnings (corrupt EXIF, ICO sizes) become notes. warnings.catch_warnings swaps process-wide
# state, so the short steps that can warn run under one lock; pixel decoding (load) runs outside it,
# except for container formats whose load opens an embedded image.
_WARN_LOCK = threading.Lock()
_CONTAINERS = {"ICO", "ICNS", "CUR", "MPO"}


@contextmanager
def _pillow_notes(notes: list[str], max_pixels: int | None) -> Iterator[None]:
    """Collect Pillow's warnings as notes; Pillow's own bomb check follows our limit (it errors at 2x)."""
    with _WARN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max(1, max_pixels // 2) if max_pixels else None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old_limit
            notes += [str(w.message).splitlines()[0] for w in caught if not issubclass(w.category, Image.DecompressionBombWarning)]


def open_image(source: Path | bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, list[str]]:
    """Open, check the declared size, fully decode and EXIF-rotate an image."""
    notes: list[str] = []
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source

    def check(what: str, img: Image.Image) -> None:
        w, h = img.size
        if max_pixels is not None and w * h > max_pixels:
            raise ImageError(f"image {what} {w}x{h} = {w * h} pixels, over the limit of {max_pixels} (raise it with --max-pixels)")

    try:
        with _pillow_notes(notes, None):  # the declared size is checked here, before anything is decoded
            img = Image.open(fp)
            check("is", img)
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"has {getattr(img, 'n_frames')} frames; using the first")
            if img.format in _CONTAINERS:  # load() opens an embedded image: Pillow's check with our limit
                with _pillow_limit(max_pixels):
                    img.load()
        img.load()
        check("decodes to", img)  # containers may hold an embedded image larger than declared
        with _pillow_notes(notes, max_pixels):
            try:
                ImageOps.exif_transpose(img, in_place=True)  # no copy of an image that needs no turn
            except Exception as e:  # a malformed EXIF block must not lose the image
                notes.append(f"EXIF orientation ignored ({e})")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a recognised image file") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"image too large: {str(e).split(', could be')[0]} (raise the limit with --max-pixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot decode image ({e})") from None
    return img, notes


@contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(1, max_pixels // 2) if max_pixels else None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


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
    return Decoded(_pixels(img), alpha)


STRIP_PIXELS = 1 << 22  # above this, images are copied out of Pillow in strips (no transient full copies)


def _pixels(img: Image.Image) -> np.ndarray:
    """(H, W, C) writable uint8 array of an L/RGB image. np.array(img) goes through a full bytes copy
    (10 bytes per pixel at its peak for RGB); large images are copied strip by strip instead (7)."""
    w, h = img.size
    c = 1 if img.mode == "L" else 3
    if w * h <= STRIP_PIXELS:
        pixels = np.array(img)  # a writable copy: torch.from_numpy needs one
        return np.ascontiguousarray(pixels[..., None] if pixels.ndim == 2 else pixels)
    out = np.empty((h, w, c), np.uint8)
    step = max(1, STRIP_PIXELS // (8 * w))
    for y0 in range(0, h, step):
        strip = np.asarray(img.crop((0, y0, w, min(h, y0 + step))))
        out[y0 : y0 + strip.shape[0]] = strip[..., None] if strip.ndim == 2 else strip
    return out


def placeholder(width: int, height: int, channels: int) -> np.ndarray:
    """A read-only (H, W, C) uint8 array of zeros that holds no memory: the shape of an image not decoded yet."""
    return np.broadcast_to(np.zeros(1, np.uint8), (height, width, channels))


def as_uint8(pixels: np.ndarray) -> np.ndarray:
    """Decoded pixels (uint8, or float in [0, 1] from >8-bit sources) as uint8."""
    return pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0, 1) * 255.0).round().astype(np.uint8)


def resize_shorter(img: Image.Image, size: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Shorter side to `size`; the pixel limit holds for the result too (--size can upscale)."""
    w, h = img.size
    if min(w, h) == size:
        return img
    scale = size / min(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if max_pixels is not None and new[0] * new[1] > max_pixels:
        raise ImageError(f"resizing to {new[0]}x{new[1]} = {new[0] * new[1]} pixels is over the limit of {max_pixels} (lower --size or raise --max-pixels)")
    return img.resize(new, Image.Resampling.BICUBIC)


def to_pil(pixels: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    """(H, W, C) uint8 (+ optional alpha) -> PIL image in L, RGB, LA or RGBA. An alpha plane of another
    size (an upscaled output) is resized to the image, bicubic."""
    img = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if alpha is not None:
        a = Image.fromarray(alpha if alpha.dtype == np.uint8 else (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8))
        if a.size != img.size:
            a = a.resize(img.size, Image.Resampling.BICUBIC)
        img.putalpha(a)
    return img


def _save(img: Image.Image, fp: Any, fmt: str) -> None:
    """PNG/JPEG/WEBP into a file object; JPEG has no alpha, so alpha is dropped there."""
    fmt = SAVE_FORMATS[fmt.lower()]
    if fmt == "JPEG" and img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    kwargs = {"quality": JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {"compress_level": 1}
    img.save(fp, format=fmt, **kwargs)


def encode(img: Image.Image, fmt: str) -> bytes:
    """Encode to PNG/JPEG/WEBP bytes (for a stream; files are written by `save_atomic` without a copy)."""
    buf = io.BytesIO()
    _save(img, buf, fmt)
    return buf.getvalue()


def save_atomic(path: Path, img: Image.Image, fmt: str, overwrite: bool = False) -> None:
    """Encode straight into a temp file beside `path`, then rename (no encoded copy held in memory);
    without `overwrite` an existing file is kept (FileExistsError)."""
    with atomic_target(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            _save(img, f, fmt)
            f.flush()
            os.fsync(f.fileno())


def write_atomic(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write an output image atomically; without `overwrite` an existing file is kept (FileExistsError)."""
    write_bytes_atomic(path, data, overwrite)


# -- finding inputs ------------------------------------------------------------------------------
def show_path(p: str | os.PathLike) -> str:
    """A printable one-line form of a path, whatever bytes its name holds (undecodable bytes as \\xNN,
    control characters such as newlines as \\n / \\xNN)."""
    text = os.fsencode(p).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def needs_quoting(p: str) -> bool:
    """A path that would not print as one exact line: control characters, or bytes that are not UTF-8."""
    return any(not c.isprintable() and c != " " for c in p)  # surrogates are not printable either


@dataclass
class InputItem:
    source: Path | None  # None: the image bytes are in `data` (stdin)
    rel: PurePosixPath  # output location under OUTDIR, without suffix and extension
    data: bytes | None = None
    error: str | None = None  # discovery already failed (missing file, broken link, FIFO, empty glob)
    skip: str | None = None  # reported as skipped, not read (the same path listed twice, a folder link loop)

    @property
    def display(self) -> str:
        return "-" if self.source is None else str(self.source)  # exact (os.fsencode); printing escapes it


class Inputs(list[InputItem]):
    """collect_inputs' items, and the files in input folders left out for their suffix (for the summary)."""

    ignored: int = 0


def find_mask(root: Path, rel: PurePath) -> tuple[Path | None, list[str]]:
    """The mask of the image at relative path `rel` (without suffix) in the mask folder `root`: mirrored
    sub-folders first, then `root` itself; `name.*` or `name_mask.*`. -> (path or None, the patterns tried)."""
    rel = Path(*rel.parts)
    tried: list[str] = []
    for base in dict.fromkeys([rel, Path(rel.name)]):
        for stem in (base.name, base.name + "_mask"):
            for suffix in IMAGE_SUFFIXES:
                p = root / base.parent / (stem + suffix)
                if p.is_file():
                    return p, tried
            tried.append(str(base.parent / stem) + ".*")
    return None, tried


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder` (recursive, sorted; hidden files skipped)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


NOT_REGULAR = "not a regular file (a FIFO, socket or device): not read; use - to read a stream"


def _file_item(path: Path, rel: PurePosixPath) -> InputItem:
    """An item for an existing or dangling path; never opens it (a FIFO would block)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return InputItem(path, rel, error="broken symbolic link" if path.is_symlink() else "no such file or directory")
    except OSError as e:
        return InputItem(path, rel, error=e.strerror or str(e))
    return InputItem(path, rel, error=None if stat.S_ISREG(st.st_mode) else NOT_REGULAR)


def _walk(root: Path, exclude: Path | None, out: Inputs) -> None:
    """Image files under `root`, sub-folder structure kept; folder links are followed once (loops reported)."""
    excl = exclude.resolve() if exclude else None
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        st = here.stat()
        if (st.st_dev, st.st_ino) in seen:  # a link back to a folder already listed: a loop or a second route
            out.append(InputItem(here, PurePosixPath(*here.relative_to(root).parts), skip="folder already listed (symbolic link loop)"))
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() != excl)
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                out.ignored += 1
                continue
            out.append(_file_item(path, PurePosixPath(*path.relative_to(root).with_suffix("").parts)))


def collect_inputs(specs: Sequence[str], exclude: Path | None = None, stdin: bytes | None = None) -> Inputs:
    """Files, directories (recursive, structure mirrored), globs and `-` (stdin) -> input items.

    `exclude` (the output folder) is never walked, so outputs are not re-read as inputs. Every input path
    is an item: a path listed twice is reported as skipped the second time, links to one file are
    translated under their own names, FIFOs and devices are errors (never opened).
    """
    items = Inputs()
    for spec in specs:
        if spec == "-":
            items.append(InputItem(None, PurePosixPath("stdin"), data=stdin or b""))
            continue
        path = Path(spec)
        if path.is_dir():
            _walk(path, exclude, items)
        elif path.exists() or path.is_symlink():
            items.append(_file_item(path, PurePosixPath(path.stem)))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                items.append(InputItem(path, PurePosixPath(path.stem), error="no files match this pattern"))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    _walk(mp, exclude, items)
                elif not (exclude and exclude.resolve() in mp.resolve().parents):
                    items.append(_file_item(mp, PurePosixPath(mp.stem)))
        else:
            items.append(InputItem(path, PurePosixPath(path.stem), error="no such file or directory"))
    seen: set[str] = set()
    for it in items:
        if it.source is None or it.error or it.skip:
            continue
        key = os.path.abspath(it.source)  # the path as named: links to one file are separate inputs
        if key in seen:
            it.skip = "listed more than once"
        seen.add(key)
    return items


def shard_items(items: Sequence[InputItem], index: int, count: int) -> Inputs:
    """Shard `index` of `count`: every count-th item of the (deterministically ordered) input list,
    so N processes over the same inputs translate each image exactly once (shard 0 counts the ignored files)."""
    if not 0 <= index < count:
        raise UsageError(f"shard {index} of {count} does not exist")
    out = Inputs(it for k, it in enumerate(items) if k % count == index)
    out.ignored = getattr(items, "ignored", 0) if index == 0 else 0
    return out
