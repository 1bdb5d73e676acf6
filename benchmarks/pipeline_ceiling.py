"""The batch pipeline's own ceiling: `translate_items` (what `gantrans translate` runs) with the generator replaced
by a copy of its input, on tiny JPEGs, so what is left is the per-image host work (listing, reading, decoding,
batching, encoding, the atomic write with its fsync, thread hand-offs). A GPU model faster than this rate cannot
reach it end to end, whatever the codec (issue 21: unet_256's generator alone runs ~11,700 img/s on an H200).

    python benchmarks/pipeline_ceiling.py [--images 3000] [--size 16] [--batch 64] [--workers 2] [--device cpu]

Prints a table (host and device codec, with and without the per-file fsync) and rewrites the section
"pipeline ceiling: no-op generator, <device>" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import gantrans  # noqa: E402
from benchmarks.translate_bench import sync, write_section  # noqa: E402
from gantrans.engine.batch import BatchOptions, translate_items  # noqa: E402
from gantrans.io.images import collect_inputs  # noqa: E402

_FSYNC = os.fsync


def rate(model, items: list, out: Path, opts: BatchOptions, fsync: bool) -> float:
    """images/s of one warmed-up run over items (os.fsync made a no-op when fsync is False)."""
    os.fsync = _FSYNC if fsync else (lambda fd: None)
    try:
        translate_items(model, items[: 2 * opts.batch_size], out / "warm", opts)
        t0 = time.perf_counter()
        s = translate_items(model, items, out / "run", opts)
        sync(model.device)
        assert s.ok == len(items), s
        return len(items) / (time.perf_counter() - t0)
    finally:
        os.fsync = _FSYNC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    a = ap.parse_args()
    model = gantrans.build("resnet_6blocks", ngf=1, device=a.device)
    model.family.forward = lambda gen, x, direction, cond=None: x.clone()  # this process only: the no-op generator
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        rng = np.random.default_rng(0)
        for i in range(a.images):
            Image.fromarray(rng.integers(0, 255, (a.size, a.size, 3), dtype=np.uint8)).save(src / f"i{i:05d}.jpg", quality=90)
        items = collect_inputs([str(src)])
        for codec in ("host", "device"):
            for fsync in (True, False):
                out = Path(tmp) / f"out-{codec}-{fsync}"
                r = rate(model, items, out, BatchOptions(batch_size=a.batch, workers=a.workers, overwrite=True, codec=codec), fsync)
                rows.append((codec, fsync, r))
                print(f"codec {codec}, fsync {fsync}: {r:.0f} img/s ({1e6 / r:.0f} us per image)", flush=True)
    lines = [
        f"`python benchmarks/pipeline_ceiling.py --images {a.images} --size {a.size} --batch {a.batch} --workers {a.workers} --device {a.device}`"
        f" — {platform.machine()}, {os.cpu_count()} CPUs; {a.images} JPEGs of {a.size}x{a.size}, the generator a copy of its input.",
        "",
        "| codec | fsync per output | end to end (img/s) | host time per image (us) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c} | {'yes' if f else 'no (measurement only)'} | {r:.0f} | {1e6 / r:.0f} |" for c, f, r in rows]
    body = "\n".join(lines)
    print(body)
    write_section(Path(a.results), f"pipeline ceiling: no-op generator, {a.device}", body)


if __name__ == "__main__":
    main()
