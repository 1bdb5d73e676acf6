"""Decoding and encoding in worker processes (`--io-processes N`).

Pillow releases the GIL inside its codecs, but the Python around each image (opening, EXIF, mode changes,
array copies, the temp file and rename) does not: with a fast GPU the host's one interpreter becomes the
limit (benchmarks/RESULTS.md, issue 21). These functions run that work in other processes. They are
top-level and import only Pillow and numpy, so a spawned worker starts without torch.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from gantrans.io.images import encode, open_image, save_atomic, to_pil


def open_remote(source: Path | bytes, max_pixels: int | None) -> tuple[Image.Image, list[str]]:
    """`open_image` in a worker: the decoded image travels back pickled (mode, size, info, pixels)."""
    return open_image(source, max_pixels)


def write_remote(out: Path | None, pixels: np.ndarray, alpha: np.ndarray | None, fmt: str, overwrite: bool) -> tuple[tuple[int, int], bytes | None]:
    """Encode one output: into `out` atomically (-> (size, None)), or to bytes for a stream (-> (size, data))."""
    img = to_pil(pixels, alpha)
    if out is not None:
        save_atomic(out, img, fmt, overwrite=overwrite)
        return img.size, None
    return img.size, encode(img, fmt)


class IOProcesses:
    """A pool of `n` spawned processes; `call(fn, *args)` runs fn there and waits (from any thread).
    n = 0: every call runs in the calling thread."""

    def __init__(self, n: int) -> None:
        # spawn, not fork: the parent holds torch's threads (and maybe CUDA), which a forked child must not inherit
        self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) if n > 0 else None

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.pool is None:
            return fn(*args)
        fut: Future = self.pool.submit(fn, *args)
        return fut.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
