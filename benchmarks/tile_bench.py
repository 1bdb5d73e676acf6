"""Large images: a tiled 4096x4096 translate (peak RSS, time) and the seam error of tiles against an
untiled run (whole-image vs per-tile instance-norm statistics).

    python benchmarks/tile_bench.py [--side 4096] [--tile 512] [--device cpu]

Prints a table and rewrites the "tiles" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from translate_bench import write_section

import gantrans

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def mosaic(side: int) -> Image.Image:
    """The example emoji tiled and upscaled to side x side: real image content for the bundled model."""
    files = sorted((ROOT / "examples" / "emoji").glob("*.png"))[:4]
    cell = side // 2
    tiles = [np.asarray(Image.open(f).convert("RGB").resize((cell, cell), Image.Resampling.BICUBIC)) for f in files]
    return Image.fromarray(np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0))


def seam_rows(side: int, tile: int, overlap: int) -> list[str]:
    m = gantrans.load("noto2emojione", device="cpu")
    img = mosaic(side)
    whole = np.asarray(m.translate(img), dtype=np.float64)
    rows = []
    for stats, label in ((1024, "whole image (default)"), (0, "per tile")):
        tiled = np.asarray(m.translate(img, tile=tile, tile_overlap=overlap, tile_stats=stats), dtype=np.float64)
        d = np.abs(tiled - whole)
        rows.append(f"| {side}x{side} | {tile} / {overlap} | {label} | {d.mean():.3f} | {np.percentile(d, 99):.0f} | {d.max():.0f} |")
    return rows


def big_run(side: int, tile: int, device: str) -> tuple[float, float]:
    """A CLI subprocess translating one side x side PNG with --tile: (seconds, peak RSS GiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "r9.safetensors"
        gantrans.build("resnet_9blocks", seed=0).save(model)  # full size: ngf 64, 9 blocks
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
        arr = np.stack([xx, yy, (xx + yy) / 2], -1) * 255 + rng.normal(0, 20, (side, side, 3)).astype(np.float32)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(tmp / "big.png")
        del arr, yy, xx
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "gantrans", "translate", str(tmp / "big.png"), "-m", str(model), "-o", str(tmp / "out"),
             "--tile", str(tile), "--device", device, "-q"],
            check=True,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        assert Image.open(tmp / "out" / "big.png").size == (side, side)
    return seconds, max(peak, before) / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"command: `python benchmarks/tile_bench.py --side {args.side} --tile {args.tile} --device {args.device}`",
        "",
        "Seam error of tiles against one untiled run (bundled noto2emojione CycleGAN, instance norm; levels 0-255):",
        "",
        "| image | tile / overlap | norm statistics | mean abs diff | 99th pct | max |",
        "|---|---|---|---|---|---|",
        *seam_rows(384, 192, 64),
        *seam_rows(768, 256, 32),
    ]
    seconds, gib = big_run(args.side, args.tile, args.device)
    lines += [
        "",
        f"| tiled translate, resnet_9blocks (ngf 64), {args.side}x{args.side} PNG, --tile {args.tile}, {args.device}, whole CLI process | value |",
        "|---|---|",
        f"| wall time (s) | {seconds:.1f} |",
        f"| peak RSS (GiB) | {gib:.2f} |",
    ]
    text = "\n".join(lines)
    print(text)
    write_section(Path(args.results), f"tiles: seams and a {args.side}x{args.side} image, {args.device}", text)


if __name__ == "__main__":
    main()
