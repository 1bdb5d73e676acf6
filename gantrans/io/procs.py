"""Decoding and encoding in worker processes (`--io-processes N`).

Pillow releases the GIL inside its codecs, but the Python around each image (opening, EXIF, mode changes,
array copies, the temp file and rename) does not: with a fast GPU the host's one interpreter becomes the
limit (benchmarks/RESULTS.md, issue 21). These functions run that work in other processes. They are
top-level and import only Pillow and numpy, so a spawned worker starts without torch.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


class WorkerDied(RuntimeError):
    """The process handling an item ended abruptly (killed, out of memory); only that item fails."""


class IOProcesses:
    """A pool of `n` spawned processes; `call(fn, *args)` runs fn there and waits (from any thread).
    n = 0: every call runs in the calling thread. A worker that dies fails the calls then in flight; the pool is
    started afresh for the next ones, so one image that kills its decoder does not fail the rest."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.lock = threading.Lock()
        self.pool = self._start() if n > 0 else None

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent holds torch's threads (and maybe CUDA), which a forked child must not inherit
        return ProcessPoolExecutor(self.n, mp_context=multiprocessing.get_context("spawn"))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.pool is None:
            return fn(*args)
        with self.lock:
            pool = self.pool
        try:
            fut: Future = pool.submit(fn, *args)
            return fut.result()
        except BrokenProcessPool:
            with self.lock:
                if self.pool is pool:  # the first thread to see it restarts the pool
                    pool.shutdown(wait=False, cancel_futures=True)
                    self.pool = self._start()
            raise WorkerDied("its worker process ended abruptly (out of memory?)") from None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
