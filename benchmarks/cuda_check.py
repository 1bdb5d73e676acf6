"""CUDA correctness and layout check (needs a GPU): CPU fp32 vs CUDA fp32/bf16/fp16 outputs in
uint8 levels, and the generator's throughput with and without channels_last.

    python benchmarks/cuda_check.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image
from translate_bench import condition as cond  # noqa: E402 - benchmarks/ is on sys.path when run as a script

import gantrans


def images(n: int, size: tuple[int, int]) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def compare(arch: str) -> list[str]:
    cpu = gantrans.build(arch, device="cpu", precision="fp32", seed=1)
    imgs = images(4, (250, 190))
    ref = [np.asarray(o, dtype=np.int16) for o in cpu.translate(imgs, batch_size=4, cond=cond(cpu, 4))]
    rows = []
    for prec in ("fp32", "bf16", "fp16"):
        cuda = gantrans.build(arch, device="cuda", precision=prec, seed=1)
        out = [np.asarray(o, dtype=np.int16) for o in cuda.translate(imgs, batch_size=4, cond=cond(cuda, 4))]
        d = np.concatenate([np.abs(a - b).ravel() for a, b in zip(ref, out)])
        rows.append(f"| {arch} | {prec} | {d.max()} | {d.mean():.3f} | {(d > 2).mean():.2%} |")
    return rows


def throughput(arch: str, batch: int, channels_last: bool, precision: str, size: int = 256) -> float:
    m = gantrans.build(arch, device="cuda", precision=precision)
    if channels_last:
        for net in m.checkpoint.networks.values():
            net.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, size, size, device="cuda")
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    c = cond(m, batch)
    for _ in range(3):
        m.run(x, cond=c)
    torch.cuda.synchronize()
    t0, reps = time.perf_counter(), 20
    for _ in range(reps):
        m.run(x, cond=c)
    torch.cuda.synchronize()
    return batch * reps / (time.perf_counter() - t0)


def main() -> None:
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| arch | CUDA precision | max abs diff vs CPU fp32 (levels) | mean | share of pixels > 2 levels |")
    print("|---|---|---|---|---|")
    for arch in ("resnet_9blocks", "unet_256", "munit", "unit", "stargan"):
        for row in compare(arch):
            print(row)
    print("\n| arch | precision | batch | img/s NCHW | img/s channels_last |")
    print("|---|---|---|---|---|")
    for arch in ("resnet_9blocks", "unet_256"):
        for prec in ("fp32", "bf16", "fp16"):
            for b in (1, 16):
                print(f"| {arch} | {prec} | {b} | {throughput(arch, b, False, prec):.1f} | {throughput(arch, b, True, prec):.1f} |")
    print("\n| arch | size | precision | batch | img/s NCHW | img/s channels_last |")
    print("|---|---|---|---|---|---|")
    for arch, size in (("munit", 256), ("unit", 256), ("stargan", 128)):
        for prec in ("fp32", "fp16"):
            for b in (1, 16):
                print(f"| {arch} | {size} | {prec} | {b} | {throughput(arch, b, False, prec, size):.1f} | {throughput(arch, b, True, prec, size):.1f} |")


if __name__ == "__main__":
    main()
