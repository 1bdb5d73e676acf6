"""`gantrans sample`: images from a latent model's prior (VAE-GAN, BiGAN, InfoGAN), code walks, interpolations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    EXIT_OK,
    DeviceOpt,
    JsonOpt,
    ModelOpt,
    OverwriteOpt,
    PrecisionOpt,
    QuietOpt,
    ThreadsOpt,
    fail,
    handle_errors,
    use_threads,
)

Opt = typer.Option


def sample(
    output: Annotated[str, Opt("--output", "-o", help="Output folder.")],
    model: ModelOpt = None,
    n: Annotated[int, Opt("--num", "-n", min=1, help="How many images (seeds SEED .. SEED+N-1).")] = 8,
    seed: Annotated[int, Opt("--seed", help="First seed; each image's code comes from its own seed (drawn on the CPU: the same on any device).")] = 0,
    vary: Annotated[Optional[str], Opt("--vary", help="Walk one code for each seed: an InfoGAN code c1, c2, ... or a latent dimension zN.", show_default=False)] = None,
    value_range: Annotated[str, Opt("--range", help="--vary: from:to for a continuous code or dimension.")] = "-2:2",
    steps: Annotated[int, Opt("--steps", min=2, help="--vary / --interpolate: images per walk.")] = 9,
    interpolate: Annotated[Optional[str], Opt("--interpolate", help="A,B: walk linearly from the code of seed A to that of seed B, or between two images' codes (IMAGE_A,IMAGE_B; models with an encoder).", show_default=False)] = None,
    grid: Annotated[bool, Opt("--grid", help="Also write each walk (or all samples) as one strip.")] = False,
    ext: Annotated[str, Opt("--ext", help="png | jpg | webp.")] = "png",
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Draw images from a latent model (VAE-GAN, BiGAN, InfoGAN): seeded samples, walks of one code, interpolations.

    Examples:\n
      gantrans sample -m glyphs_infogan -o out -n 16 --seed 0\n
      gantrans sample -m glyphs_infogan -o out --vary c2 --range -2:2 --steps 9 --grid\n
      gantrans sample -m run/ -o out --interpolate 3,7 --steps 8 --grid
    """
    with handle_errors():
        use_threads(threads)
        if ext not in ("png", "jpg", "jpeg", "webp"):
            fail("--ext must be png, jpg or webp")
        if vary and interpolate:
            fail("--vary and --interpolate exclude each other")
        try:
            lo, hi = (float(v) for v in value_range.split(":"))
        except ValueError:
            fail(f"--range {value_range!r}: expected FROM:TO, e.g. -2:2")
        pair: tuple[str, str] | None = None
        if interpolate:
            parts = interpolate.split(",")
            if len(parts) != 2 or not all(parts):
                fail(f"--interpolate {interpolate!r}: expected two seeds A,B or two images A.png,B.png")
            pair = (parts[0], parts[1])
        from gantrans.engine.latent import load_latent, sample_jobs, write_samples
        from gantrans.io.images import show_path

        m = load_latent(model, device, precision)
        if not quiet:
            codes = ", ".join(f"{c.name} ({c.kind}{':' + str(c.size) if c.kind == 'cat' else ''})" for c in m.codes)
            print(f"gantrans: {m.checkpoint.provenance['latent'].get('recipe', 'latent')} model, {m.size}x{m.size}, prior {m.prior}"
                  + (f", codes {codes}" if codes else "") + f"; {m.describe()}", file=sys.stderr)  # fmt: skip
            if vary and m.code(vary).kind == "cat":
                print(f"note: {vary} is categorical: one image per category (0..{m.code(vary).size - 1}); --range and --steps do not apply", file=sys.stderr)
        out = Path(output)
        failed = 0

        def report(path: Path, error: str | None) -> None:
            nonlocal failed
            if error:
                failed += 1
                print(f"{show_path(path)}: {error}", file=sys.stderr)
            else:
                print(json.dumps({"output": str(path), "status": "ok"}) if json_out else str(path))

        write_samples(m, sample_jobs(m, n, seed, vary, lo, hi, steps, pair), out, seed, n, grid, ext, overwrite, report)
        if failed:
            raise typer.Exit(1)
        raise typer.Exit(EXIT_OK)
