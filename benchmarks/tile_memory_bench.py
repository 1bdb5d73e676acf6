"""Peak memory of `gantrans translate --tile` against image size: it must grow with the uint8 input and
output only (target: no faster than ~7 bytes per pixel plus a constant), not with float copies of the image.

    python benchmarks/tile_memory_bench.py [--sides 4096,8192,16384] [--tile 512] [--src DIR] [--label after]

Each size is one `gantrans translate` process (a tiny random ResNet: memory, not speed, is measured)
reporting its own peak RSS (VmHWM); bytes per pixel is the slope between consecutive sizes. `--src DIR` runs
another checkout (before/after). Writes the section "tiles: peak memory (LABEL)" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.translate_bench import write_section  # noqa: E402

# VmHWM, not ru_maxrss: after fork+exec, ru_maxrss also counts the parent's image (this script holds the
# test picture), which made every size look ~0.5 GB larger
CHILD = """
import sys
from gantrans.cli.main import app
code = 0
try:
    app(sys.argv[1:])
except SystemExit as e:
    code = e.code
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print("RSS_KB", hwm, code)
"""


def image(path: Path, side: int) -> None:
    """A smooth colour field (compresses well, so writing it is quick) with a little structure."""
    y, x = np.ogrid[0:side, 0:side]
    r = ((x * 255) // side).astype(np.uint8)
    g = ((y * 255) // side).astype(np.uint8)
    arr = np.empty((side, side, 3), np.uint8)
    arr[..., 0] = r
    arr[..., 1] = g
    arr[..., 2] = ((x + y) % 256).astype(np.uint8)
    Image.fromarray(arr).save(path, compress_level=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sides", default="4096,8192,16384")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--src", type=Path, default=None)
    ap.add_argument("--label", default="after")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items()}
    if a.src is not None:
        env["PYTHONPATH"] = str(a.src)
    sides = [int(s) for s in a.sides.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        model = t / "tiny.safetensors"
        subprocess.run([sys.executable, "-c", f"import gantrans; gantrans.build('resnet_6blocks', ngf=4, n_blocks=1, seed=0, device='cpu').save({str(model)!r})"],
                       env=env, cwd="/", check=True)  # fmt: skip
        for side in sides:
            src = t / f"in{side}.png"
            image(src, side)
            args = ["translate", str(src), "-m", str(model), "-o", str(t / f"out{side}"), "--tile", str(a.tile), "--device", "cpu",
                    "--max-pixels", str(side * side), "--overwrite", "-q"]  # fmt: skip
            r = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, cwd="/", capture_output=True, text=True)
            line = [x for x in r.stdout.splitlines() if x.startswith("RSS_KB")]
            if not line:
                raise SystemExit(f"side {side}: {r.stderr[-1500:]}")
            _, kb, code = line[0].split()
            rows.append((side, int(kb) * 1024, code))
            src.unlink()
            print(f"{side}x{side}: peak RSS {int(kb) / 1024:.0f} MiB (exit {code})", flush=True)
    lines = [f"`{'PYTHONPATH=' + str(a.src) + ' ' if a.src else ''}python benchmarks/tile_memory_bench.py --sides {a.sides} --tile {a.tile} --label {a.label}`"
             " — one `gantrans translate --tile` process per size (tiny random ResNet), its own peak RSS (VmHWM).", "",
             "| image | pixels | peak RSS | bytes per pixel over the previous size |", "|---|---|---|---|"]  # fmt: skip
    prev = None
    for side, rss, code in rows:
        slope = "" if prev is None else f"{(rss - prev[1]) / (side * side - prev[0] ** 2):.1f}"
        lines.append(f"| {side}x{side} | {side * side / 1e6:.0f} M | {rss / 2**20:.0f} MiB | {slope} |")
        prev = (side, rss)
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        write_section(HERE / "RESULTS.md", f"tiles: peak memory ({a.label})", body)


if __name__ == "__main__":
    main()
