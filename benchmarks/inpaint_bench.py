"""Inpainting throughput and memory: generator alone vs `gantrans inpaint`'s engine end to end vs a naive loop,
per precision, on 512x512 photos with a ~20% free-form hole; then peak RSS of whole `gantrans inpaint` processes
on a 4096x4096 photo with a small hole (crop strategy) and a large one (crop, resized to --resize-limit).

    python benchmarks/inpaint_bench.py [--images 12] [--small 3] [--precisions fp32,bf16] [--cnum 48]
    python benchmarks/inpaint_bench.py --device cuda --batches 1,8,32 --images 1024 --small 64 --workers 8 \
        --io-processes 8 --codec device --formats jpg --no-memory    # issue 21: the GPU's end to end

Random weights at DeepFill v2's configuration (cnum 48, 4.05 M parameters): speed and memory, not quality.
Writes the section "inpaint: gated_inpaint 512x512, <device>" of RESULTS.md (with the batch, pipeline and format
options in its title when they differ from the defaults). The generator alone is timed per batch; end to end runs at
the fastest batch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import gantrans  # noqa: E402
from benchmarks.tile_memory_bench import CHILD, image  # noqa: E402
from benchmarks.translate_bench import conv_rate, make_images, sync, write_section  # noqa: E402
from gantrans.engine.batch import BatchOptions  # noqa: E402
from gantrans.engine.inpaint import InpaintOptions, InpaintTask  # noqa: E402
from gantrans.engine.pipeline import run_pipeline  # noqa: E402
from gantrans.io.images import collect_inputs  # noqa: E402
from gantrans.models import cpuconv  # noqa: E402
from gantrans.train.masks import random_mask  # noqa: E402


def time_generator(t, x: torch.Tensor, m: torch.Tensor, reps: int) -> float:
    """images/s of the generator alone on a device-resident batch x (N, 3, H, W) with its mask m (N, 1, H, W)."""
    x, m = x.to(t.device), m.to(t.device)
    t.run(x, "a2b", m)
    sync(t.device)
    t0 = time.perf_counter()
    for _ in range(reps):
        t.run(x, "a2b", m)
    sync(t.device)
    return reps * x.shape[0] / (time.perf_counter() - t0)


def generator_flops(t, mask: np.ndarray) -> int:
    """FLOPs of one generator forward on one image with this mask (torch's flop counter: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, *mask.shape, device=t.device)
    m = torch.from_numpy(mask.astype(np.float32))[None, None].to(t.device)
    with cpuconv.plain(), FlopCounterMode(display=False) as counter:  # the counter knows no oneDNN ops
        t.run(x, "a2b", m)
    return int(counter.get_total_flops())


def time_engine(t, folder: Path, mask: Path, out: Path, opts: BatchOptions) -> float:
    """Seconds for InpaintTask on the batch pipeline (what `gantrans inpaint` runs) over every image of folder."""
    items = list(collect_inputs([str(folder)]))
    task = InpaintTask(t, opts, InpaintOptions(mask=mask))
    t0 = time.perf_counter()
    s = run_pipeline(task, items, out, opts.output())
    sync(t.device)
    assert s.ok == len(items), s
    return time.perf_counter() - t0


def time_naive(t, folder: Path, mask: np.ndarray, out: Path) -> float:
    """One image at a time, fp32, plain layers: decode -> [-1, 1] -> forward -> composite -> encode (at most 257
    images, the first excluded)."""
    gen = t.generator("a2b")
    m = torch.from_numpy(mask.astype(np.float32))[None, None].to(t.device)
    files = sorted(folder.iterdir())[:257]

    def one(f: Path) -> None:
        a = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(a / 127.5 - 1).permute(2, 0, 1)[None].to(t.device)
        with torch.no_grad():
            y = gen(x, m)[0].permute(1, 2, 0).cpu().numpy()
        y = np.clip((y + 1) * 127.5, 0, 255).round().astype(np.uint8)
        Image.fromarray(np.where(mask[..., None], y, a.astype(np.uint8))).save(out / f"{f.stem}.png")

    with cpuconv.plain():
        one(files[0])
        t0 = time.perf_counter()
        for f in files[1:]:
            one(f)
    return (len(files) - 1) / (time.perf_counter() - t0)


def memory_runs(model: Path, tmp: Path) -> list[tuple[str, float, int, str]]:
    side = 4096
    src = tmp / "big.png"
    image(src, side)
    rows = []
    for name, box in (("small hole (96x96)", (2000, 2096, 1000, 1096)), ("large hole (1600x1200)", (1200, 2400, 1000, 2600)), ("large hole, --resize-limit 768", (1200, 2400, 1000, 2600))):
        m = np.zeros((side, side), np.uint8)
        m[box[0] : box[1], box[2] : box[3]] = 255
        mp = tmp / "mask.png"
        Image.fromarray(m).save(mp)
        args = ["inpaint", str(src), "--mask", str(mp), "-m", str(model), "-o", str(tmp / "bigout"), "--device", "cpu", "--overwrite",
                "--max-pixels", str(side * side), *(["--resize-limit", "768"] if "768" in name else [])]  # fmt: skip
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", CHILD, *args], cwd="/", capture_output=True, text=True)
        dt = time.perf_counter() - t0
        line = [x for x in r.stdout.splitlines() if x.startswith("RSS_KB")]
        if not line or line[0].split()[2] != "0":
            raise SystemExit(f"{name}: {r.stderr[-1500:]}")
        note = next((x.strip() for x in r.stderr.splitlines() if "inpainted" in x and ("box" in x or "px" in x)), "")
        note = note.split(": ", 2)[-1] if note.startswith("note:") else note  # "note: PATH: text" -> text
        rows.append((name, dt, int(line[0].split()[1]) * 1024, note))
        print(f"{name}: {dt:.1f} s, peak RSS {rows[-1][2] / 2**20:.0f} MiB  {note}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--small", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cnum", type=int, default=48)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="1", help="generator-alone batch sizes; end to end runs at the fastest")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--io-processes", type=int, default=0, help="gantrans inpaint --io-processes")
    ap.add_argument("--codec", default="host", choices=("host", "device"), help="gantrans inpaint --codec")
    ap.add_argument("--formats", default="jpg,png", help="input (and so output) formats in turn")
    ap.add_argument("--no-memory", action="store_true", help="skip the 4096x4096 peak-RSS runs (CPU processes)")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        t_ = Path(tmp)
        large, small, out = t_ / "large", t_ / "small", t_ / "out"
        for d in (large, small, out):
            d.mkdir()
        make_images(large, a.images, a.size, a.formats.split(","))
        for f in sorted(large.iterdir())[: a.small]:
            (small / f.name).write_bytes(f.read_bytes())
        mask = random_mask(a.size, a.size, torch.Generator().manual_seed(0), "both", 0.3)
        mask_path = t_ / "mask.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
        model = gantrans.build("gated_inpaint", cnum=a.cnum, domains=("image", "completed"), device=a.device)
        model_path = model.save(t_ / "m.safetensors")
        naive = time_naive(model, large, mask, out)
        flops = generator_flops(model, mask)
        rows = []
        for p in a.precisions.split(","):
            t = gantrans.load(str(model_path), device=a.device, precision=p)
            mt = torch.from_numpy(mask.astype(np.float32))[None, None]
            gen = {b: time_generator(t, torch.rand(b, 3, a.size, a.size), mt.expand(b, -1, -1, -1), max(2, 24 // b)) for b in batches}
            best = max(gen, key=gen.get)
            opts = BatchOptions(batch_size=best, overwrite=True, workers=a.workers, io_processes=a.io_processes, codec=a.codec)
            time_engine(t, small, mask_path, out, opts)  # warm-up
            ts, tl = time_engine(t, small, mask_path, out, opts), time_engine(t, large, mask_path, out, opts)
            e2e = (a.images - a.small) / (tl - ts)
            rows.append((p, gen, best, e2e, conv_rate(t.device, t.dtype)))  # FLOP/s: the practical peak
            print(f"{p}: generator {gen[best]:.3f} img/s at batch {best}, end to end {e2e:.3f} img/s", flush=True)
        mem = [] if a.no_memory else memory_runs(model_path, t_)
    pipe = (f" --device {a.device}" if a.device != "cpu" else "") + (f" --batches {a.batches}" if a.batches != "1" else "") + \
        (f" --workers {a.workers}" if a.workers != 2 else "") + (f" --io-processes {a.io_processes}" if a.io_processes else "") + \
        (f" --codec {a.codec}" if a.codec != "host" else "") + (f" --formats {a.formats}" if a.formats != "jpg,png" else "")
    lines = [f"`python benchmarks/inpaint_bench.py --images {a.images} --small {a.small} --size {a.size} --cnum {a.cnum} --precisions {a.precisions}{pipe}`"
             f" — {a.size}x{a.size} images, one {mask.mean():.0%} free-form hole (strokes + box), random weights "
             f"(gated_inpaint cnum {a.cnum}), {model.describe()}.", "",
             "| precision | batch | generator alone (img/s) | fraction of the conv rate |", "|---|---|---|---|"]  # fmt: skip
    for p, gen, _, _, rate in rows:
        lines += [f"| {p} | {b} | {g:.3f} | {flops * g / rate:.0%} of {rate / 1e9:.0f} GFLOP/s |" for b, g in gen.items()]
    lines += ["", "| precision | end to end (img/s) | at batch | end to end / generator (that batch) | / naive fp32 loop |", "|---|---|---|---|---|"]
    for p, gen, best, e2e, rate in rows:
        lines.append(f"| {p} | {e2e:.3f} | {best} | {e2e / gen[best]:.0%} | {e2e / naive:.2f}x |")
    lines += ["", f"- naive loop (batch 1, fp32, plain layers, decode → forward → composite → encode, first image excluded): {naive:.3f} img/s",
              "- end to end: the engine in process (InpaintTask on the batch pipeline, what `gantrans inpaint` runs), "
              f"{a.images} minus {a.small} images",
              f"- generator: {flops / 1e9:.1f} GFLOP per image (torch flop counter, plain layers); conv rate = best large 3x3 convolution in this process, per precision"]  # fmt: skip
    if mem:
        lines += ["", "| 4096x4096 photo | wall time (process) | peak RSS | what ran |", "|---|---|---|---|"]
        lines += [f"| {name} | {dt:.1f} s | {rss / 2**20:.0f} MiB | {note} |" for name, dt, rss, note in mem]
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        title = f"inpaint: gated_inpaint {a.size}x{a.size}, {a.device}" + (f", batch {a.batches}" if a.batches != "1" else "") + \
            (f", {a.io_processes} io-processes" if a.io_processes else "") + (f", codec {a.codec}" if a.codec != "host" else "") + \
            (f", {a.formats} only" if a.formats != "jpg,png" else "")
        write_section(Path(a.results), title, body)


if __name__ == "__main__":
    main()
