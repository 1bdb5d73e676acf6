"""Batched translation of many files: discovery, size bucketing, overlapped decode/encode, atomic output.

Decoding and encoding run in a thread pool while the generator runs on the calling thread (torch
releases the GIL), so I/O overlaps compute. Images are grouped by padded size so a folder of mixed
sizes still runs in batches. One bad file is reported as one failed item; the rest go on.
"""

from __future__ import annotations

import glob
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Sequence

import numpy as np

from gantrans.engine.translator import Translator
from gantrans.errors import UsageError
from gantrans.io.images import (
    DEFAULT_MAX_PIXELS,
    SAVE_FORMATS,
    Decoded,
    encode,
    open_image,
    to_pil,
    write_atomic,
)

IMAGE_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".tif", ".tiff", ".gif",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2",
}  # fmt: skip
EXTS = ("auto", "png", "jpg", "webp")


def show_path(p: str | os.PathLike) -> str:
    """A printable form of a path, whatever bytes its name holds."""
    return os.fsencode(p).decode("utf-8", "backslashreplace")


@dataclass
class InputItem:
    source: Path | None  # None: the image bytes are in `data` (stdin)
    rel: PurePosixPath  # output location under OUTDIR, without suffix and extension
    data: bytes | None = None
    error: str | None = None  # discovery already failed (missing file, broken link, empty glob)

    @property
    def display(self) -> str:
        return "-" if self.source is None else show_path(self.source)


@dataclass
class BatchOptions:
    direction: str = "a2b"
    batch_size: int = 1
    size: int | None = None  # resize the shorter side first
    tile: int | None = None
    tile_overlap: int = 32
    tile_stats: int = 1024  # instance-norm statistics from the whole image at <= this side (0: per tile)
    suffix: str = ""
    ext: str = "auto"
    overwrite: bool = False
    workers: int = 2
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    # conditional models: the MUNIT style code / StarGAN label for an item (one tensor per item)
    cond_for: Callable[[InputItem], Any] | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if self.ext not in EXTS:
            raise UsageError(f"--ext must be one of {', '.join(EXTS)}")
        if self.tile is not None and self.tile < 1:
            raise UsageError("--tile must be >= 1")
        if self.tile_overlap < 0:
            raise UsageError("--tile-overlap must be >= 0")
        if self.size is not None and self.size < 1:
            raise UsageError("--size must be >= 1")
        if "/" in self.suffix or "\\" in self.suffix:
            raise UsageError("--suffix must not contain path separators")


@dataclass
class ItemResult:
    input: str
    output: str | None
    status: str  # "ok" | "skipped" | "failed"
    message: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the output
    ms: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    ok: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, r: ItemResult) -> None:
        setattr(self, r.status, getattr(self, r.status) + 1)


def default_batch_size(device: Any) -> int:
    """Measured: batching helps on GPUs, not on CPUs (benchmarks/RESULTS.md)."""
    return 1 if getattr(device, "type", str(device)) == "cpu" else 16


# -- discovery ----------------------------------------------------------------------------------
def _walk(root: Path, exclude: Path | None) -> list[InputItem]:
    items = []
    excl = exclude.resolve() if exclude else None
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() != excl)
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = PurePosixPath(*path.relative_to(root).with_suffix("").parts)
            err = "broken symbolic link" if path.is_symlink() and not path.exists() else None
            items.append(InputItem(path, rel, error=err))
    return items


def collect_inputs(specs: Sequence[str], exclude: Path | None = None, stdin: bytes | None = None) -> list[InputItem]:
    """Files, directories (recursive, structure mirrored), globs and `-` (stdin) -> input items.

    `exclude` (the output folder) is never walked, so outputs are not re-read as inputs.
    """
    items: list[InputItem] = []
    for spec in specs:
        if spec == "-":
            items.append(InputItem(None, PurePosixPath("stdin"), data=stdin or b""))
            continue
        path = Path(spec)
        if path.is_dir():
            items += _walk(path, exclude)
        elif path.is_symlink() and not path.exists():
            items.append(InputItem(path, PurePosixPath(path.stem), error="broken symbolic link"))
        elif path.exists():
            items.append(InputItem(path, PurePosixPath(path.stem)))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                items.append(InputItem(path, PurePosixPath(path.stem), error="no files match this pattern"))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    items += _walk(mp, exclude)
                elif not (exclude and exclude.resolve() in mp.resolve().parents):
                    items.append(InputItem(mp, PurePosixPath(mp.stem)))
        else:
            items.append(InputItem(path, PurePosixPath(path.stem), error="no such file or directory"))
    seen: set[Path] = set()
    unique = []
    for it in items:  # the same file named twice is translated once
        key = it.source.resolve() if it.source is not None and it.error is None else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        unique.append(it)
    return unique


def shard_items(items: Sequence[InputItem], index: int, count: int) -> list[InputItem]:
    """Shard `index` of `count`: every count-th item of the (deterministically ordered) input list,
    so N processes over the same inputs translate each image exactly once."""
    if not 0 <= index < count:
        raise UsageError(f"shard {index} of {count} does not exist")
    return [it for k, it in enumerate(items) if k % count == index]


def output_path(item: InputItem, outdir: Path, opts: BatchOptions) -> Path:
    ext = opts.ext
    if ext == "auto":
        src = item.source.suffix.lower().lstrip(".") if item.source is not None else "png"
        ext = src if src in SAVE_FORMATS else "png"
    return outdir.joinpath(*item.rel.parent.parts, f"{item.rel.name}{opts.suffix}.{ext}")


# -- the pipeline -------------------------------------------------------------------------------
@dataclass
class _Job:
    item: InputItem
    out: Path | None
    decoded: Decoded | None = None
    ms: float = 0.0


def translate_items(
    translator: Translator,
    items: Sequence[InputItem],
    outdir: Path | None,
    opts: BatchOptions,
    sink: BinaryIO | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> Summary:
    """Translate `items` into `outdir` (or, for a single item, PNG bytes into `sink`).

    Each item ends as exactly one ItemResult passed to `on_result`; the Summary counts them.
    """
    translator.generator(opts.direction)  # a wrong direction is a usage error, before any work
    summary = Summary()

    def report(r: ItemResult) -> None:
        summary.add(r)
        if on_result:
            on_result(r)

    jobs: list[_Job] = []
    claimed: dict[Path, str] = {}
    for it in items:
        if it.error:
            report(ItemResult(it.display, None, "failed", it.error))
            continue
        out = None
        if sink is None:
            assert outdir is not None
            out = output_path(it, outdir, opts)
            claim = Path(os.path.abspath(out))
            if claim in claimed:
                report(ItemResult(it.display, show_path(out), "failed", f"output name collides with that of {claimed[claim]}"))
                continue
            claimed[claim] = it.display
            if it.source is not None and out.exists() and out.resolve() == it.source.resolve():
                report(ItemResult(it.display, show_path(out), "failed", "output would overwrite the input"))
                continue
            if out.exists() and not opts.overwrite:
                report(ItemResult(it.display, show_path(out), "skipped", "exists (use --overwrite)"))
                continue
        jobs.append(_Job(it, out))

    pool = ThreadPoolExecutor(opts.workers) if opts.workers > 0 else None

    def submit(fn: Callable, *args: object) -> Future:
        if pool is not None:
            return pool.submit(fn, *args)
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - delivered through the future like the pool does
            f.set_exception(e)
        return f

    def do_decode(job: _Job) -> _Job:
        t0 = time.perf_counter()
        img, notes = open_image(job.item.data or b"" if job.item.source is None else job.item.source, opts.max_pixels)
        job.decoded = translator.prepare(img, opts.size, opts.direction)
        job.decoded.notes = notes + job.decoded.notes
        job.ms += (time.perf_counter() - t0) * 1000
        return job

    def do_encode(job: _Job, arr: np.ndarray) -> ItemResult:
        t0 = time.perf_counter()
        assert job.decoded is not None
        notes = list(job.decoded.notes)
        img = to_pil(arr, job.decoded.alpha)
        fmt = job.out.suffix.lstrip(".") if job.out is not None else "png"
        if job.decoded.alpha is not None and SAVE_FORMATS[fmt] == "JPEG":
            notes.append("alpha dropped (JPEG has none)")
        data = encode(img, fmt)
        if job.out is not None:
            write_atomic(job.out, data, overwrite=opts.overwrite)
        else:
            job.item.data = data  # handed to the sink on the calling thread
        ms = job.ms + (time.perf_counter() - t0) * 1000
        return ItemResult(job.item.display, show_path(job.out) if job.out else "-", "ok", None, img.size, round(ms, 1), notes)

    encodes: deque[tuple[_Job, Future]] = deque()

    def drain(block: bool) -> None:
        while encodes and (block or encodes[0][1].done()):
            job, fut = encodes.popleft()
            try:
                r = fut.result()
                if sink is not None and job.item.data is not None:
                    sink.write(job.item.data)
                    sink.flush()
                report(r)
            except FileExistsError:  # another writer made it first: same as an existing output
                report(ItemResult(job.item.display, show_path(job.out) if job.out else "-", "skipped", "exists (use --overwrite)"))
            except Exception as e:  # noqa: BLE001 - a failed write fails this item only
                report(ItemResult(job.item.display, show_path(job.out) if job.out else "-", "failed", _reason(e)))

    buckets: dict[tuple[int, int], list[_Job]] = {}

    def flush(key: tuple[int, int]) -> None:
        group = buckets.pop(key)
        tile = opts.tile if key[0] == -1 else None
        t0 = time.perf_counter()
        try:
            cond = None
            if opts.cond_for is not None:
                import torch

                cond = torch.stack([opts.cond_for(j.item) for j in group])
            arrays = translator.translate_decoded(
                [j.decoded for j in group], opts.direction, tile, opts.tile_overlap, cond, opts.tile_stats  # type: ignore[misc]
            )
        except (RuntimeError, ValueError) as e:  # e.g. out of memory: the group fails, the batch goes on
            for j in group:
                report(ItemResult(j.item.display, None, "failed", f"translation failed: {_reason(e)}"))
            return
        share = (time.perf_counter() - t0) * 1000 / len(group)
        for j, arr in zip(group, arrays):
            j.ms += share
            assert j.decoded is not None
            j.decoded.pixels = np.empty(0)  # free the input early
            encodes.append((j, submit(do_encode, j, arr)))
        drain(block=False)

    lookahead = max(2 * opts.batch_size, 2 * max(opts.workers, 1))
    decodes: deque[tuple[_Job, Future]] = deque()
    pending = deque(jobs)
    try:
        while pending or decodes:
            while pending and len(decodes) < lookahead:
                job = pending.popleft()
                decodes.append((job, submit(do_decode, job)))
            job, fut = decodes.popleft()
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
                report(ItemResult(job.item.display, None, "failed", _reason(e)))
                continue
            assert job.decoded is not None
            w, h = job.decoded.size
            tiled = opts.tile is not None and max(w, h) > opts.tile
            key = (-1, id(job)) if tiled else (translator.padded(h), translator.padded(w))
            buckets.setdefault(key, []).append(job)
            if tiled or len(buckets[key]) >= opts.batch_size:
                flush(key)
            elif sum(len(b) for b in buckets.values()) > 4 * opts.batch_size:
                flush(max(buckets, key=lambda k: len(buckets[k])))  # bound memory with many sizes
        for rest in list(buckets):
            flush(rest)
        drain(block=True)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return summary


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror + (f": {show_path(e.filename)}" if e.filename else "")
    return str(e) or type(e).__name__
