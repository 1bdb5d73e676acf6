"""Several outputs per input (MUNIT styles, StarGAN edits): decode, produce tagged outputs, write
`{stem}_{tag}.{ext}` (or one `{stem}_grid.png` strip: input | outputs) atomically, one result each.

Inputs of one size are produced together (up to `group` at a time) so the model sees batches of
inputs x outputs. One bad input fails only its own outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from gantrans.engine.batch import (
    SAVE_FORMATS,
    InputItem,
    ItemResult,
    Summary,
    _reason,
    show_path,
)
from gantrans.errors import UsageError
from gantrans.io.images import (
    DEFAULT_MAX_PIXELS,
    Decoded,
    as_uint8,
    encode,
    open_image,
    to_pil,
    write_atomic,
)

# (decoded inputs of one size) -> per input, a list of (tag, (H, W, C) uint8 output)
Producer = Callable[[Sequence[Decoded]], list[list[tuple[str, np.ndarray]]]]


@dataclass
class MultiOptions:
    ext: str = "png"
    overwrite: bool = False
    grid: bool = False  # one strip per input: input | outputs
    files: bool = True  # one file per output (style-sample --grid writes only the strip)
    size: int | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    group: int = 1  # inputs produced together

    def __post_init__(self) -> None:
        if self.ext not in SAVE_FORMATS:
            raise UsageError(f"--ext must be one of {', '.join(sorted(SAVE_FORMATS))}")


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


def run_multi(
    items: Sequence[InputItem],
    outdir: Path,
    opts: MultiOptions,
    prepare: Callable[..., Decoded],  # (image, size, item) -> decoded input
    produce: Producer,
    on_result: Callable[[ItemResult], None] | None = None,
) -> Summary:
    summary = Summary()

    def report(r: ItemResult) -> None:
        summary.add(r)
        if on_result:
            on_result(r)

    def write(item: InputItem, tag: str, arr: np.ndarray, alpha: np.ndarray | None, ms: float) -> None:
        out = outdir.joinpath(*item.rel.parent.parts, f"{item.rel.name}_{tag}.{'png' if tag == 'grid' else opts.ext}")
        if out.exists() and not opts.overwrite:
            report(ItemResult(item.display, show_path(out), "skipped", "exists (use --overwrite)"))
            return
        try:
            img = to_pil(arr, alpha if alpha is not None and alpha.shape[:2] == arr.shape[:2] else None)
            write_atomic(out, encode(img, out.suffix.lstrip(".")), overwrite=opts.overwrite)
            report(ItemResult(item.display, show_path(out), "ok", None, img.size, round(ms, 1)))
        except FileExistsError:
            report(ItemResult(item.display, show_path(out), "skipped", "exists (use --overwrite)"))
        except Exception as e:  # noqa: BLE001 - a failed write fails this output only
            report(ItemResult(item.display, show_path(out), "failed", _reason(e)))

    def flush(group: list[tuple[InputItem, Decoded, float]]) -> None:
        t0 = time.perf_counter()
        try:
            results = produce([d for _, d, _ in group])
        except (RuntimeError, ValueError) as e:
            for it, _, _ in group:
                report(ItemResult(it.display, None, "failed", f"translation failed: {_reason(e)}"))
            return
        share = (time.perf_counter() - t0) * 1000 / len(group)
        for (it, d, ms), outs in zip(group, results):
            per = (ms + share) / max(1, len(outs))
            if opts.grid:
                write(it, "grid", strip([as_uint8(d.pixels)] + [a for _, a in outs]), None, ms + share)
            if opts.files:
                for tag, arr in outs:
                    write(it, tag, arr, d.alpha, per)

    pending: list[tuple[InputItem, Decoded, float]] = []
    for it in items:
        if it.error:
            report(ItemResult(it.display, None, "failed", it.error))
            continue
        t0 = time.perf_counter()
        try:
            img, notes = open_image(it.data or b"" if it.source is None else it.source, opts.max_pixels)
            d = prepare(img, opts.size, it)
        except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
            report(ItemResult(it.display, None, "failed", _reason(e)))
            continue
        ms = (time.perf_counter() - t0) * 1000
        if pending and (pending[0][1].pixels.shape != d.pixels.shape or len(pending) >= opts.group):
            flush(pending)
            pending = []
        pending.append((it, d, ms))
    if pending:
        flush(pending)
    return summary

