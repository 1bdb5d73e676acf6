"""Translate throughput: generator alone vs `gantrans translate` end to end vs a naive loop.

    python benchmarks/translate_bench.py [--arch resnet_9blocks] [--size 256] [--images 8] [--device cpu]

Prints a table and rewrites benchmarks/RESULTS.md (the section for this device). Start-up (imports,
model load) is excluded from steady-state figures; the whole-CLI run is reported separately.
"""

from __future__ import annotations

import argparse
import io
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

import gantrans
from gantrans.engine.batch import BatchOptions, collect_inputs, translate_items
from gantrans.engine.translator import forward_family

HERE = Path(__file__).resolve().parent


def make_images(folder: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = np.stack([xx, yy, (xx + yy) / 2], -1) * 255
        arr = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:03d}.{'png' if i % 2 else 'jpg'}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def condition(model, n: int) -> torch.Tensor | None:
    """MUNIT: one seeded style code per image; StarGAN: one target label per image; else None."""
    if model.family == "munit":
        return model.random_styles(range(n))
    if model.family == "stargan":
        return torch.eye(model.checkpoint.config.c_dim)[torch.arange(n) % model.checkpoint.config.c_dim]
    return None


def time_generator(model, size: int, batch: int, reps: int) -> float:
    """images/s of the generator alone on a device-resident batch (includes normalisation/crop)."""
    x = torch.rand(batch, 3, size, size, device=model.device)
    c = condition(model, batch)
    model.run(x, cond=c)  # warm-up
    sync(model.device)
    t0 = time.perf_counter()
    for _ in range(reps):
        model.run(x, cond=c)
    sync(model.device)
    return batch * reps / (time.perf_counter() - t0)


def generator_flops(model, size: int) -> int:
    """FLOPs of one generator forward at size x size (torch's flop counter: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, model.in_channels, size, size, device=model.device)
    with FlopCounterMode(display=False) as counter:
        model.run(x, cond=condition(model, 1))
    return int(counter.get_total_flops())


def conv_rate(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of large 3x3 convolutions in this process (best of a few shapes): the practical limit."""
    best = 0.0
    for n, c, hw in ((1, 256, 64), (4, 256, 64), (1, 128, 128), (8, 64, 128)):
        x = torch.randn(n, c, hw, hw, device=device, dtype=dtype)
        w = torch.randn(c, c, 3, 3, device=device, dtype=dtype)
        flops = 2 * n * c * hw * hw * c * 9
        with torch.inference_mode():
            for _ in range(2):  # warm-up (kernel choice, allocator)
                torch.nn.functional.conv2d(x, w, padding=1)
            sync(device)
            t0, reps = time.perf_counter(), 8 if device.type == "cpu" else 50
            for _ in range(reps):
                torch.nn.functional.conv2d(x, w, padding=1)
            sync(device)
        best = max(best, flops * reps / (time.perf_counter() - t0))
    return best


def time_engine(model, folder: Path, out: Path, batch: int, workers: int) -> float:
    items = collect_inputs([str(folder)])
    opts = BatchOptions(batch_size=batch, workers=workers, overwrite=True)
    c = condition(model, 1)
    if c is not None:
        opts.cond_for = lambda item: c[0]
    translate_items(model, items[: max(batch, 2)], out, opts)  # warm-up (allocator, kernels)
    sync(model.device)
    t0 = time.perf_counter()
    s = translate_items(model, items, out, opts)
    sync(model.device)
    assert s.ok == len(items), s
    return len(items) / (time.perf_counter() - t0)


def time_naive(model, folder: Path, out: Path) -> float:
    """The reference test scripts' style: batch 1, fp32, decode -> forward -> encode, one at a time."""
    files = sorted(folder.iterdir())
    gen = model.generator("a2b")
    dev = model.device
    c = condition(model, 1)
    c = None if c is None else c.to(dev)

    def one(f: Path) -> None:
        img = Image.open(f).convert("RGB")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None].to(dev)
        with torch.no_grad():
            y = forward_family(model.family, gen, x, "a2b", c)
        arr = ((y[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).astype(np.uint8)
        Image.fromarray(arr).save(out / f"{f.stem}.png")

    one(files[0])
    t0 = time.perf_counter()
    for f in files:
        one(f)
    return len(files) / (time.perf_counter() - t0)


def time_cli(model_path: Path, folder: Path, out: Path, batch: int, device: str, extra: list[str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gantrans", "translate", str(folder), "-m", str(model_path), "-o", str(out),
         "-b", str(batch), "--device", device, "--overwrite", "-q", *(extra or [])],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet_9blocks")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator (gantrans translate --compile)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC weights (gantrans translate --channels-last)")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    model = gantrans.build(args.arch, device=args.device, precision=args.precision)
    eager = model  # the naive loop stays eager, as the reference scripts
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, out = tmp / "in", tmp / "out"
        folder.mkdir()
        out.mkdir()
        make_images(folder, args.images, args.size)
        model_path = model.save(tmp / "model.safetensors")
        naive = time_naive(eager, folder, out) if args.precision == "fp32" else None
        if args.compile or args.channels_last:
            model = gantrans.load(str(model_path), device=args.device, precision=args.precision)
            model = model.channels_last() if args.channels_last else model
            model = model.compile() if args.compile else model
        for b in [int(x) for x in args.batches.split(",")]:
            gen = time_generator(model, args.size, b, max(1, args.images // b))
            eng = time_engine(model, folder, out, b, args.workers)
            rows.append((b, gen, eng))
        best = max(rows, key=lambda r: r[1])
        cli_s = None if model.family == "stargan" else time_cli(model_path, folder, out, best[0], args.device, [*(["--compile"] if args.compile else []), *(["--channels-last"] if args.channels_last else [])])  # StarGAN: `edit`
        flops = generator_flops(model, args.size)
        rate = conv_rate(model.device, model.dtype)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if model.device.type == "cuda" else None

    title = f"translate: {args.arch} {args.size}x{args.size}, {model.device.type}, {args.precision}" + (", channels_last" if args.channels_last else "") + (", compiled" if args.compile else "")
    lines = [f"`python benchmarks/translate_bench.py --arch {args.arch} --images {args.images} --batches {args.batches} --precision {args.precision}"
             + (" --compile" if args.compile else "") + (" --channels-last" if args.channels_last else "") + f"`: {args.images} images, {model.describe()}, workers {args.workers}"
             + (", generator compiled (torch.compile; compilation excluded by the warm-up, the whole-CLI time includes it)" if args.compile else ""), "", "| batch | generator alone (img/s) | `translate` end to end (img/s) | end-to-end / generator |", "|---|---|---|---|"]
    for b, gen, eng in rows:
        lines.append(f"| {b} | {gen:.2f} | {eng:.2f} | {eng / gen:.1%} |")
    lines.append("")
    if naive is not None:
        lines.append(f"- naive loop (batch 1, fp32, decode → forward → encode): {naive:.2f} img/s")
    if cli_s is not None:
        lines.append(f"- whole CLI process (imports, model load, {args.images} images, batch {best[0]}): {cli_s:.1f} s")
    achieved = flops * best[1]
    lines.append(
        f"- generator: {flops / 1e9:.1f} GFLOP per image (torch flop counter); at the best batch {achieved / 1e9:.1f} GFLOP/s "
        f"= {achieved / rate:.0%} of the best large 3x3 convolution rate measured in this process ({rate / 1e9:.1f} GFLOP/s, {args.precision})"
    )
    lines.append(f"- peak RSS of the benchmark process: {peak_rss:.0f} MiB" + (f"; CUDA max allocated: {cuda_peak:.0f} MiB" if cuda_peak else ""))
    lines.append("")
    text = "\n".join(lines)
    print(text)

    machine = (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or platform.platform()}), "
        f"Python {platform.python_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}"
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    write_section(Path(args.results), title, f"{machine}\n\n{text}")


def write_section(path: Path, title: str, body: str) -> None:
    """Replace the section `## title` of RESULTS.md (or append it), keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by the scripts in benchmarks/.\n"
    head, *sections = text.split("\n## ")
    sections = [s for s in sections if s.split("\n", 1)[0].strip() != title]
    sections.append(f"{title}\n\n{body.strip()}\n")
    path.write_text(head.rstrip() + "\n" + "".join(f"\n## {s.rstrip()}\n" for s in sections))


if __name__ == "__main__":
    main()
