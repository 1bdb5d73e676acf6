"""Training speed per architecture: `gantrans train` end to end vs its step alone vs a naive loop.

    python benchmarks/train_bench.py [--archs cyclegan,pix2pix,munit,unit,stargan,wct-decoder]
                                     [--size 128] [--cyclegan-size 256] [--steps 8] [--device cpu]
                                     [--precision fp32] [--compile] [--compile-mode default] [--ngf 64]

- end to end: `gantrans.train.trainer.train` on a folder of PNG files (worker processes decode while
  the step runs); it/s is the rate logged over the second half of the run, so start-up, the first
  steps and the final save are excluded.
- step alone: the same recipe step on a batch already in memory (the ceiling for the loop).
- naive (CycleGAN): the reference script's style -- batch 1, fp32, decode both images in the loop, then
  the official optimize_parameters order -- written out here with plain modules.

With --compile, the step-alone rate is taken after two warm-up steps (compilation), and end to end over the
second half of the run as always. Prints a table and rewrites the section "train: speed per architecture,
<device>[, precision][, compiled]" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.translate_bench import write_section  # noqa: E402
from gantrans import registry  # noqa: E402
from gantrans.engine.device import resolve_device  # noqa: E402
from gantrans.models.layers import init_weights  # noqa: E402
from gantrans.models.registry import build_network, make_config  # noqa: E402
from gantrans.train.config import resolve_config  # noqa: E402
from gantrans.train.trainer import Trainer, train  # noqa: E402


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([xx, yy, (xx + yy) / 2], -1) * 255
    return np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)


def make_dataset(root: Path, arch: str, size: int, n: int = 16) -> str:
    """The layout each recipe reads, filled with n seeded images per folder."""
    rng = np.random.default_rng(0)
    folders = {
        "pix2pix": ["A", "B"], "stargan": ["train/red", "train/blue", "train/green"], "wct-decoder": ["photos"],
    }.get(arch, ["trainA", "trainB"])  # fmt: skip
    for sub in folders:
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(texture(rng, size)).save(root / sub / f"{i:03d}.png")
    return str(root / "photos") if arch == "wct-decoder" else str(root)


def config(arch: str, data: str, out: Path, size: int, batch: int, steps: int, device: str, run: dict | None = None):
    """`run`: precision, compile, compile_mode, ngf, ndf, workers (what the table's section names)."""
    overrides = {
        "dataset": data, "output": str(out), "steps": steps, "batch_size": batch, "crop_size": size, "load_size": size,
        "workers": 2, "log_every": steps // 2, "save_every": steps, "sample_every": 10**9, "device": device, "precision": "fp32",
        **(run or {}),
    }  # fmt: skip
    if arch == "wct-decoder":
        overrides["encoder"] = "random"
    if arch == "pix2pix":
        overrides["netG"] = "unet_256" if size >= 256 else "unet_128"  # a U-Net's depth fixes its input size
    return resolve_config(arch, None, overrides)


def end_to_end(cfg) -> float:
    rows = []
    train(cfg, on_log=rows.append)
    return float(rows[-1]["it_s"])  # the second half of the run


def step_alone(cfg, steps: int) -> float:
    from gantrans.engine.device import resolve_precision

    dev = resolve_device(cfg.device)
    recipe = registry.recipe_class(cfg.model)(cfg)
    recipe.open_data(lambda _m: None)
    tr = Trainer(recipe, dev, resolve_precision(cfg.precision, dev), 1, lambda _m: None)
    ds = recipe.stream()
    batch = torch.utils.data.default_collate([ds[i] for i in range(cfg.batch_size)])
    for i in range(3 if cfg.compile else 1):  # warm-up (and compilation)
        tr.step(batch, cfg.lr, i)
    sync(dev)
    t0 = time.perf_counter()
    for i in range(steps):
        tr.step(batch, cfg.lr, i + 3)
    sync(dev)
    return steps / (time.perf_counter() - t0)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def naive_cyclegan(data: Path, size: int, steps: int, device: str) -> float:
    """The reference loop: batch 1, fp32, synchronous decode, G then D updates, LSGAN, cycle 10, identity 0.5."""
    dev = resolve_device(device)
    torch.manual_seed(0)
    gcfg = make_config("resnet_9blocks", {"ngf": 64})
    dcfg = make_config("patchgan", {"ndf": 64})
    G_A, G_B = (init_weights(build_network("resnet_9blocks", gcfg)).to(dev) for _ in range(2))
    D_A, D_B = (init_weights(build_network("patchgan", dcfg)).to(dev) for _ in range(2))
    opt_G = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    files_a, files_b = sorted((data / "trainA").iterdir()), sorted((data / "trainB").iterdir())

    def load(p: Path) -> torch.Tensor:
        arr = np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
        return (torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1).to(dev)

    def mse(x: torch.Tensor, real: bool) -> torch.Tensor:
        return F.mse_loss(x, torch.full_like(x, 1.0 if real else 0.0))

    def one(i: int) -> None:
        A, B = load(files_a[i % len(files_a)]), load(files_b[i % len(files_b)])
        fake_B, fake_A = G_A(A), G_B(B)
        rec_A, rec_B = G_B(fake_B), G_A(fake_A)
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad_(False)
        opt_G.zero_grad()
        loss = (mse(D_A(fake_B), True) + mse(D_B(fake_A), True) + 10 * F.l1_loss(rec_A, A) + 10 * F.l1_loss(rec_B, B)
                + 5 * F.l1_loss(G_A(B), B) + 5 * F.l1_loss(G_B(A), A))  # fmt: skip
        loss.backward()
        opt_G.step()
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad_(True)
        opt_D.zero_grad()
        loss_d = 0.5 * (mse(D_A(B), True) + mse(D_A(fake_B.detach()), False)) + 0.5 * (mse(D_B(A), True) + mse(D_B(fake_A.detach()), False))
        loss_d.backward()
        opt_D.step()

    one(0)  # warm-up
    t0 = time.perf_counter()
    for i in range(steps):
        one(i + 1)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", default="cyclegan,pix2pix,munit,unit,stargan,wct-decoder")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--cyclegan-size", type=int, default=256)
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", help="fp32 | bf16 | fp16 (mixed precision, as gantrans train)")
    ap.add_argument("--compile", action="store_true", help="gantrans train --compile")
    ap.add_argument("--compile-mode", default="default", help="default | reduce-overhead (CUDA graphs) | max-autotune")
    ap.add_argument("--ngf", type=int, default=64, help="generator (and discriminator) width; MUNIT/UNIT dim")
    ap.add_argument("--workers", type=int, default=2, help="data-loading processes (end to end)")
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()
    run = {"precision": args.precision, "compile": args.compile, "compile_mode": args.compile_mode, "ngf": args.ngf, "ndf": args.ngf,
           "workers": args.workers}  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            size = args.cyclegan_size if arch == "cyclegan" else args.size
            root = Path(tmp) / arch
            data = make_dataset(root, arch, size)
            # StarGAN updates G on one step in n_critic (5): measure whole cycles on both sides
            steps = 10 if arch == "stargan" else args.steps
            for b in [int(v) for v in args.batches.split(",")]:
                e2e = end_to_end(config(arch, data, root / f"run{b}", size, b, steps, args.device, run))
                alone = step_alone(config(arch, data, root / f"alone{b}", size, b, steps, args.device, run), max(2, steps // 2))
                naive = naive_cyclegan(root, size, max(2, args.steps // 2), args.device) if arch == "cyclegan" and b == 1 else None
                rows.append((arch, size, b, e2e, alone, naive))
                print(f"{arch:12s} {size:4d} b{b}: end-to-end {e2e:.3f} it/s, step alone {alone:.3f} it/s"
                      + (f", naive {naive:.3f} it/s" if naive else ""), flush=True)
    dev = resolve_device(args.device)
    where = torch.cuda.get_device_name() if dev.type == "cuda" else f"{platform.machine()}, {torch.get_num_threads()} threads"
    flags = f" --precision {args.precision}" + (f" --compile --compile-mode {args.compile_mode}" if args.compile else "") + f" --ngf {args.ngf} --workers {args.workers}"
    lines = [
        f"`python benchmarks/train_bench.py --archs {args.archs} --size {args.size} --cyclegan-size {args.cyclegan_size} "
        f"--batches {args.batches} --steps {args.steps} --device {args.device}{flags}` ({where}, torch {torch.__version__}; "
        "widths: ngf = ndf = MUNIT/UNIT dim = StarGAN conv_dim; PhotoWCT base 64). Images/s = it/s × batch.",
        "",
        "| model | size | batch | end to end (it/s) | step alone (it/s) | end to end / step | images/s end to end | naive loop (it/s) |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {a} | {s} | {b} | {e:.3f} | {al:.3f} | {e / al:.0%} | {e * b:.2f} | {f'{n:.3f}' if n else '—'} |" for a, s, b, e, al, n in rows],
    ]
    title = f"train: speed per architecture, {dev.type}" + (f", {args.precision}" if args.precision != "fp32" else "")
    title += (f", compiled ({args.compile_mode})" if args.compile else "") + (f", ngf {args.ngf}" if args.ngf != 64 else "")
    write_section(Path(args.results), title, "\n".join(lines))


if __name__ == "__main__":
    main()
