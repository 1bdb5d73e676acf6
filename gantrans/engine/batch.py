"""Translating many files: the translate task on the batch pipeline (`gantrans.engine.pipeline`).

Inputs are grouped by padded size so a folder of mixed sizes still runs in batches; images larger than
`tile` run alone, tile by tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Hashable, Sequence

from PIL import Image

from gantrans.engine.pipeline import (
    ItemResult,
    Output,
    OutputOptions,
    Summary,
    Task,
    Work,
    run_pipeline,
)
from gantrans.engine.translator import Translator
from gantrans.errors import UsageError
from gantrans.io.images import DEFAULT_MAX_PIXELS, Decoded, InputItem


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
    io_processes: int = 0
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    # conditional models: the MUNIT style code / StarGAN label for an item (one tensor per item)
    cond_for: Callable[[InputItem], Any] | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if self.tile is not None and self.tile < 1:
            raise UsageError("--tile must be >= 1")
        if self.tile_overlap < 0:
            raise UsageError("--tile-overlap must be >= 0")
        if self.size is not None and self.size < 1:
            raise UsageError("--size must be >= 1")
        self.output()  # --ext / --suffix checked now, before a model loads

    def output(self) -> OutputOptions:
        return OutputOptions(ext=self.ext, suffix=self.suffix, overwrite=self.overwrite, workers=self.workers,
                             io_processes=self.io_processes, max_pixels=self.max_pixels)  # fmt: skip


MIN_OOM_TILE = 32  # the smallest tile an out-of-memory retry goes down to (input pixels)


class TranslateTask(Task):
    """One output per input: the generator of `direction` at the input's own size (or tiled)."""

    single = True

    def __init__(self, translator: Translator, opts: BatchOptions) -> None:
        self.t, self.opts, self.group = translator, opts, opts.batch_size

    def check(self) -> None:
        self.t.generator(self.opts.direction)  # a wrong direction is a usage error, before any work

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        return self.t.prepare(image, self.opts.size, self.opts.direction, self.max_pixels)

    def key(self, work: Work) -> Hashable | None:
        assert work.decoded is not None
        w, h = work.decoded.size
        if self.opts.tile is not None and max(w, h) > self.opts.tile:
            return None
        return self.t.padded(h), self.t.padded(w)

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        o = self.opts
        tiled = len(works) == 1 and o.tile is not None and max(works[0].decoded.size) > o.tile  # type: ignore[union-attr]
        cond = None
        if o.cond_for is not None:
            import torch

            cond = torch.stack([o.cond_for(w.item) for w in works])
        return [[("", a)] for a in self._run(works, o.tile if tiled else None, cond)]

    def _run(self, works: Sequence[Work], tile: int | None, cond: Any) -> list[Any]:
        """translate_decoded, and on a device out-of-memory error (CUDA) the same again with less memory: a
        batch one image at a time, then an image in tiles of half the size, down to MIN_OOM_TILE (a note
        tells the user which --tile worked)."""
        import torch

        o = self.opts
        decoded = [w.decoded for w in works]
        try:
            return self.t.translate_decoded(decoded, o.direction, tile, o.tile_overlap, cond, o.tile_stats)  # type: ignore[arg-type]
        except torch.cuda.OutOfMemoryError:
            if self.t.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(works) > 1:
                return [a for i, w in enumerate(works) for a in self._run([w], tile, None if cond is None else cond[i : i + 1])]
            d = decoded[0]
            assert d is not None
            smaller = min(tile or max(d.size), max(d.size)) // 2
            if smaller < MIN_OOM_TILE:
                raise
            d.notes.append(f"out of {self.t.device.type} memory: retried with --tile {smaller}")
            return self._run(works, smaller, cond)


def translate_items(
    translator: Translator,
    items: Sequence[InputItem],
    outdir: Path | None,
    opts: BatchOptions,
    sink: BinaryIO | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> Summary:
    """Translate `items` into `outdir` (or, for a single item, PNG bytes into `sink`); one ItemResult each."""
    return run_pipeline(TranslateTask(translator, opts), items, outdir, opts.output(), sink, on_result)
