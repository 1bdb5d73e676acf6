"""The one batch pipeline behind every image command: decode, group, run the model, encode, write, report.

A command is a `Task`: how to prepare a decoded input, which inputs may share a forward pass, and what
outputs a group of inputs gives. The pipeline does the rest the same way for all of them: decoding
and encoding in a thread pool while the model runs on the calling thread (torch releases the GIL), so
I/O overlaps compute; inputs grouped by a size key so a folder of mixed sizes still runs in batches;
atomic writes that never replace a file without `overwrite`; one result per output, and one bad file
failing only its own outputs.

Naming: a one-output task (translate, upscale, inpaint) writes `{stem}{suffix}.{ext}` (or PNG bytes to
a sink); a many-output task (style-sample, edit, stylize) writes `{stem}_{tag}.{ext}` per output and,
with `grid`, one `{stem}_grid.png` strip (input | outputs).
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Hashable, Sequence

import numpy as np
from PIL import Image

from gantrans.errors import UsageError
from gantrans.io.atomic import clean_stale
from gantrans.io.images import (
    DEFAULT_MAX_PIXELS,
    SAVE_FORMATS,
    Decoded,
    InputItem,
    as_uint8,
    show_path,
    write_atomic,
)
from gantrans.io.jpeg import Encoded
from gantrans.io.procs import IOProcesses, open_remote, write_remote

EXTS = ("auto", "png", "jpg", "jpeg", "webp")
Output = tuple[str, np.ndarray | Encoded]  # (tag, (H, W, C) uint8 or encoded bytes); a one-output task's tag is ""


class _Alone:
    """Bucket-key marker of an input that runs by itself (e.g. a tiled image)."""


def default_batch_size(device: Any) -> int:
    """Measured: batching helps on GPUs, not on CPUs (benchmarks/RESULTS.md)."""
    return 1 if getattr(device, "type", str(device)) == "cpu" else 16


@dataclass
class OutputOptions:
    """Where and how outputs are written (shared by every command)."""

    ext: str = "auto"  # auto: keep png/jpg/webp inputs' format, else png
    suffix: str = ""  # one-output tasks: appended to the stem
    overwrite: bool = False
    grid: bool = False  # many-output tasks: one strip per input (input | outputs)
    files: bool = True  # many-output tasks: one file per output
    workers: int = 2  # decode/encode threads (0: inline)
    io_processes: int = 0  # > 0: the threads hand decoding and encoding to this many processes (no GIL between them)
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.ext not in EXTS:
            raise UsageError(f"--ext must be one of {', '.join(EXTS)}")
        if "/" in self.suffix or "\\" in self.suffix:
            raise UsageError("--suffix must not contain path separators")
        if self.workers < 0:
            raise UsageError("--workers must be >= 0")
        if self.io_processes < 0:
            raise UsageError("--io-processes must be >= 0")
        if self.io_processes > 0 and self.workers == 0:
            raise UsageError("--io-processes needs --workers >= 1 (the threads that feed the processes)")


@dataclass
class ItemResult:
    input: str  # the path as the OS names it (undecodable bytes as surrogates: os.fsencode gives them back)
    output: str | None
    status: str  # "ok" | "skipped" | "failed"
    message: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the output
    ms: float | None = None
    notes: list[str] = field(default_factory=list)


EXISTS = "exists (use --overwrite)"
SKIP_KINDS = {EXISTS: "existing", "listed more than once": "duplicate", "folder already listed (symbolic link loop)": "link loop"}


@dataclass
class Summary:
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    skip_kinds: dict[str, int] = field(default_factory=dict)  # "existing", "duplicate", "link loop"
    ignored: int = 0  # files in input folders left out for their suffix
    cleaned: int = 0  # stale temp files of killed earlier runs removed from the output folders

    def add(self, r: ItemResult) -> None:
        setattr(self, r.status, getattr(self, r.status) + 1)
        if r.status == "skipped":
            kind = SKIP_KINDS.get(r.message or "", "other")
            self.skip_kinds[kind] = self.skip_kinds.get(kind, 0) + 1


@dataclass
class Work:
    """One input on its way through the pipeline."""

    item: InputItem
    index: int  # position in the input list: per-input seeds do not shift when another input fails
    out: Path | None = None  # one-output tasks: the output path, claimed before decoding
    decoded: Decoded | None = None
    ms: float = 0.0
    data: bytes | None = None  # encoded output bound for the sink
    staged: Any = None  # what Task.stage() made ready for produce() (e.g. the image decoded on the device)


class Task:
    """What a command does to each input; subclasses set `single`/`group` and implement prepare/produce."""

    single: bool = False  # exactly one output per input, named {stem}{suffix}.{ext}
    group: int = 1  # the most inputs passed to one produce() call
    stages: bool = False  # stage() has work: the pipeline runs it one group ahead, on a thread of its own
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # set by run_pipeline: resizing in prepare() respects it too

    def check(self) -> None:
        """Raise a UsageError before any work (e.g. a wrong direction)."""

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        raise NotImplementedError

    def peek(self, item: InputItem) -> Decoded | None:
        """An input this task decodes itself, in produce() (e.g. JPEGs on the device): a Decoded whose pixels
        are a placeholder of the right shape. None (the default): the host decodes it, then prepare()."""
        return None

    def key(self, work: Work) -> Hashable | None:
        """Inputs with equal keys may share a produce() call; None: this input runs alone."""
        assert work.decoded is not None
        return work.decoded.pixels.shape

    def stage(self, works: Sequence[Work]) -> None:
        """With `stages`: get a group ready for produce() (sets `work.staged`; never raises), on the staging thread
        while the previous group's produce() runs (e.g. decoding a batch on the device beside the model's work)."""

    def produce(self, works: Sequence[Work]) -> Sequence[list[Output] | Exception]:
        """Per input (in order), its outputs, or the exception that failed that input alone."""
        raise NotImplementedError


def strip(arrays: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Images side by side on white (channels matched), 2 px apart."""
    c = max(a.shape[2] for a in arrays)
    h = max(a.shape[0] for a in arrays)
    arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 and c == 3 else a for a in arrays]
    w = sum(a.shape[1] for a in arrays) + gap * (len(arrays) - 1)
    out = np.full((h, w, c), 255, np.uint8)
    x = 0
    for a in arrays:
        out[: a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    return out


def output_path(item: InputItem, outdir: Path, opts: OutputOptions, tag: str = "") -> Path:
    """`{stem}{suffix}.{ext}` (tag ""), `{stem}_grid.png`, or `{stem}_{tag}.{ext}`, mirroring sub-folders."""
    ext = "png" if tag == "grid" else opts.ext
    if ext == "auto":
        src = item.source.suffix.lower().lstrip(".") if item.source is not None else "png"
        ext = src if src in SAVE_FORMATS else "png"
    name = f"{item.rel.name}{opts.suffix}" if not tag else f"{item.rel.name}_{tag}"
    return outdir.joinpath(*item.rel.parent.parts, f"{name}.{ext}")


def reason(e: BaseException) -> str:
    """A one-line cause for an item's failure."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror + (f": {show_path(e.filename)}" if e.filename else "")
    return str(e) or type(e).__name__


def run_pipeline(
    task: Task,
    items: Sequence[InputItem],
    outdir: Path | None,
    opts: OutputOptions,
    sink: BinaryIO | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> Summary:
    """Run `task` over `items` into `outdir` (or, one-output tasks with one item, PNG bytes into `sink`).

    Every output ends as exactly one ItemResult passed to `on_result`; the Summary counts them.
    """
    task.check()
    task.max_pixels = opts.max_pixels
    if sink is not None and not task.single:
        raise UsageError("only one-output commands can write to a stream")
    summary = Summary(ignored=getattr(items, "ignored", 0))
    if outdir is not None:  # temp files of killed earlier runs, in every folder this run writes to
        folders = {outdir.joinpath(*it.rel.parent.parts) for it in items}
        summary.cleaned = sum(clean_stale(f) for f in sorted(folders))

    def report(r: ItemResult) -> None:
        summary.add(r)
        if on_result:
            on_result(r)

    works: list[Work] = []
    claimed: dict[Path, str] = {}
    for index, it in enumerate(items):
        if it.error:
            report(ItemResult(it.display, None, "failed", it.error))
            continue
        if it.skip:
            report(ItemResult(it.display, None, "skipped", it.skip))
            continue
        work = Work(it, index)
        if task.single and sink is None:
            assert outdir is not None
            out = output_path(it, outdir, opts)
            claim = Path(os.path.abspath(out))
            if claim in claimed:
                report(ItemResult(it.display, str(out), "failed", f"output name collides with that of {show_path(claimed[claim])}"))
                continue
            claimed[claim] = it.display
            if it.source is not None and out.exists() and out.resolve() == it.source.resolve():
                report(ItemResult(it.display, str(out), "failed", "output would overwrite the input"))
                continue
            if out.exists() and not opts.overwrite:
                report(ItemResult(it.display, str(out), "skipped", EXISTS))
                continue
            work.out = out
        works.append(work)

    pool = ThreadPoolExecutor(opts.workers) if opts.workers > 0 else None
    procs = IOProcesses(opts.io_processes)

    def submit(fn: Callable[..., Any], *args: object) -> Future:
        if pool is not None:
            return pool.submit(fn, *args)
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - delivered through the future like the pool does
            f.set_exception(e)
        return f

    def do_decode(work: Work) -> Work:
        t0 = time.perf_counter()
        it = work.item
        work.decoded = task.peek(it)
        if work.decoded is None:
            img, notes = procs.call(open_remote, it.data or b"" if it.source is None else it.source, opts.max_pixels)
            work.decoded = task.prepare(img, it)
            work.decoded.notes = notes + work.decoded.notes
        work.ms += (time.perf_counter() - t0) * 1000
        return work

    def write_one(work: Work, out: Path | None, arr: np.ndarray | Encoded, alpha: np.ndarray | None, ms: float, notes: list[str]) -> ItemResult:
        """Encode and write (or keep for the sink) one output; never raises."""
        shown = str(out) if out is not None else "-"
        if out is not None and not opts.overwrite and out.exists():
            return ItemResult(work.item.display, shown, "skipped", EXISTS)
        t0 = time.perf_counter()
        try:
            fmt = out.suffix.lstrip(".") if out is not None else "png"
            notes = list(notes)
            if alpha is not None and SAVE_FORMATS[fmt] == "JPEG":
                notes.append("alpha dropped (JPEG has none)")
            # a file is encoded straight into its temp file; stream bytes go to the sink on the calling thread.
            # An alpha of the input's size is resized to an upscaled output.
            if isinstance(arr, Encoded):  # encoded by the task (on the device): written as it is
                size, data = arr.size, arr.data
                if out is not None:
                    write_atomic(out, data, opts.overwrite)
            else:
                size, data = procs.call(write_remote, out, arr, alpha, fmt, opts.overwrite)
            if out is None:
                work.data = data
        except FileExistsError:  # another writer made it first: same as an existing output
            return ItemResult(work.item.display, shown, "skipped", EXISTS)
        except Exception as e:  # noqa: BLE001 - a failed write fails this output only
            return ItemResult(work.item.display, shown, "failed", reason(e))
        ms += (time.perf_counter() - t0) * 1000
        return ItemResult(work.item.display, shown, "ok", None, size, round(ms, 1), notes)

    def do_write(work: Work, outputs: list[Output], share: float) -> list[ItemResult]:
        d = work.decoded
        assert d is not None
        if task.single:
            ((_, arr),) = outputs
            return [write_one(work, work.out, arr, d.alpha, work.ms + share, d.notes)]
        assert outdir is not None
        results = []
        per = (work.ms + share) / max(1, len(outputs))
        notes = d.notes  # said once per input, with its first output
        if opts.grid:
            grid = strip([as_uint8(d.pixels)] + [a for _, a in outputs if isinstance(a, np.ndarray)])  # many-output tasks give arrays
            results.append(write_one(work, output_path(work.item, outdir, opts, "grid"), grid, None, work.ms + share, notes))
            notes = []
        if opts.files:
            for tag, arr in outputs:
                results.append(write_one(work, output_path(work.item, outdir, opts, tag), arr, d.alpha, per, notes))
                notes = []
        return results

    writes: deque[tuple[Work, Future]] = deque()

    def drain(block: bool) -> None:
        while writes and (block or writes[0][1].done()):
            work, fut = writes.popleft()
            for r in fut.result():
                if sink is not None and work.data is not None and r.status == "ok":
                    sink.write(work.data)
                    sink.flush()
                report(r)

    buckets: dict[Hashable, list[Work]] = {}
    stager = ThreadPoolExecutor(1, thread_name_prefix="stage") if task.stages else None
    staged: deque[tuple[list[Work], Future]] = deque()

    def flush(key: Hashable) -> None:
        group = buckets.pop(key)
        if stager is None:
            return run_group(group)
        staged.append((group, stager.submit(task.stage, group)))
        while len(staged) > 1:  # one group staged ahead of the one the model runs
            finish_staged()

    def finish_staged() -> None:
        group, fut = staged.popleft()
        try:
            fut.result()
        except Exception:  # noqa: BLE001 - stage() should not raise; if it does, produce() does the work itself
            for w in group:
                w.staged = None
        run_group(group)

    def run_group(group: list[Work]) -> None:
        t0 = time.perf_counter()
        try:
            outputs = task.produce(group)
        except (RuntimeError, ValueError) as e:  # e.g. out of memory: the group fails, the batch goes on
            for w in group:
                report(ItemResult(w.item.display, None, "failed", f"translation failed: {reason(e)}"))
            return
        share = (time.perf_counter() - t0) * 1000 / len(group)
        for w, outs in zip(group, outputs):
            if isinstance(outs, Exception):  # this input alone failed (e.g. a JPEG no decoder could read)
                report(ItemResult(w.item.display, None, "failed", reason(outs)))
                continue
            if task.single and w.decoded is not None:
                w.decoded.pixels = np.empty(0)  # free the input early (grids need it)
            writes.append((w, submit(do_write, w, outs, share)))
        drain(block=False)

    lookahead = max(2 * task.group, 2 * max(opts.workers, 1))
    decodes: deque[tuple[Work, Future]] = deque()
    pending = deque(works)
    alone = 0
    try:
        while pending or decodes:
            while pending and len(decodes) < lookahead:
                work = pending.popleft()
                decodes.append((work, submit(do_decode, work)))
            work, fut = decodes.popleft()
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
                report(ItemResult(work.item.display, None, "failed", reason(e)))
                continue
            key = task.key(work)
            by_itself = key is None
            if by_itself:
                alone += 1
                key = (_Alone, alone)
            buckets.setdefault(key, []).append(work)
            if by_itself or len(buckets[key]) >= task.group:
                flush(key)
            elif sum(len(b) for b in buckets.values()) > 4 * task.group:
                flush(max(buckets, key=lambda k: len(buckets[k])))  # bound memory with many sizes
        for rest in list(buckets):
            flush(rest)
        while staged:
            finish_staged()
        drain(block=True)
    finally:
        if stager is not None:
            stager.shutdown(wait=True, cancel_futures=True)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        procs.close()
    return summary
