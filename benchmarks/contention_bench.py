"""Throughput on a busy machine: gantrans beside itself and beside other CPU load.

    python benchmarks/contention_bench.py [--label after] [--src DIR] [--images 24] [--size 256] [--steps 30]

(a) one `gantrans translate` of N images alone, vs two concurrent processes on N/2 each, vs
    `--shard 0/2` + `--shard 1/2`: the pair's combined throughput relative to the single process;
(b) the same translate beside 1 and 2 busy-loop processes, against the fair share (the CPU time a
    process with T compute threads gets beside k single-thread loops on C cores: slowdown (T + k) / T
    when T = C, i.e. 1.5x / 2x on 2 cores), target <= 1.25x the fair share;
(c) the same for `gantrans train` (steady-state steps/s of a small CycleGAN, from its metrics rows).

`--src DIR` runs the gantrans of another checkout (PYTHONPATH=DIR), so a before/after pair is two runs
of this script on the same machine. Each figure is the best of `--repeats` runs (least disturbed).
Translate figures are wall time of whole processes (start-up included: what a shell script sees).
Writes the section "Contention (LABEL)" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.translate_bench import write_section  # noqa: E402

BUSY = "while True: pass"


def make_images(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i:03d}.png")


def env_for(src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def gantrans(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # cwd "/": `python -m` puts the cwd first on sys.path, which would shadow PYTHONPATH's checkout
    return subprocess.Popen([sys.executable, "-m", "gantrans", *args], env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"gantrans failed ({p.returncode}): {err[-2000:]}")


def timed(groups: list[list[str]], env: dict[str, str], busy: int = 0) -> float:
    """Wall seconds until every gantrans process in `groups` has finished (beside `busy` loops)."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        t0 = time.perf_counter()
        wait_all([gantrans(g, env) for g in groups])
        return time.perf_counter() - t0
    finally:
        for p in loops:
            p.kill()
            p.wait()


def best(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="after")
    ap.add_argument("--src", type=Path, default=None, help="checkout whose gantrans to run (default: this one)")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=60, help="training steps per run (metrics every steps/5)")
    ap.add_argument("--train-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="noto2emojione")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    env = env_for(a.src)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        make_images(t / "all", a.images, a.size)
        half = a.images // 2
        for i, p in enumerate(sorted((t / "all").iterdir())):
            make = t / ("h0" if i < half else "h1")
            make.mkdir(exist_ok=True)
            (make / p.name).write_bytes(p.read_bytes())
        common = ["-m", a.model, "--device", "cpu", "--overwrite", "-q"]

        def tr(inputs: str, out: str, *extra: str) -> list[str]:
            return ["translate", str(t / inputs), "-o", str(t / out), *common, *extra]

        alone = best(lambda: timed([tr("all", "o1")], env), a.repeats)
        pair = best(lambda: timed([tr("h0", "o2"), tr("h1", "o3")], env), a.repeats)
        shards = best(lambda: timed([tr("all", "o4", "--shard", "0/2"), tr("all", "o5", "--shard", "1/2")], env), a.repeats)
        rows.append(("translate: 1 process, N images", f"{alone:.1f} s", f"{a.images / alone:.2f} img/s"))
        rows.append(("translate: 2 processes, N/2 each", f"{pair:.1f} s", f"{a.images / pair:.2f} img/s = {alone / pair:.0%} of 1 process (target >= 90%)"))
        rows.append(("translate: --shard 0/2 + 1/2", f"{shards:.1f} s", f"{a.images / shards:.2f} img/s = {alone / shards:.0%} of 1 process (target >= 90%)"))
        for k in (1, 2):
            s = best(lambda: timed([tr("all", "o6")], env, busy=k), a.repeats)
            fair = (cores + k) / cores
            rows.append((f"translate beside {k} busy loop{'s' if k > 1 else ''}", f"{s:.1f} s",
                         f"slowdown {s / alone:.2f}x vs fair {fair:.2f}x: {s / alone / fair:.2f}x fair (target <= 1.25)"))

        # (c) training: steady-state steps/s from the run's own metrics rows (start-up and the first rows excluded)
        make_images(t / "data" / "trainA", 8, a.train_size)
        make_images(t / "data" / "trainB", 8, a.train_size)

        def train(busy: int = 0) -> float:
            out = t / f"run_{busy}"
            args = ["train", str(t / "data"), "--arch", "cyclegan", "-o", str(out), "--steps", str(a.steps), "--size", str(a.train_size),
                    "--netG", "resnet_6blocks", "--ngf", "16", "--ndf", "16", "--workers", "0", "--device", "cpu",
                    "--save-every", "100000", "--sample-every", "100000", "--log-every", str(a.steps // 5), "-q"]  # fmt: skip
            timed([args], env, busy)
            rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            subprocess.run(["rm", "-rf", str(out)], check=True)
            its = [r["it_s"] for r in rows[1:]]  # the first row holds warm-up
            return len(its) / sum(1 / x for x in its)  # harmonic mean: total steps / total time

        def best_rate(fn) -> float:
            return max(fn() for _ in range(a.repeats))

        alone_its = best_rate(lambda: train())
        rows.append((f"train: cyclegan {a.train_size}px, steady state alone", "", f"{alone_its:.2f} it/s"))
        for k in (1, 2):
            its = best_rate(lambda: train(busy=k))
            fair = (cores + k) / cores
            slow = alone_its / its
            rows.append((f"train beside {k} busy loop{'s' if k > 1 else ''}", "", f"{its:.2f} it/s, slowdown {slow:.2f}x vs fair {fair:.2f}x: {slow / fair:.2f}x fair (target <= 1.25)"))

    src = f"PYTHONPATH={a.src} " if a.src else ""
    lines = [
        f"{platform.processor() or platform.machine()}, {cores} usable cores, Python {platform.python_version()}; "
        f"{a.images} images {a.size}x{a.size}, model {a.model}; best of {a.repeats}.",
        f"Command: `{src}python benchmarks/contention_bench.py --label {a.label} --images {a.images} --size {a.size} --steps {a.steps} --train-size {a.train_size} --repeats {a.repeats}`",
        "",
        "| case | wall | result |",
        "|---|---|---|",
        *[f"| {c} | {w} | {r} |" for c, w, r in rows],
    ]
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        write_section(HERE / "RESULTS.md", f"Contention ({a.label})", body)


if __name__ == "__main__":
    main()
