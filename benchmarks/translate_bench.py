"""Translate throughput: generator alone vs `gantrans translate` end to end vs a naive loop, per precision.

    python benchmarks/translate_bench.py [--arch resnet_9blocks] [--size 256] [--precisions fp32,bf16] [--device cpu]

All ratios come from one run: end to end is steady state, (n_large - n_small) / (t_large - t_small) over two
whole CLI processes, so imports, model load (and compilation) cancel; start-up is one image, process start to
exit. Prints the tables and rewrites this configuration's section of benchmarks/RESULTS.md.
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
from typing import Sequence

import numpy as np
import torch
from PIL import Image

import gantrans
from gantrans import registry
from gantrans.engine.batch import BatchOptions, translate_items
from gantrans.engine.metrics import paired, read_rgb8
from gantrans.io.images import collect_inputs
from gantrans.models import cpuconv

HERE = Path(__file__).resolve().parent


def make_images(folder: Path, n: int, size: int, formats: Sequence[str] = ("jpg", "png")) -> None:
    """n seeded noisy gradients, the formats in turn (half JPEG, half PNG by default); past 256 the files repeat (byte
    copies under new names): decode cost is the same and a GPU run of thousands of images does not wait minutes for
    the host to make them. Outputs keep their input's format (translate's --ext auto)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        ext = formats[i % len(formats)]
        if i >= 256:
            (folder / f"img{i:04d}.{ext}").write_bytes((folder / f"img{i % 256:04d}.{ext}").read_bytes())
            continue
        base = np.stack([xx, yy, (xx + yy) / 2], -1) * 255
        arr = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:04d}.{ext}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def condition(model, n: int) -> torch.Tensor | None:
    """The family's condition for n images (MUNIT: seeded style codes; StarGAN: target labels), else None."""
    return model.family.example_cond(model, n, 0)


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
    with cpuconv.plain(), FlopCounterMode(display=False) as counter:  # the counter knows no oneDNN ops
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


def time_engine(model, items: list, out: Path, batch: int, workers: int, io_processes: int = 0, codec: str = "host") -> float:
    """Seconds for the in-process engine (`translate_items`, what the CLI runs) over `items`."""
    opts = BatchOptions(batch_size=batch, workers=workers, io_processes=io_processes, overwrite=True, codec=codec)
    c = condition(model, 1)
    if c is not None:
        opts.cond_for = lambda item: c[0]
    t0 = time.perf_counter()
    s = translate_items(model, items, out, opts)
    sync(model.device)
    assert s.ok == len(items), s
    return time.perf_counter() - t0


def time_naive(model, folder: Path, out: Path) -> float:
    """The reference test scripts' style: batch 1, fp32, plain PyTorch layers (no cpuconv paths),
    decode -> forward -> encode one image at a time. Steady-state images/s (first image excluded; at most 257
    images: a loop this slow reaches its steady state long before)."""
    files = sorted(folder.iterdir())[:257]
    gen = model.generator("a2b")
    dev = model.device
    c = condition(model, 1)
    c = None if c is None else c.to(dev)

    unit = model.family.output_range == "unit"  # super-resolution: [0, 1] in and out (Real-ESRGAN's script)

    def one(f: Path) -> None:
        img = Image.open(f).convert("RGB")
        a = np.asarray(img, dtype=np.float32)
        x = torch.from_numpy(a / 255.0 if unit else a / 127.5 - 1).permute(2, 0, 1)[None].to(dev)
        with torch.no_grad():
            y = model.family.forward(gen, x, "a2b", c)
        y = y[0].permute(1, 2, 0).cpu().numpy()
        arr = ((np.clip(y, 0, 1) * 255.0).round() if unit else (y + 1) * 127.5).astype(np.uint8)
        Image.fromarray(arr).save(out / f"{f.stem}.png")

    with cpuconv.plain():
        one(files[0])
        t0 = time.perf_counter()
        for f in files[1:]:
            one(f)
    return (len(files) - 1) / (time.perf_counter() - t0)


def command_of(model) -> str:
    """The CLI command that runs this model on files: translate, or upscale for super-resolution families."""
    return "upscale" if "upscale" in model.family.commands else "translate"


def time_cli(model_path: Path, folder: Path, out: Path, batch: int, device: str, precision: str, extra: list[str], command: str = "translate") -> float:
    """Seconds for a whole `gantrans translate` (or `upscale`) process (start to exit)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gantrans", command, str(folder), "-m", str(model_path), "-o", str(out),
         "-b", str(batch), "--device", device, "--precision", precision, "--overwrite", "-q", *extra],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def mean_abs_diff(a: Path, b: Path) -> float:
    """Mean absolute difference (uint8 levels) between same-named outputs of two folders (PNG where there are any:
    JPEG outputs add their encoder's error)."""
    files = sorted(f for f in a.iterdir() if f.suffix == ".png") or sorted(a.iterdir())
    return float(np.mean([paired(read_rgb8(f), read_rgb8(b / f.name))["l1"] for f in files]))


def bundled_mad(precisions: list[str]) -> dict[str, float]:
    """bf16/fp16 vs fp32 on a trained model (random weights give near-constant outputs): the bundled
    noto2emojione CycleGAN on the example emoji, mean absolute difference in uint8 levels per precision."""
    imgs = [Image.open(p).convert("RGB") for p in sorted((HERE.parent / "examples" / "emoji").glob("*.png"))]
    if not imgs or not precisions:
        return {}
    ref = [np.asarray(o) for o in gantrans.load("noto2emojione", device="cpu", precision="fp32").translate(imgs)]
    out = {}
    for p in precisions:
        outs = gantrans.load("noto2emojione", device="cpu", precision=p).translate(imgs)
        out[p] = float(np.mean([paired(a, np.asarray(o))["l1"] for a, o in zip(ref, outs)]))
    return out


def measure(args, precision: str, model_path: Path, small: Path, large: Path, tmp: Path) -> dict:
    """One precision: generator alone per batch, end to end at the best batch (steady state), conv rate."""
    model = gantrans.load(str(model_path), device=args.device, precision=precision)
    model = model.channels_last() if args.channels_last else model
    model = model.compile() if args.compile else model
    gen = {}
    for b in [int(x) for x in args.batches.split(",")]:
        gen[b] = time_generator(model, args.size, b, max(2, args.images // 2 // b))
    best = max(gen, key=gen.get)
    r = {"gen": gen, "best": best, "rate": conv_rate(model.device, model.dtype), "dtype": model.dtype, "describe": model.describe()}
    out_s, out_l = tmp / f"out-{precision}-small", tmp / f"out-{precision}-large"
    n_s, n_l = len(list(small.iterdir())), len(list(large.iterdir()))
    if command_of(model) not in model.family.commands or args.compile:
        # StarGAN: `gantrans edit` needs attribute names; compiled: compile time varies by seconds between
        # processes, more than the difference measures. The engine in process, warmed up.
        items_s, items_l = collect_inputs([str(small)]), collect_inputs([str(large)])
        time_engine(model, items_s[:best], out_s, best, args.workers, args.io_processes, args.codec)
        t_s, t_l = (time_engine(model, it, o, best, args.workers, args.io_processes, args.codec) for it, o in ((items_s, out_s), (items_l, out_l)))
        r["e2e_how"] = "engine in process (translate_items), large minus small run"
        floor = 0.1  # no process start-up in the difference
    else:
        extra = [*(["--compile"] if args.compile else []), *(["--channels-last"] if args.channels_last else []), "--workers", str(args.workers),
                 "--io-processes", str(args.io_processes), "--codec", args.codec]  # fmt: skip
        t_s, t_l = (time_cli(model_path, f, o, best, args.device, precision, extra, command_of(model)) for f, o in ((small, out_s), (large, out_l)))
        r["e2e_how"] = f"`gantrans {command_of(model)}` processes of {n_l} and {n_s} images, (n_large - n_small) / (t_large - t_small)"
        r["cli_large_s"] = t_l
        floor = 1.0  # a process's start-up jitters by about a second
    if t_l - t_s < max(floor, 0.25 * t_s):  # jitter would dominate the difference (tiny runs gave negative rates)
        raise SystemExit(f"{precision}: {n_l} images took {t_l:.1f} s, {n_s} took {t_s:.1f} s: too close for a "
                         "steady-state difference; raise --images (or lower --small)")
    r["e2e"] = (n_l - n_s) / (t_l - t_s)
    r["out_small"] = out_s
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet_9blocks")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--images", type=int, default=32, help="images in the large end-to-end run")
    ap.add_argument("--small", type=int, default=4, help="images in the small end-to-end run (subtracted)")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precisions", default="fp32,bf16", help="the first is the reference for the bf16/fp16 ratios")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--io-processes", type=int, default=0, help="decode/encode in N processes (gantrans translate --io-processes)")
    ap.add_argument("--codec", default="host", choices=("host", "device"), help="gantrans translate --codec: device decodes JPEG inputs and encodes JPEG outputs on the model's device")
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator (gantrans translate --compile)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC weights (gantrans translate --channels-last)")
    ap.add_argument("--formats", default="jpg,png", help="input (and so output) formats in turn: jpg,png | jpg | png | webp")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    precisions = args.precisions.split(",")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small, large, one, out = tmp / "small", tmp / "large", tmp / "one", tmp / "out"
        for d in (small, large, one, out):
            d.mkdir()
        make_images(large, args.images, args.size, args.formats.split(","))
        for f in sorted(large.iterdir())[: args.small]:
            (small / f.name).write_bytes(f.read_bytes())
        first = min(large.iterdir())
        (one / f"img{first.suffix}").write_bytes(first.read_bytes())
        model = gantrans.build(args.arch, device=args.device, precision="fp32")
        model_path = model.save(tmp / "model.safetensors")
        naive = time_naive(model, large, out)
        flops = generator_flops(model, args.size)
        startup = None
        if "translate" in model.family.commands:
            startup = time_cli(model_path, one, out, 1, args.device, precisions[0], [], "upscale" if "upscale" in registry.family_of(args.arch).commands else "translate")
        res = {p: measure(args, p, model_path, small, large, tmp) for p in precisions}
        mad = {p: mean_abs_diff(res[precisions[0]]["out_small"], res[p]["out_small"]) for p in precisions[1:]}
        mad_trained = bundled_mad(precisions[1:]) if args.device == "cpu" else {}
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if args.device != "cpu" else None

    cmd = f"python benchmarks/translate_bench.py --arch {args.arch} --size {args.size} --images {args.images} --small {args.small} --batches {args.batches} --precisions {args.precisions} --device {args.device}" + (" --compile" if args.compile else "") + (" --channels-last" if args.channels_last else "")
    cmd += f" --workers {args.workers}" + (f" --io-processes {args.io_processes}" if args.io_processes else "") + (f" --codec {args.codec}" if args.codec != "host" else "") + (f" --formats {args.formats}" if args.formats != "jpg,png" else "")
    ref = res[precisions[0]]
    lines = [f"`{cmd}`: {ref['describe']}, workers {args.workers}" + (f", io-processes {args.io_processes}" if args.io_processes else "") + (", generator compiled (torch.compile; compilation is in the CLI runs' start-up, cancelled by the difference)" if args.compile else ""), ""]
    lines += ["| precision | batch | generator alone (img/s) | fraction of the conv rate |", "|---|---|---|---|"]
    for p, r in res.items():
        for b, g in r["gen"].items():
            lines.append(f"| {p} | {b} | {g:.2f} | {flops * g / r['rate']:.0%} of {r['rate'] / 1e9:.0f} GFLOP/s |")
    lines += ["", "| precision | end to end, steady state (img/s) | at batch | end to end / generator alone (best batch) | / naive fp32 loop |", "|---|---|---|---|---|"]
    for p, r in res.items():
        g = r["gen"][r["best"]]
        lines.append(f"| {p} | {r['e2e']:.2f} | {r['best']} | {r['e2e'] / g:.1%} | " + (f"{r['e2e'] / naive:.2f}x |" if naive else "— |"))
    lines.append("")
    if naive:
        lines.append(f"- naive loop (batch 1, fp32, plain PyTorch layers, decode → forward → encode, first image excluded): {naive:.2f} img/s")
    lines.append(f"- end to end measured as: {ref['e2e_how']}")
    if startup is not None:
        lines.append(f"- start-up: `gantrans translate` of one image, process start to exit ({precisions[0]}): {startup:.2f} s")
    lines.append(f"- generator: {flops / 1e9:.1f} GFLOP per image at {args.size}x{args.size} (torch flop counter, plain layers); conv rate = best large 3x3 convolution in this process, per precision")
    for p in precisions[1:]:
        speed = res[p]["gen"][res[p]["best"]] / ref["gen"][ref["best"]]
        lines.append(f"- {p} vs {precisions[0]}: generator alone {speed:.2f}x; mean absolute difference of the outputs {mad[p]:.3f} levels (uint8, {args.small} images, this run's seeded random weights)")
        if mad_trained.get(p) is not None:
            lines.append(f"- {p} vs {precisions[0]} on a trained model (bundled noto2emojione, examples/emoji): mean absolute difference {mad_trained[p]:.3f} levels")
    lines.append(f"- peak RSS of the benchmark process: {peak_rss:.0f} MiB" + (f"; CUDA max allocated: {cuda_peak:.0f} MiB" if cuda_peak else ""))
    lines.append("")
    text = "\n".join(lines)
    print(text)

    machine = (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or platform.platform()}), "
        f"Python {platform.python_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}"
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    kind = "upscale" if "upscale" in registry.family_of(args.arch).commands else "translate"
    title = f"{kind}: {args.arch} {args.size}x{args.size}, {args.device}, {'/'.join(precisions)}" + (", channels_last" if args.channels_last else "") + (", compiled" if args.compile else "") + (f", {args.io_processes} io-processes" if args.io_processes else "") + (f", codec {args.codec}" if args.codec != "host" else "") + (f", {args.formats} only" if args.formats != "jpg,png" else "")
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
