"""A 2048x2048 photo through `gantrans upscale --tile` (x4: an 8192x8192 output): wall time and peak RSS.

    python benchmarks/upscale_tile_bench.py [--side 2048] [--tiles 256,512] [--archs srvgg_compact,rrdbnet6]

Each run is one `gantrans upscale` process reporting its own peak RSS (VmHWM). Models are random, at the
released configurations: srvgg_compact as realesr-general-x4v3 (64 features, 32 convs), rrdbnet6 as
RealESRGAN_x4plus_anime_6B (6 RRDB blocks; the 23-block x4plus is ~4x slower per pixel). Writes the
section "upscale: 2048x2048 tiled, cpu" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.tile_memory_bench import CHILD, image  # noqa: E402
from benchmarks.translate_bench import write_section  # noqa: E402

CONFIGS = {
    "srvgg_compact": ("srvgg_compact", {"num_feat": 64, "num_conv": 32}),
    "rrdbnet6": ("rrdbnet", {"num_block": 6}),
    "rrdbnet": ("rrdbnet", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=2048)
    ap.add_argument("--tiles", default="256,512")
    ap.add_argument("--archs", default="srvgg_compact,rrdbnet6")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        src = t / "in.png"
        image(src, a.side)
        for name in a.archs.split(","):
            arch, cfg = CONFIGS[name]
            model = t / f"{name}.safetensors"
            code = f"import gantrans; gantrans.build({arch!r}, domains=('LR', 'HR'), seed=0, device='cpu', **{cfg!r}).save({str(model)!r})"
            subprocess.run([sys.executable, "-c", code], cwd="/", check=True)
            for tile in (int(x) for x in a.tiles.split(",")):
                args = ["upscale", str(src), "-m", str(model), "-o", str(t / "out"), "--tile", str(tile), "--tile-pad", "10",
                        "--device", "cpu", "--precision", a.precision, "--overwrite", "-q"]  # fmt: skip
                t0 = time.perf_counter()
                r = subprocess.run([sys.executable, "-c", CHILD, *args], cwd="/", capture_output=True, text=True)
                dt = time.perf_counter() - t0
                line = [x for x in r.stdout.splitlines() if x.startswith("RSS_KB")]
                if not line or line[0].split()[2] != "0":
                    raise SystemExit(f"{name} tile {tile}: {r.stderr[-1500:]}")
                rss = int(line[0].split()[1]) * 1024
                rows.append((name, tile, dt, rss))
                print(f"{name} tile {tile}: {dt:.1f} s, peak RSS {rss / 2**20:.0f} MiB", flush=True)
    out_px = (a.side * 4) ** 2
    lines = [f"`python benchmarks/upscale_tile_bench.py --side {a.side} --tiles {a.tiles} --archs {a.archs} --precision {a.precision}`"
             f" — one `gantrans upscale --tile N --tile-pad 10` process per row, a {a.side}x{a.side} PNG in, "
             f"{a.side * 4}x{a.side * 4} PNG out (x4), random weights at the released configurations; wall time "
             "includes start-up, decoding and PNG encoding; peak RSS is the process's VmHWM.", "",
             "| model | tile | wall time | output Mpx/s | peak RSS | RSS per output pixel |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, tile, dt, rss in rows:
        lines.append(f"| {name} | {tile} | {dt:.1f} s | {out_px / 1e6 / dt:.2f} | {rss / 2**20:.0f} MiB | {rss / out_px:.1f} B |")
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        write_section(HERE / "RESULTS.md", f"upscale: {a.side}x{a.side} tiled, cpu, {a.precision}", body)


if __name__ == "__main__":
    main()
